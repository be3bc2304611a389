import { checkLabels, type Labels } from '../catalog/labels.js';
import type { Backend } from '../common/worker.js';
import { UsageError } from './command-run.js';

/** Parsing of operator command arguments the flags library leaves as strings: labels, byte sizes, backends. */

const BACKENDS: readonly Backend[] = ['cpu', 'cuda', 'metal', 'rocm'];

/** Parses `k=v` pairs (from repeated flags and/or comma-separated lists) into labels, checked like the queen does. */
export function parseLabels(flag: string, pairs: readonly string[]): Labels {
  const labels: Record<string, string> = {};
  for (const item of pairs.flatMap((p) => p.split(',')).filter((p) => p !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag}: expected KEY=VALUE, got ${JSON.stringify(item)}`);
    const key = item.slice(0, eq);
    if (Object.prototype.hasOwnProperty.call(labels, key)) {
      throw new UsageError(`${flag}: key ${JSON.stringify(key)} given twice`);
    }
    Object.defineProperty(labels, key, { value: item.slice(eq + 1), enumerable: true, writable: true });
  }
  const problem = checkLabels(flag, labels);
  if (problem !== undefined) throw new UsageError(problem);
  return labels;
}

const BYTE_SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i;
const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parses a byte count: a whole number (`21474836480`), or a number with a unit, decimal (`80GB`, `1.5TB`) or
 * binary (`20GiB`, `512MiB`), case-insensitive, rounded to whole bytes. UsageError naming `flag` otherwise, or
 * past 2^53 - 1 bytes (where numbers stop being exact).
 */
export function parseByteSize(flag: string, text: string): number {
  const match = BYTE_SIZE.exec(text.trim());
  let bytes = Number.NaN;
  if (match !== null) {
    const [, amount = '', unit = 'b'] = match;
    const scale = UNIT_BYTES[unit.toLowerCase()] ?? Number.NaN;
    // A fraction of a byte is a typo, not a size; a fraction of a larger unit is rounded to whole bytes.
    if (scale > 1 || !amount.includes('.')) bytes = Math.round(Number(amount) * scale);
  }
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `${flag}: must be a number of bytes such as 21474836480, 20GiB, 512MiB or 80GB (at most ${Number.MAX_SAFE_INTEGER}), got ${JSON.stringify(text)}`,
    );
  }
  return bytes;
}

export function parseBackend(value: string): Backend {
  const backend = value.toLowerCase() as Backend;
  if (!BACKENDS.includes(backend)) {
    throw new UsageError(`--backend: must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return backend;
}
