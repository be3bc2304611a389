import type { QueenInfo } from '../client/proto-to-domain.js';
import { printable } from './engine-format.js';
import { age, table } from './format.js';

/**
 * The queens serving the fleet, one row each: id, where agents and operators reach it, its HTTP listener (`-`
 * without one), how long ago it started, its online hives, and `(this one)` on the queen that answered. Pure: the
 * current time is passed in.
 */
export function queensTable(queens: readonly QueenInfo[], nowMs: number): string {
  if (queens.length === 0) return 'no queens\n';
  return table(
    ['QUEEN', 'ADDRESS', 'HTTP', 'STARTED', 'HIVES', ''],
    queens.map((q) => [
      // Another queen's words in a federation: kept on one line, like a hive's.
      printable(q.queenId),
      printable(q.address),
      q.httpAddress === '' ? '-' : printable(q.httpAddress),
      age(q.startedAtMs, nowMs),
      String(q.hives),
      q.self ? '(this one)' : '',
    ]),
  );
}
