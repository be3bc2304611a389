import { slotsOf, type Worker, type WorkerEntry } from '../common/worker.js';
import type { Reservation } from './reservations.js';

/** GPU load assumed for a worker that does not report one: such a worker is picked last. */
export const ABSENT_GPU_PERCENT = 100;

/** Label equality filter on hives (from the catalog); every entry must match. */
export type Selector = Readonly<Record<string, string>>;

/** What one FindBestWorkerForModel asks. */
export interface PickRequest {
  readonly modelId: string;
  /** Hold a slot of the pick (the index does); among exact ties a reserving pick rotates. */
  readonly reserve?: boolean;
  /** How long the reservation lives, in ms (with `reserve`). */
  readonly reservationTtlMs?: number;
  /** A worker without the model is picked only when its device has this much free VRAM; 0 or absent: any. */
  readonly minVramBytes?: number;
  /** Only hives whose labels include every entry; empty or absent: every hive. */
  readonly selector?: Selector;
  /**
   * Only a worker with the model loaded, never the fallback (the gateway forwards a request as it is: loading a
   * model is the hive's job). Without one: no_capacity or unavailable, as for any pick that finds nothing.
   */
  readonly loadedOnly?: boolean;
}

/** The outcome of scheduling one request for a model. */
export type Pick =
  /** `modelLoaded` is false when no idle worker had the model and the fallback was taken. */
  | {
      readonly kind: 'picked';
      readonly entry: WorkerEntry;
      readonly modelLoaded: boolean;
      /** Set for a reserving pick. */
      readonly reservation?: Reservation;
    }
  /** Eligible workers exist but none can take it now: `busy` are busy, loading, fully reserved or excluded. */
  | { readonly kind: 'no_capacity'; readonly eligible: number; readonly busy: number }
  /** No eligible worker at all (none on an online hive with usable health, or none busy, loading or idle). */
  | { readonly kind: 'unavailable'; readonly eligible: number }
  /** Idle workers without the model exist, but none has `askedBytes` free on its device; the most is `mostFreeBytes`. */
  | { readonly kind: 'no_vram_fit'; readonly askedBytes: number; readonly mostFreeBytes: number }
  /** The selector matches no online hive. */
  | { readonly kind: 'no_selector_match' };

/** One worker with what scheduling knows of it beyond its hive's report. */
export interface ScheduledWorker extends WorkerEntry {
  /** Slots held by live reservations. */
  readonly reserved: number;
  /** Excluded after a failure, now. */
  readonly excluded: boolean;
  /** Its hive is cordoned. */
  readonly cordoned: boolean;
  /** Its hive's catalog labels. */
  readonly labels: Selector;
  /** Free VRAM on its device, in bytes; undefined when it reports no device or its hive no such device. */
  readonly freeVramBytes?: number;
  /** When it was last given a reservation (a sequence number; 0 never): the rotation order among ties. */
  readonly lastPicked: number;
}

/** How one worker counts for a request (hive online, selector matched, hive not cordoned). */
export type Standing = 'candidate' | 'busy' | 'eligible' | 'none';

/** KV cache use assumed for a worker that does not report one. */
export const ABSENT_KV_CACHE_USAGE = 0;

/**
 * Slots a worker has in use: its live reservations at this queen or the requests its engine says it runs,
 * whichever is more (the gateway's own requests are counted by both, so they are never added up).
 */
export function slotsInUse(worker: Worker, reserved: number): number {
  const running = worker.requestsRunning ?? 0;
  return reserved > running ? reserved : running;
}

/**
 * Routing v3's load of a worker: (slots in use + requests waiting in its engine) / max_concurrency. A worker that
 * reports no counts has only its reservations: with equal max_concurrency that orders as fewest reserved slots.
 */
export function loadOf(worker: Worker, reserved: number): number {
  return (slotsInUse(worker, reserved) + (worker.requestsWaiting ?? 0)) / slotsOf(worker);
}

/**
 * A worker's standing on its (online, selected) hive: `none` when it may not be scheduled at all (DEGRADED, or a
 * cordoned hive); `candidate` when IDLE with a free slot (slots in use below max_concurrency) and not excluded;
 * `busy` when its capacity should come back (BUSY, LOADING, or IDLE but full or excluded); `eligible` otherwise
 * (ERROR, STOPPING, ...).
 */
export function standingOf(worker: Worker, reserved: number, excluded: boolean, cordoned: boolean): Standing {
  if (cordoned || worker.health === 'degraded') return 'none';
  if (worker.state === 'busy' || worker.state === 'loading') return 'busy';
  if (worker.state !== 'idle') return 'eligible';
  return slotsInUse(worker, reserved) >= slotsOf(worker) || excluded ? 'busy' : 'candidate';
}

/** A worker as the scheduling order sees it. */
export interface Ranked {
  readonly hiveId: string;
  readonly worker: Worker;
  readonly reserved: number;
  readonly lastPicked: number;
}

function compareIds(a: Ranked, b: Ranked): number {
  if (a.hiveId !== b.hiveId) return a.hiveId < b.hiveId ? -1 : 1;
  if (a.worker.workerId !== b.worker.workerId) return a.worker.workerId < b.worker.workerId ? -1 : 1;
  return 0;
}

/** Lower first; equal numbers tie. */
function lower(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function compareLoad(a: Ranked, b: Ranked): number {
  return (
    lower(loadOf(a.worker, a.reserved), loadOf(b.worker, b.reserved)) ||
    lower(a.worker.kvCacheUsage ?? ABSENT_KV_CACHE_USAGE, b.worker.kvCacheUsage ?? ABSENT_KV_CACHE_USAGE) ||
    lower(a.worker.gpuPercent ?? ABSENT_GPU_PERCENT, b.worker.gpuPercent ?? ABSENT_GPU_PERCENT)
  );
}

/**
 * The order of plain picks (routing v3's load order): lowest load (loadOf), then lowest KV cache use (absent = 0),
 * then lowest GPU load (absent = 100), then hive id, worker id.
 */
export function comparePlain(a: Ranked, b: Ranked): number {
  return compareLoad(a, b) || compareIds(a, b);
}

/** The order of reserving picks: as plain, but exact ties go to the least recently reserved first (rotation). */
export function compareSpread(a: Ranked, b: Ranked): number {
  return compareLoad(a, b) || a.lastPicked - b.lastPicked || compareIds(a, b);
}

/** Whether `labels` include every entry of `selector`. */
export function matchesSelector(labels: Selector, selector: Selector): boolean {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

/**
 * The scheduling policy stated over a flat list of workers, O(workers): the reference the SchedulingIndex is
 * tested against (the server answers from the index). Ranks only; it holds nothing.
 *
 * Considered: workers of online hives that the selector matches. Of those, eligible: not DEGRADED, hive not
 * cordoned. Candidates: eligible IDLE workers with a free slot, not excluded. A candidate with the model loaded
 * wins (the load order: lowest load, KV cache use, GPU load; exact ties by hive id and worker id, or least
 * recently reserved first for a reserving pick). Else the best candidate whose device fits `minVramBytes` (modelLoaded =
 * false). Else: no candidate fits (no_vram_fit), some capacity should come back (no_capacity), or none
 * (unavailable; no_selector_match when the selector matched no online hive).
 */
export function pickWorker(workers: Iterable<ScheduledWorker>, request: PickRequest): Pick {
  const compare = request.reserve === true ? compareSpread : comparePlain;
  const selector = request.selector ?? {};
  const minVram = request.minVramBytes ?? 0;
  let withModel: ScheduledWorker | undefined;
  let fallback: ScheduledWorker | undefined;
  let anyFallback = false;
  let mostFree = 0;
  let matchedHive = false;
  let eligible = 0;
  let busy = 0;
  for (const entry of workers) {
    if (!entry.hiveOnline || !matchesSelector(entry.labels, selector)) continue;
    matchedHive = true;
    const standing = standingOf(entry.worker, entry.reserved, entry.excluded, entry.cordoned);
    if (standing === 'none') continue;
    eligible++;
    if (standing === 'busy') busy++;
    if (standing !== 'candidate') continue;
    if (entry.worker.modelId === request.modelId && (withModel === undefined || compare(entry, withModel) < 0)) {
      withModel = entry;
    }
    anyFallback = true;
    if (minVram > 0 && !((entry.freeVramBytes ?? 0) >= minVram)) {
      mostFree = Math.max(mostFree, entry.freeVramBytes ?? 0);
      continue;
    }
    if (fallback === undefined || compare(entry, fallback) < 0) fallback = entry;
  }
  if (withModel !== undefined) return { kind: 'picked', entry: asEntry(withModel), modelLoaded: true };
  if (request.loadedOnly !== true) {
    if (fallback !== undefined) return { kind: 'picked', entry: asEntry(fallback), modelLoaded: false };
    if (anyFallback) return { kind: 'no_vram_fit', askedBytes: minVram, mostFreeBytes: mostFree };
  }
  if (Object.keys(selector).length > 0 && !matchedHive) return { kind: 'no_selector_match' };
  if (busy > 0) return { kind: 'no_capacity', eligible, busy };
  return { kind: 'unavailable', eligible };
}

function asEntry(worker: ScheduledWorker): WorkerEntry {
  return { hiveId: worker.hiveId, worker: worker.worker, hiveOnline: true };
}
