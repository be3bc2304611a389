import type { Worker } from '../common/worker.js';
import type { PendingEvent } from './event-log.js';
import { compareIds } from './ids.js';

/**
 * How a worker changed between two snapshots of its hive: undefined when not at all; else `{ loadDelta }` when only
 * its load changed, `{}` for any other change.
 *
 * Load is `cpuPercent`, `gpuPercent` and `lastHeartbeat`: what a Watch `load_change_threshold` may hold back. A
 * hive bumps a worker's `lastHeartbeat` whenever it reports its load, so a timestamp that moves along with (or
 * without) a small load change is still only load. A percentage that appears or disappears is not a load change:
 * "unknown" and a number are not comparable. `loadDelta` is the larger absolute change of the two percentages, in
 * points (0 when only `lastHeartbeat` moved). The engine's own figures (`requestsRunning`, `requestsWaiting`,
 * `kvCacheUsage`) are not load in this sense: the contract's filter is about cpu and gpu percent only, so a change
 * of any of them is an event for every watcher.
 *
 * Every field is compared (COMPARED lists them; a field added to `Worker` must be listed there to compile), so a
 * worker sent again with any difference makes an event.
 */
export function workerChange(before: Worker, after: Worker): { readonly loadDelta?: number } | undefined {
  // A worker sent again unchanged is the same object (the heartbeat conversion reuses it).
  if (before === after) return undefined;
  // Written out field by field: this runs for every worker of every full snapshot, and static property reads are
  // several times faster than a loop over keys. COMPARED below makes a new Worker field a compile error until it is
  // added here.
  if (
    before.workerId !== after.workerId ||
    before.state !== after.state ||
    before.url !== after.url ||
    before.modelId !== after.modelId ||
    before.backend !== after.backend ||
    before.health !== after.health ||
    !sameNumber(before.deviceId, after.deviceId) ||
    !sameNumber(before.vramBytes, after.vramBytes) ||
    !sameNumber(before.ramBytes, after.ramBytes) ||
    before.maxConcurrency !== after.maxConcurrency ||
    // Engine figures are not load (see above): a change of any of them always makes an event.
    !sameNumber(before.requestsRunning, after.requestsRunning) ||
    !sameNumber(before.requestsWaiting, after.requestsWaiting) ||
    !sameNumber(before.kvCacheUsage, after.kvCacheUsage) ||
    before.engine !== after.engine ||
    before.engineVersion !== after.engineVersion ||
    !sameNumber(before.contextLength, after.contextLength) ||
    before.statusMessage !== after.statusMessage ||
    // A percentage that appears or disappears is a real change; between two numbers it is load.
    (before.cpuPercent === undefined) !== (after.cpuPercent === undefined) ||
    (before.gpuPercent === undefined) !== (after.gpuPercent === undefined)
  ) {
    return OTHER_CHANGE;
  }
  const load =
    !sameNumber(before.cpuPercent, after.cpuPercent) ||
    !sameNumber(before.gpuPercent, after.gpuPercent) ||
    !sameTime(before.lastHeartbeat, after.lastHeartbeat);
  if (!load) return undefined;
  const cpu = percentDelta(before.cpuPercent, after.cpuPercent);
  return { loadDelta: Math.max(cpu, percentDelta(before.gpuPercent, after.gpuPercent)) };
}

/** Every field of Worker, as workerChange compares it: a field added to Worker does not compile until listed. */
const COMPARED: Readonly<Record<keyof Worker, 'value' | 'load'>> = {
  workerId: 'value',
  state: 'value',
  url: 'value',
  modelId: 'value',
  backend: 'value',
  deviceId: 'value',
  vramBytes: 'value',
  ramBytes: 'value',
  cpuPercent: 'load',
  gpuPercent: 'load',
  health: 'value',
  lastHeartbeat: 'load',
  maxConcurrency: 'value',
  requestsRunning: 'value',
  requestsWaiting: 'value',
  kvCacheUsage: 'value',
  engine: 'value',
  engineVersion: 'value',
  contextLength: 'value',
  statusMessage: 'value',
};
void COMPARED;

/** Equal numbers, both absent, or both NaN (a value sent again unchanged must make no event). */
function sameNumber(a: number | undefined, b: number | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && Number.isNaN(a) && Number.isNaN(b));
}

function sameTime(a: Worker['lastHeartbeat'], b: Worker['lastHeartbeat']): boolean {
  return a === b || (a !== undefined && b !== undefined && a.seconds === b.seconds && a.nanos === b.nanos);
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

function percentDelta(before: number | undefined, after: number | undefined): number {
  return before === undefined || after === undefined ? 0 : Math.abs(after - before);
}
