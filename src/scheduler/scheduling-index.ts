import { CompactMultimap } from '../common/compact-multimap.js';
import type { Device, Worker } from '../common/worker.js';
import { Exclusions, type FailureRecord } from './exclusions.js';
import { CandidateHeaps, type HeapPlaces } from './candidate-heaps.js';
import { HivePolicies, type HivePolicy } from './hive-policies.js';
import {
  ABSENT_GPU_PERCENT,
  ABSENT_KV_CACHE_USAGE,
  loadOf,
  pickWorker,
  standingOf,
  type Pick,
  type PickRequest,
  type ScheduledWorker,
  type Standing,
} from './pick-worker.js';
import { Reservations, slotKey, type Reservation } from './reservations.js';

export type { HivePolicy } from './hive-policies.js';

/**
 * A selector matching at most this many online hives is answered by looking at those hives' workers only; a wider
 * one walks the ranked heaps, passing over workers of other hives. Either way no pick looks at the whole fleet.
 */
const SELECTOR_SCAN_HIVES = 64;

/** One worker as the index holds it: mutable, repositioned in its heaps whenever what ranks it changes. */
interface Slot extends HeapPlaces {
  readonly hiveId: string;
  /** `hiveId \0 workerId`: sorts as (hive id, worker id), since \0 is below every id character. */
  readonly key: string;
  worker: Worker;
  reserved: number;
  /**
   * What ranks it, copied here so comparisons read one object: its load (loadOf), KV cache use (absent: 0) and GPU
   * load (absent: 100).
   */
  load: number;
  kv: number;
  gpu: number;
  lastPicked: number;
  standing: Standing;
}

/**
 * The plain and rotating orders of pickWorker (comparePlain, compareSpread) on slots: the same order, read from
 * the slot's own fields (heaps compare often, and at 100,000 workers every pointer followed is a cache miss).
 */
function compareKeys(a: Slot, b: Slot): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
function compareRank(a: Slot, b: Slot): number {
  if (a.load !== b.load) return a.load < b.load ? -1 : 1;
  if (a.kv !== b.kv) return a.kv < b.kv ? -1 : 1;
  return a.gpu === b.gpu ? 0 : a.gpu < b.gpu ? -1 : 1;
}
const SLOT_ORDERS = {
  plain: (a: Slot, b: Slot): number => compareRank(a, b) || compareKeys(a, b),
  spread: (a: Slot, b: Slot): number => compareRank(a, b) || a.lastPicked - b.lastPicked || compareKeys(a, b),
};

/** A hive in the registry, as scheduling needs it. */
interface HiveEntry {
  readonly slots: Map<string, Slot>;
  /** Free VRAM per device id: the device's total minus its workers' VRAM, floored at 0. */
  freeVram: Map<number, number>;
  eligible: number;
  busy: number;
}

/** Free VRAM per device of a snapshot. */
function freeVramOf(workers: readonly Worker[], devices: readonly Device[]): Map<number, number> {
  const used = new Map<number, number>();
  for (const worker of workers) {
    if (worker.deviceId !== undefined && worker.vramBytes !== undefined) {
      used.set(worker.deviceId, (used.get(worker.deviceId) ?? 0) + worker.vramBytes);
    }
  }
  const free = new Map<number, number>();
  for (const device of devices) free.set(device.deviceId, Math.max(0, device.vramTotalBytes - (used.get(device.deviceId) ?? 0)));
  return free;
}

/** See SchedulingIndex.standingFor. */
export interface WorkerLoad {
  /** Routing v3's load (loadOf): slots in use plus requests waiting, over max_concurrency. */
  readonly load: number;
  /** It could take a request now. */
  readonly free: boolean;
}

/** See SchedulingIndex.holdOn. */
export interface WorkerHold {
  readonly reserved: number;
  readonly excludedUntil?: number;
  readonly cordoned: boolean;
}

/**
 * FindBestWorkerForModel's policy (see pickWorker) kept incrementally, with reservations, failure exclusions,
 * selectors and cordon. Every candidate worker (IDLE, not DEGRADED, a free slot, not excluded, hive not cordoned)
 * sits in four heaps: its model's and the fleet-wide one, each in the plain order and in the reserving (rotating)
 * order. A pick takes the first candidate on an online hive from the model's heap, else the fleet-wide one: a
 * reservation or its end moves one worker in its heaps (O(log n)); expiries of reservations and exclusions come
 * from their own heaps, handled when a call comes. Only when there is no candidate does a pick add up the online
 * hives' counts, to tell "busy" (retry) from "nothing there".
 *
 * Liveness is not stored here (it changes with time alone): each pick is given an `isOnline` check. Implements the
 * registry's SnapshotObserver; the catalog tells it labels and cordon through `setPolicy`. Time is the injected
 * monotonic clock (`now`).
 */
export class SchedulingIndex {
  private readonly hives = new Map<string, HiveEntry>();
  private readonly slotsByWorker = new CompactMultimap<string, Slot>();
  private readonly candidates = new CandidateHeaps<Slot>(SLOT_ORDERS);
  private readonly policies = new HivePolicies();
  private readonly reservations: Reservations;
  private readonly exclusions = new Exclusions();
  private pickSequence = 0;

  constructor(
    private readonly now: () => number = () => 0,
    newReservationId: () => string = counterIds(),
  ) {
    this.reservations = new Reservations(newReservationId);
  }

  /** Live reservations (those whose TTL ran out are ended first, as any call does). */
  get reservationCount(): number {
    this.advance(this.now());
    return this.reservations.size;
  }

  // ---- the registry's SnapshotObserver ------------------------------------------------------------------------

  /** A hive's new snapshot replaces what the index knew of it; workers that stay are moved, not rebuilt. */
  snapshotReplaced(hiveId: string, workers: readonly Worker[], devices: readonly Device[] = []): void {
    const now = this.now();
    let hive = this.hives.get(hiveId);
    if (hive === undefined) {
      hive = { slots: new Map(), freeVram: new Map(), eligible: 0, busy: 0 };
      this.hives.set(hiveId, hive);
    }
    hive.freeVram = freeVramOf(workers, devices);
    let kept = 0;
    for (const worker of workers) {
      let slot = hive.slots.get(worker.workerId);
      if (slot === undefined) {
        const key = slotKey(hiveId, worker.workerId);
        slot = {
          hiveId,
          key,
          worker,
          reserved: this.reservations.heldBy(key),
          load: 0,
          kv: 0,
          gpu: 0,
          lastPicked: 0,
          standing: 'none',
          modelPlainIndex: -1,
          modelSpreadIndex: -1,
          anyPlainIndex: -1,
          anySpreadIndex: -1,
        };
        hive.slots.set(worker.workerId, slot);
        this.slotsByWorker.add(worker.workerId, slot);
        this.placeAfresh(slot, hive, now);
        continue;
      }
      kept += 1;
      // The same object: the worker is as it was, and its standing changes only with reservations, exclusions and
      // policies, each of which places it anew when it changes (a HEALTHY one's ended exclusion is cleared all the same).
      if (slot.worker === worker) this.clearIfHealthy(worker, now);
      else {
        slot.worker = worker;
        this.placeAfresh(slot, hive, now);
      }
    }
    // Worker ids are unique in a snapshot: when every slot was kept, none is to drop.
    if (kept === hive.slots.size) return;
    const seen = new Set<string>();
    for (const worker of workers) seen.add(worker.workerId);
    for (const [workerId, slot] of hive.slots) if (!seen.has(workerId)) this.dropSlot(slot, hive);
  }

  /** A tick from a hive: its workers are as before, so a HEALTHY one whose exclusion is over starts afresh. */
  heartbeatAccepted(hiveId: string): void {
    if (this.exclusions.size === 0) return;
    const hive = this.hives.get(hiveId);
    if (hive === undefined) return;
    const now = this.now();
    for (const slot of hive.slots.values()) {
      if (slot.worker.health === 'healthy') this.clearEndedFailure(slot.worker.workerId, now);
    }
  }

  /** A hive left the registry. Its reservations live on until released or expired. Idempotent. */
  hiveRemoved(hiveId: string): void {
    const hive = this.hives.get(hiveId);
    if (hive === undefined) return;
    for (const slot of hive.slots.values()) this.dropSlot(slot, hive);
    this.hives.delete(hiveId);
  }

  // ---- the catalog's view -------------------------------------------------------------------------------------

  /** A catalog hive's labels and cordon (undefined: it left the catalog, so no labels and not cordoned). */
  setPolicy(hiveId: string, policy: HivePolicy | undefined): void {
    if (!this.policies.set(hiveId, policy)) return;
    const hive = this.hives.get(hiveId);
    const now = this.now();
    if (hive !== undefined) for (const slot of hive.slots.values()) this.place(slot, hive, now);
  }

  // ---- picks, reservations, failures --------------------------------------------------------------------------

  /** The same answer as pickWorker over every worker; a reserving pick also holds a slot of the worker. */
  pick(request: PickRequest, isOnline: (hiveId: string) => boolean): Pick {
    const now = this.now();
    this.advance(now);
    const selector = request.selector ?? {};
    let onHive: (hiveId: string) => boolean = isOnline;
    if (Object.keys(selector).length > 0) {
      const matching = this.policies.matching(selector).filter((hiveId) => isOnline(hiveId) && (this.hives.get(hiveId)?.slots.size ?? 0) > 0);
      if (matching.length === 0) return { kind: 'no_selector_match' };
      if (matching.length <= SELECTOR_SCAN_HIVES) return this.pickAmong(matching, request, now);
      const allowed = new Set(matching);
      onHive = (hiveId) => allowed.has(hiveId);
    }
    const mode = request.reserve === true ? 'spread' : 'plain';
    const accept = (slot: Slot): boolean => onHive(slot.hiveId);
    const withModel = this.candidates.first(request.modelId, mode, accept);
    if (withModel !== undefined) return this.picked(withModel, true, request, now);
    if (request.loadedOnly === true) return this.nothingFor(onHive);

    const minVram = request.minVramBytes ?? 0;
    let anyFallback = false;
    let mostFree = 0;
    const fallback = this.candidates.first(undefined, mode, (slot) => {
      if (!accept(slot)) return false;
      anyFallback = true;
      if (minVram <= 0) return true;
      const free = this.freeVram(slot) ?? 0;
      if (free >= minVram) return true;
      mostFree = Math.max(mostFree, free);
      return false;
    });
    if (fallback !== undefined) return this.picked(fallback, false, request, now);
    if (anyFallback) return { kind: 'no_vram_fit', askedBytes: minVram, mostFreeBytes: mostFree };
    return this.nothingFor(onHive);
  }

  /** No candidate on the hives `onHive` accepts: capacity that should come back (busy), or none at all. */
  private nothingFor(onHive: (hiveId: string) => boolean): Pick {
    let eligible = 0;
    let busy = 0;
    for (const [hiveId, hive] of this.hives) {
      if (!onHive(hiveId)) continue;
      eligible += hive.eligible;
      busy += hive.busy;
    }
    return busy > 0 ? { kind: 'no_capacity', eligible, busy } : { kind: 'unavailable', eligible };
  }

  /** Ends a live reservation; with `success`, the worker's failure record goes too. Undefined when unknown/expired. */
  release(reservationId: string, success: boolean): Reservation | undefined {
    const now = this.now();
    this.advance(now);
    const reservation = this.reservations.release(reservationId);
    if (reservation === undefined) return undefined;
    this.reservedChanged(reservation, now);
    if (success && this.exclusions.clear(reservation.workerId)) this.replaceWorker(reservation.workerId, now);
    return reservation;
  }

  /**
   * A request to `workerId` failed: it is not picked before the returned record's `excludedUntil` (monotonic ms).
   * The exclusion doubles with each failure in a row.
   */
  reportFailure(workerId: string): FailureRecord {
    const now = this.now();
    this.advance(now);
    const record = this.exclusions.report(workerId, now);
    this.replaceWorker(workerId, now);
    return record;
  }

  /**
   * What scheduling holds on one worker of one hive, for display: slots held by live reservations (also while its
   * hive no longer reports it), when its exclusion ends (monotonic ms; absent when not excluded now), and whether
   * its hive is cordoned.
   */
  holdOn(hiveId: string, workerId: string): WorkerHold {
    const now = this.now();
    this.advance(now);
    const record = this.exclusions.get(workerId);
    return {
      reserved: this.reservations.heldBy(slotKey(hiveId, workerId)),
      ...(record !== undefined && record.excludedUntil > now ? { excludedUntil: record.excludedUntil } : {}),
      cordoned: this.policies.isCordoned(hiveId),
    };
  }

  /** The failure record of a worker, if any (excluded now or not). */
  failureOf(workerId: string): FailureRecord | undefined {
    return this.exclusions.get(workerId);
  }

  // ---- single workers, for the gateway's prefix affinity ------------------------------------------------------

  /**
   * How one worker stands for a request for `modelId` now: its load (loadOf) and whether it could take the request
   * (a candidate: IDLE, healthy, a free slot, not excluded, hive not cordoned). Undefined when its hive is not
   * online or does not report it with `modelId` loaded.
   */
  standingFor(hiveId: string, workerId: string, modelId: string, isOnline: (hiveId: string) => boolean): WorkerLoad | undefined {
    this.advance(this.now());
    const slot = this.hives.get(hiveId)?.slots.get(workerId);
    if (slot === undefined || slot.worker.modelId !== modelId || !isOnline(hiveId)) return undefined;
    return { load: slot.load, free: slot.standing === 'candidate' };
  }

  /** The load of the worker a loaded-only pick for `modelId` would take now; undefined when there is none. */
  leastLoad(modelId: string, isOnline: (hiveId: string) => boolean): number | undefined {
    this.advance(this.now());
    return this.candidates.first(modelId, 'spread', (slot) => isOnline(slot.hiveId))?.load;
  }

  /**
   * A reserving pick of this very worker, living `ttlMs`, when it is a candidate with `modelId` loaded on an online
   * hive; undefined otherwise (nothing is reserved then).
   */
  reserveOn(hiveId: string, workerId: string, modelId: string, ttlMs: number, isOnline: (hiveId: string) => boolean): Pick | undefined {
    const now = this.now();
    this.advance(now);
    const slot = this.hives.get(hiveId)?.slots.get(workerId);
    if (slot === undefined || slot.standing !== 'candidate' || slot.worker.modelId !== modelId || !isOnline(hiveId)) return undefined;
    return this.picked(slot, true, { modelId, reserve: true, reservationTtlMs: ttlMs }, now);
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  /** Handles every reservation and exclusion that ended by `now`. */
  private advance(now: number): void {
    for (const reservation of this.reservations.expire(now)) this.reservedChanged(reservation, now);
    for (const record of this.exclusions.expire(now)) this.replaceWorker(record.workerId, now);
  }

  private picked(slot: Slot, modelLoaded: boolean, request: PickRequest, now: number): Pick {
    const entry = { hiveId: slot.hiveId, worker: slot.worker, hiveOnline: true };
    if (request.reserve !== true) return { kind: 'picked', entry, modelLoaded };
    const reservation = this.reservations.add(slot.hiveId, slot.worker.workerId, now + (request.reservationTtlMs ?? 30_000));
    slot.lastPicked = ++this.pickSequence;
    this.reservedChanged(reservation, now);
    return { kind: 'picked', entry, modelLoaded, reservation };
  }

  /** The slot count of a reservation's worker changed: re-rank it (when its hive still reports it). */
  private reservedChanged(reservation: Reservation, now: number): void {
    const hive = this.hives.get(reservation.hiveId);
    const slot = hive?.slots.get(reservation.workerId);
    if (hive === undefined || slot === undefined) return;
    slot.reserved = this.reservations.heldBy(slot.key);
    this.place(slot, hive, now);
  }

  /** Re-ranks every slot of a worker id (its exclusion changed). */
  private replaceWorker(workerId: string, now: number): void {
    for (const slot of this.slotsByWorker.values(workerId)) {
      const hive = this.hives.get(slot.hiveId);
      if (hive !== undefined) this.place(slot, hive, now);
    }
  }

  /** Forgets a failure record whose exclusion is over (and re-ranks the worker, whose exclusion end is now moot). */
  private clearEndedFailure(workerId: string, now: number): void {
    const record = this.exclusions.get(workerId);
    if (record === undefined || record.excludedUntil > now) return;
    this.exclusions.clear(workerId);
    this.replaceWorker(workerId, now);
  }

  /** A worker reported HEALTHY once its exclusion is over starts afresh. */
  private clearIfHealthy(worker: Worker, now: number): void {
    if (worker.health === 'healthy') this.clearEndedFailure(worker.workerId, now);
  }

  /** A slot whose worker is new or changed: its ended exclusion cleared if it is HEALTHY, then placed. */
  private placeAfresh(slot: Slot, hive: HiveEntry, now: number): void {
    this.clearIfHealthy(slot.worker, now);
    this.place(slot, hive, now);
  }

  /** Puts a slot where it belongs now: its standing, its hive's counts, and its place in the heaps. */
  private place(slot: Slot, hive: HiveEntry, now: number): void {
    const cordoned = this.policies.isCordoned(slot.hiveId);
    const excluded = this.exclusions.isExcluded(slot.worker.workerId, now);
    const standing = standingOf(slot.worker, slot.reserved, excluded, cordoned);
    this.count(hive, slot.standing, -1);
    this.count(hive, standing, 1);
    slot.standing = standing;
    slot.load = loadOf(slot.worker, slot.reserved);
    slot.kv = slot.worker.kvCacheUsage ?? ABSENT_KV_CACHE_USAGE;
    slot.gpu = slot.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
    if (standing === 'candidate') this.candidates.place(slot, slot.worker.modelId);
    else this.candidates.remove(slot);
  }

  private count(hive: HiveEntry, standing: Standing, delta: number): void {
    if (standing === 'none') return;
    hive.eligible += delta;
    if (standing === 'busy') hive.busy += delta;
  }

  private dropSlot(slot: Slot, hive: HiveEntry): void {
    this.candidates.remove(slot);
    this.count(hive, slot.standing, -1);
    slot.standing = 'none';
    hive.slots.delete(slot.worker.workerId);
    this.slotsByWorker.delete(slot.worker.workerId, slot);
  }

  private freeVram(slot: Slot): number | undefined {
    const deviceId = slot.worker.deviceId;
    return deviceId === undefined ? undefined : this.hives.get(slot.hiveId)?.freeVram.get(deviceId);
  }

  /**
   * A pick among a few hives' workers (a narrow selector): the flat policy itself over those workers, each with
   * what the index knows of it, then the reservation on the slot it chose.
   */
  private pickAmong(hiveIds: readonly string[], request: PickRequest, now: number): Pick {
    const slots = new Map<string, Slot>();
    const workers: ScheduledWorker[] = [];
    for (const hiveId of hiveIds) {
      const cordoned = this.policies.isCordoned(hiveId);
      for (const slot of (this.hives.get(hiveId) as HiveEntry).slots.values()) {
        slots.set(slot.key, slot);
        const free = this.freeVram(slot);
        workers.push({
          hiveId,
          worker: slot.worker,
          hiveOnline: true,
          reserved: slot.reserved,
          excluded: this.exclusions.isExcluded(slot.worker.workerId, now),
          cordoned,
          // The hives were chosen by the selector already.
          labels: {},
          ...(free === undefined ? {} : { freeVramBytes: free }),
          lastPicked: slot.lastPicked,
        });
      }
    }
    const pick = pickWorker(workers, { ...request, selector: {} });
    if (pick.kind !== 'picked') return pick;
    const slot = slots.get(slotKey(pick.entry.hiveId, pick.entry.worker.workerId)) as Slot;
    return this.picked(slot, pick.modelLoaded, request, now);
  }
}

/** Reservation ids from a counter: deterministic, for tests and embedders; the server passes random ids. */
function counterIds(): () => string {
  let next = 0;
  return () => `r-${++next}`;
}
