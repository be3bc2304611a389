import { quote } from '../registry/ids.js';

/**
 * Rules for the catalog's operator-written fields: hive labels (and the selectors that match them) and the
 * description. Each check returns an error message naming the field and the limit, or undefined when the value is
 * fine; the adapter turns a message into INVALID_ARGUMENT.
 */

/** Most labels one hive may carry (and most entries one selector may have). */
export const MAX_LABELS = 64;
/** Longest label key and label value, in characters. */
export const MAX_LABEL_KEY_LENGTH = 63;
export const MAX_LABEL_VALUE_LENGTH = 63;
/** Longest description, in characters. */
export const MAX_DESCRIPTION_LENGTH = 1024;

const KEY_PATTERN = /^[A-Za-z0-9._/-]+$/;
const VALUE_PATTERN = /^[A-Za-z0-9._-]*$/;
// Control characters make a description unreadable in a terminal table and can forge log lines.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** Labels: a map of key to value. Plain data, never mutated once built. */
export type Labels = Readonly<Record<string, string>>;

/**
 * Labels (or a selector, which follows the same rules): at most 64 entries; keys 1-63 characters of
 * [A-Za-z0-9._/-]; values 0-63 characters of [A-Za-z0-9._-]. Keys are checked in sorted order, so the first
 * problem reported does not depend on map order.
 */
export function checkLabels(field: string, labels: Labels): string | undefined {
  const keys = Object.keys(labels).sort();
  if (keys.length > MAX_LABELS) return `${field}: at most ${MAX_LABELS} entries, got ${keys.length}`;
  for (const key of keys) {
    if (key.length === 0) return `${field}: keys must not be empty`;
    if (key.length > MAX_LABEL_KEY_LENGTH) {
      return `${field}: key ${quote(key)} must be at most ${MAX_LABEL_KEY_LENGTH} characters, got ${key.length}`;
    }
    if (!KEY_PATTERN.test(key)) {
      return `${field}: key ${quote(key)} must contain only the characters [A-Za-z0-9._/-]`;
    }
    const value = labels[key] ?? '';
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      return `${field}[${quote(key)}]: value must be at most ${MAX_LABEL_VALUE_LENGTH} characters, got ${value.length}`;
    }
    if (!VALUE_PATTERN.test(value)) {
      return `${field}[${quote(key)}]: value must contain only the characters [A-Za-z0-9._-], got ${quote(value)}`;
    }
  }
  return undefined;
}

/** A description: at most 1024 characters (code points), no control characters (C0, DEL, C1) but tab and newline. */
export function checkDescription(field: string, description: string): string | undefined {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    const length = [...description].length;
    if (length > MAX_DESCRIPTION_LENGTH) {
      return `${field}: must be at most ${MAX_DESCRIPTION_LENGTH} characters, got ${length}`;
    }
  }
  if (CONTROL.test(description)) return `${field}: must not contain control characters (tab and newline are fine)`;
  return undefined;
}

/** Whether `labels` has every key of `selector` with the same value (an empty selector matches everything). */
export function matchesSelector(labels: Labels, selector: Labels): boolean {
  for (const key in selector) {
    if (!Object.prototype.hasOwnProperty.call(labels, key) || labels[key] !== selector[key]) return false;
  }
  return true;
}

/**
 * A copy with keys in sorted order (stable JSON on disk and on the wire), frozen. Built with Object.fromEntries so
 * that every key, `__proto__` included, becomes an own property instead of touching the prototype.
 */
export function normalizeLabels(labels: Labels): Labels {
  return Object.freeze(Object.fromEntries(Object.keys(labels).sort().map((key) => [key, labels[key] ?? ''])));
}
