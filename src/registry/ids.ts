/**
 * Identifier rules of the hive.v1 contract. Each check returns an error message naming the field and the limit,
 * or undefined when the value is fine, so adapters can collect or throw as they need.
 */

/** Longest hive or worker id, in characters. */
export const MAX_ID_LENGTH = 128;
/** Longest model id, in characters. */
export const MAX_MODEL_ID_LENGTH = 256;

const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;
const WHITESPACE = /\s/;

/** Orders ids by UTF-16 code units (the order of `<`): the order of every sorted id list. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Shows a client's value in an error message without letting a huge value flood it. */
export function quote(value: string, max = 64): string {
  if (value.length <= max) return JSON.stringify(value);
  // Cut on a code point boundary (never half of a surrogate pair).
  return JSON.stringify(`${Array.from(value.slice(0, max + 1)).slice(0, max).join('')}...`);
}

/** Length in Unicode code points (what a person counts as characters), not UTF-16 units. */
export function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/** A hive or worker id: 1-128 characters of [A-Za-z0-9._:-]. */
export function checkId(field: string, value: string): string | undefined {
  if (value.length === 0) return `${field}: must not be empty`;
  if (value.length > MAX_ID_LENGTH) {
    return `${field}: must be at most ${MAX_ID_LENGTH} characters, got ${value.length}`;
  }
  if (!ID_PATTERN.test(value)) {
    return `${field}: must contain only the characters [A-Za-z0-9._:-], got ${quote(value)}`;
  }
  return undefined;
}

/** A model id: 1-256 characters, no whitespace ("org/model" is fine). */
export function checkModelId(field: string, value: string): string | undefined {
  if (value.length === 0) return `${field}: must not be empty`;
  // value.length counts UTF-16 units: only a string longer than the limit in units can be too long.
  if (value.length > MAX_MODEL_ID_LENGTH) {
    const length = codePoints(value);
    if (length > MAX_MODEL_ID_LENGTH) {
      return `${field}: must be at most ${MAX_MODEL_ID_LENGTH} characters, got ${length}`;
    }
  }
  if (WHITESPACE.test(value)) return `${field}: must not contain whitespace, got ${quote(value)}`;
  return undefined;
}
