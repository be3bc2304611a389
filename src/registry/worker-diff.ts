import type { Worker } from '../common/worker.js';
import type { PendingEvent } from './event-log.js';
import { compareIds } from './ids.js';

/**
 * How a worker changed between two snapshots of its hive: undefined when not at all; else `{ loadDelta }` when only
 * its load changed, `{}` for any other change.
 *
 * Load is `cpuPercent`, `gpuPercent` and `lastHeartbeat`. A hive bumps a worker's `lastHeartbeat` whenever it
 * reports its load, so a timestamp that moves along with (or without) a small load change is still only load.
 * A percentage that appears or disappears is not a load change: "unknown" and a number are not comparable.
 * `loadDelta` is the larger absolute change of the two percentages, in points (0 when only `lastHeartbeat` moved).
 *
 * Every field is compared, those added to `Worker` later included (they count as non-load changes), so a worker
 * sent again with any difference makes an event.
 */
export function workerChange(before: Worker, after: Worker): { readonly loadDelta?: number } | undefined {
  let changed = false;
  const a = before as unknown as Readonly<Record<string, unknown>>;
  const b = after as unknown as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(a)) {
    if (sameData(a[key], b[key])) continue;
    if (!isLoadChange(key, a[key], b[key])) return OTHER_CHANGE;
    changed = true;
  }
  for (const key of Object.keys(b)) {
    if (key in a || b[key] === undefined) continue; // compared above, or absent on both sides
    if (!isLoadChange(key, undefined, b[key])) return OTHER_CHANGE;
    changed = true;
  }
  if (!changed) return undefined;
  const cpu = percentDelta(before.cpuPercent, after.cpuPercent);
  return { loadDelta: Math.max(cpu, percentDelta(before.gpuPercent, after.gpuPercent)) };
}

/**
 * Appends to `out` one event per worker that differs between a hive's `previous` and `next` snapshots (both sorted
 * by worker id), in worker-id order: `worker_upserted` for an added or changed worker, `worker_removed` for one
 * that left. O(previous + next).
 */
export function workerEvents(
  hiveId: string,
  previous: readonly Worker[],
  next: readonly Worker[],
  out: PendingEvent[],
): void {
  let i = 0;
  let j = 0;
  while (i < previous.length || j < next.length) {
    const gone = previous[i];
    const kept = next[j];
    const order = gone === undefined ? 1 : kept === undefined ? -1 : compareIds(gone.workerId, kept.workerId);
    if (order < 0) {
      out.push({ type: 'worker_removed', hiveId, hiveOnline: true, workerId: (gone as Worker).workerId });
      i++;
      continue;
    }
    const worker = kept as Worker;
    j++;
    if (order > 0) {
      out.push({ type: 'worker_upserted', hiveId, hiveOnline: true, worker });
      continue;
    }
    i++;
    const change = workerChange(gone as Worker, worker);
    if (change === undefined) continue;
    out.push(
      change.loadDelta === undefined
        ? { type: 'worker_upserted', hiveId, hiveOnline: true, worker }
        : { type: 'worker_upserted', hiveId, hiveOnline: true, worker, loadDelta: change.loadDelta },
    );
  }
}

const OTHER_CHANGE: { readonly loadDelta?: number } = Object.freeze({});

function isLoadChange(key: string, before: unknown, after: unknown): boolean {
  if (key === 'lastHeartbeat') return true;
  if (key === 'cpuPercent' || key === 'gpuPercent') return before !== undefined && after !== undefined;
  return false;
}

function percentDelta(before: number | undefined, after: number | undefined): number {
  return before === undefined || after === undefined ? 0 : Math.abs(after - before);
}

/**
 * Equality of plain data (what a Worker is made of: strings, numbers, booleans, plain objects such as WallTime,
 * arrays). A key whose value is undefined counts as absent.
 */
function sameData(a: unknown, b: unknown): boolean {
  // NaN equals itself here: a value sent again unchanged must make no event.
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => sameData(item, b[index]));
  }
  const x = a as Readonly<Record<string, unknown>>;
  const y = b as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(x)) if (!sameData(x[key], y[key])) return false;
  for (const key of Object.keys(y)) if (!sameData(x[key], y[key])) return false;
  return true;
}
