import type { Worker, WorkerEntry } from '../common/worker.js';

/** GPU load assumed for a worker that does not report one: such a worker is picked last. */
export const ABSENT_GPU_PERCENT = 100;

/** The outcome of scheduling one request for a model. */
export type Pick =
  /** `modelLoaded` is false when no idle worker had the model and the least loaded idle worker was taken. */
  | { readonly kind: 'picked'; readonly entry: WorkerEntry; readonly modelLoaded: boolean }
  /** Eligible workers exist but none is idle: `busy` are busy or loading, so capacity should come back. */
  | { readonly kind: 'no_capacity'; readonly eligible: number; readonly busy: number }
  /** No eligible worker at all (none on an online hive with usable health, or none busy, loading or idle). */
  | { readonly kind: 'unavailable'; readonly eligible: number };

/**
 * Picks the worker that should serve `modelId` now, from every worker the registry knows (in any order).
 *
 * This is the policy stated over a flat list, O(workers). The server answers from SchedulingIndex, its
 * incremental form (O(hives) at worst); tests hold the two to the same answers.
 *
 * Eligible: on an online hive and not DEGRADED. Among eligible IDLE workers with the model loaded, the lowest
 * gpuPercent wins (absent counts as 100); if none has the model, the IDLE worker with the lowest gpuPercent
 * (modelLoaded = false). Ties break on hive id, then worker id, so the answer never depends on input order.
 */
export function pickWorker(candidates: Iterable<WorkerEntry>, modelId: string): Pick {
  let withModel: WorkerEntry | undefined;
  let anyIdle: WorkerEntry | undefined;
  let eligible = 0;
  let busy = 0;
  for (const entry of candidates) {
    const { worker } = entry;
    if (!entry.hiveOnline || !isEligible(worker)) continue;
    eligible++;
    if (isBusy(worker)) busy++;
    if (worker.state !== 'idle') continue;
    if (worker.modelId === modelId && (withModel === undefined || isBetter(entry, withModel))) withModel = entry;
    if (anyIdle === undefined || isBetter(entry, anyIdle)) anyIdle = entry;
  }
  if (withModel !== undefined) return { kind: 'picked', entry: withModel, modelLoaded: true };
  if (anyIdle !== undefined) return { kind: 'picked', entry: anyIdle, modelLoaded: false };
  if (busy > 0) return { kind: 'no_capacity', eligible, busy };
  return { kind: 'unavailable', eligible };
}

function isBetter(a: WorkerEntry, b: WorkerEntry): boolean {
  return compareCandidates(a, b) < 0;
}

/** A worker offered for scheduling by its hive. */
export interface Candidate {
  readonly hiveId: string;
  readonly worker: Worker;
}

/** The scheduling order: lower GPU load first (absent counts as 100), then lower hive id, then lower worker id. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  const loadA = a.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
  const loadB = b.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
  if (loadA !== loadB) return loadA < loadB ? -1 : 1;
  if (a.hiveId !== b.hiveId) return a.hiveId < b.hiveId ? -1 : 1;
  if (a.worker.workerId !== b.worker.workerId) return a.worker.workerId < b.worker.workerId ? -1 : 1;
  return 0;
}

/** Whether a worker on an online hive may be scheduled at all: every health but DEGRADED. */
export function isEligible(worker: Worker): boolean {
  return worker.health !== 'degraded';
}

/** Whether an eligible worker's capacity should come back soon (it counts towards RESOURCE_EXHAUSTED). */
export function isBusy(worker: Worker): boolean {
  return worker.state === 'busy' || worker.state === 'loading';
}
