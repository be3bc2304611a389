import type { Clock } from '../common/clock.js';
import { ENGINE_LABELS, engineLabel, type EngineLabel, type Worker, type WorkerEntry, type WorkerStatus } from '../common/worker.js';
import { EventLog } from './event-log.js';
import { HiveLeases } from './hive-leases.js';
import { hiveView, watchedHive, type HiveRecord } from './hive-record.js';
import { compareIds } from './ids.js';
import type {
  EngineCounts,
  FleetCounts,
  HiveView,
  KnownSnapshot,
  PublishedHive,
  RegistryEvent,
  RegistryOptions,
  WatchedHive,
  WatchSnapshot,
} from './types.js';
import { WorkerHolders, type OnlineCheck } from './worker-holders.js';

/**
 * The registry's state and every read of it (lookups, lists, liveness, watch); `HiveRegistry` extends it with the
 * mutations. Two files for one class's two concerns, reads and changes: use `HiveRegistry`.
 */
export abstract class RegistryReads {
  protected readonly hives = new Map<string, HiveRecord>();
  /**
   * Every hive's lease, in order of its last accepted payload, oldest first: the order of eviction deadlines, so
   * `evictExpired` and `lapsedLeases` only look at the front.
   */
  protected readonly leases: HiveLeases<HiveRecord>;
  protected readonly workerHolders = new WorkerHolders();
  protected readonly events: EventLog;
  protected sortedHiveIds: string[] | undefined;

  protected constructor(
    protected readonly clock: Clock,
    readonly options: RegistryOptions,
  ) {
    if (!(options.offlineAfterMs > 0)) throw new RangeError('offlineAfterMs must be positive');
    if (!(options.evictAfterMs >= options.offlineAfterMs)) {
      throw new RangeError('evictAfterMs must be at least offlineAfterMs');
    }
    this.leases = new HiveLeases(clock);
    this.events = new EventLog(options.historySize);
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  /** `leaseNow`: lease time (see HiveLeases), not monotonic time. */
  private isOnline(hive: HiveRecord, leaseNow: number, maxAgeMs = this.options.offlineAfterMs): boolean {
    // A remote hive's age is its owner's to measure: only the published flag counts here.
    if (hive.owner !== undefined) return hive.announcedOnline === true;
    return hive.stream !== undefined && leaseNow - hive.renewedAtMs < maxAgeMs;
  }

  /** Every hive id in the registry (offline ones not yet evicted included), sorted. */
  allHiveIds(): readonly string[] {
    if (this.sortedHiveIds === undefined) {
      this.sortedHiveIds = [...this.hives.keys()].sort(compareIds);
    }
    return this.sortedHiveIds;
  }

  /** Online hive ids, sorted. `maxAgeMs` replaces the offline threshold for this call. */
  activeHiveIds(maxAgeMs = this.options.offlineAfterMs): string[] {
    const now = this.leases.now();
    return this.allHiveIds().filter((id) => {
      const hive = this.hives.get(id);
      return hive !== undefined && this.isOnline(hive, now, maxAgeMs);
    });
  }

  /**
   * A liveness check fixed at the current time, for one read that asks about many hives (scheduling): false for
   * an unknown hive.
   */
  onlineCheck(): OnlineCheck {
    const now = this.leases.now();
    return (hiveId) => {
      const hive = this.hives.get(hiveId);
      return hive !== undefined && this.isOnline(hive, now);
    };
  }

  /** False for an unknown hive. `maxAgeMs` replaces the offline threshold for this call. */
  isHiveOnline(hiveId: string, maxAgeMs = this.options.offlineAfterMs): boolean {
    const hive = this.hives.get(hiveId);
    return hive !== undefined && this.isOnline(hive, this.leases.now(), maxAgeMs);
  }

  get hiveCount(): number {
    return this.hives.size;
  }

  /** Workers of every hive in the registry, offline ones not yet evicted included. */
  get totalWorkerCount(): number {
    let count = 0;
    for (const hive of this.hives.values()) count += hive.workers.length;
    return count;
  }

  /** Hives by liveness and online hives' workers by state, in one pass over the registry (a metrics scrape). */
  fleetCounts(): FleetCounts {
    const now = this.leases.now();
    const workersByState: Record<WorkerStatus, number> = {
      unspecified: 0,
      idle: 0,
      busy: 0,
      loading: 0,
      error: 0,
      stopping: 0,
    };
    let onlineHives = 0;
    for (const hive of this.hives.values()) {
      if (!this.isOnline(hive, now)) continue;
      onlineHives += 1;
      for (const worker of hive.workers) workersByState[worker.state] += 1;
    }
    return { onlineHives, offlineHives: this.hives.size - onlineHives, workersByState };
  }

  /**
   * The engine figures of online hives' workers, in one pass over the registry (a metrics scrape): request sums,
   * KV cache usage summed over the workers that report it, workers by engine kind. Offline hives' figures are stale
   * and left out, as in `fleetCounts`.
   */
  engineCounts(): EngineCounts {
    const now = this.leases.now();
    const workersByEngine = Object.fromEntries(ENGINE_LABELS.map((kind) => [kind, 0])) as Record<EngineLabel, number>;
    let requestsRunning = 0;
    let requestsWaiting = 0;
    let kvCacheReporting = 0;
    let kvCacheUsageSum = 0;
    for (const hive of this.hives.values()) {
      if (!this.isOnline(hive, now)) continue;
      for (const worker of hive.workers) {
        workersByEngine[engineLabel(worker.engine)] += 1;
        requestsRunning += worker.requestsRunning ?? 0;
        requestsWaiting += worker.requestsWaiting ?? 0;
        if (worker.kvCacheUsage !== undefined) {
          kvCacheReporting += 1;
          kvCacheUsageSum += worker.kvCacheUsage;
        }
      }
    }
    return { requestsRunning, requestsWaiting, kvCacheReporting, kvCacheUsageSum, workersByEngine };
  }

  /** A snapshot of one hive, or undefined for an unknown hive. */
  getHive(hiveId: string): HiveView | undefined {
    const hive = this.hives.get(hiveId);
    return hive === undefined ? undefined : hiveView(hive, this.isOnline(hive, this.leases.now()));
  }

  /** The hive's last accepted workers and devices (sorted by id, never mutated), or undefined for an unknown hive. */
  knownSnapshot(hiveId: string): KnownSnapshot | undefined {
    return this.hives.get(hiveId);
  }

  /**
   * A hive this queen owns (it holds or held its stream here) as a federation publishes it, or undefined for an
   * unknown hive or one another queen owns. `online` is its announced liveness.
   */
  publication(hiveId: string, self: string): PublishedHive | undefined {
    const hive = this.hives.get(hiveId);
    if (hive === undefined || hive.owner !== undefined) return undefined;
    const published: PublishedHive = {
      hiveId,
      owner: self,
      online: hive.announcedOnline === true,
      workers: hive.workers,
      devices: hive.devices,
      sequence: hive.sequence,
      lastHeartbeatWallMs: hive.lastAcceptedWallMs,
      ...(hive.ramTotalBytes === undefined ? {} : { ramTotalBytes: hive.ramTotalBytes }),
      ...(hive.senderTime === undefined ? {} : { senderTime: hive.senderTime }),
    };
    return published;
  }

  /** The queen of a federation that owns the hive when it is another one; undefined for this queen's or an unknown hive. */
  ownerOf(hiveId: string): string | undefined {
    return this.hives.get(hiveId)?.owner;
  }

  /** Whether the hive is in the registry (online or not, this queen's or another's). */
  hasHive(hiveId: string): boolean {
    return this.hives.has(hiveId);
  }

  /** Whether this queen owns the hive: it is known here and no other queen of a federation owns it. */
  ownsHive(hiveId: string): boolean {
    const hive = this.hives.get(hiveId);
    return hive !== undefined && hive.owner === undefined;
  }

  /** Online hives by owner: another queen's id, or `self` for this queen's own. */
  onlineHivesByOwner(self: string): Map<string, number> {
    const now = this.leases.now();
    const counts = new Map<string, number>();
    for (const hive of this.hives.values()) {
      if (!this.isOnline(hive, now)) continue;
      const owner = hive.owner ?? self;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    return counts;
  }

  /** Hives this queen owns that are online (their stream is open here and young enough). */
  ownedOnlineHiveCount(): number {
    const now = this.leases.now();
    let count = 0;
    for (const hive of this.hives.values()) if (hive.owner === undefined && this.isOnline(hive, now)) count += 1;
    return count;
  }

  /** The hives other queens own, with their owner: id -> queen id. */
  remoteOwners(): Map<string, string> {
    const owners = new Map<string, string>();
    for (const hive of this.hives.values()) if (hive.owner !== undefined) owners.set(hive.hiveId, hive.owner);
    return owners;
  }

  /** The hive's workers, sorted by id; empty for an unknown hive. */
  workersOnHive(hiveId: string): readonly Worker[] {
    return this.hives.get(hiveId)?.workers ?? [];
  }

  /**
   * The holder of a worker id: the online one if any, else the one with the lowest hive id. Undefined when no
   * hive reports it.
   */
  findWorker(workerId: string): WorkerEntry | undefined {
    const holder = this.workerHolders.holderOf(workerId, this.onlineCheck());
    if (holder === undefined) return undefined;
    const hive = this.hives.get(holder.hiveId);
    const worker = hive?.workers.find((w) => w.workerId === workerId);
    if (hive === undefined || worker === undefined) return undefined;
    const owner = hive.owner;
    const entry = { hiveId: holder.hiveId, worker, hiveOnline: holder.online };
    return owner === undefined ? entry : { ...entry, queenId: owner };
  }

  /**
   * Workers matching `predicate`, sorted by hive id then worker id, each flagged with its hive's liveness. Workers
   * of offline hives are left out unless `includeOffline`.
   */
  listWorkers(predicate: (worker: Worker) => boolean, includeOffline: boolean): WorkerEntry[] {
    const now = this.leases.now();
    const entries: WorkerEntry[] = [];
    for (const hiveId of this.allHiveIds()) {
      const hive = this.hives.get(hiveId);
      if (hive === undefined) continue;
      const hiveOnline = this.isOnline(hive, now);
      if (!hiveOnline && !includeOffline) continue;
      const owner = hive.owner;
      for (const worker of hive.workers) {
        if (!predicate(worker)) continue;
        entries.push(owner === undefined ? { hiveId, worker, hiveOnline } : { hiveId, worker, hiveOnline, queenId: owner });
      }
    }
    return entries;
  }

  // ---- watch --------------------------------------------------------------------------------------------------

  /** The revision of the latest event; 0 before the first. */
  get revision(): number {
    return this.events.revision;
  }

  /**
   * Calls `listener` with every later event, in revision order, synchronously inside the mutation that made it and
   * after its state change (reads from the listener see the new state). Returns the unsubscribe function. Listeners
   * must not throw: a throw is ignored, and the mutation and the other listeners go on.
   */
  onEvent(listener: (event: RegistryEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  /**
   * The events after `revision`, oldest first ([] for the current revision); undefined when they are not all in the
   * history (the latest `historySize`) or `revision` is above the current one: the watcher needs a snapshot.
   */
  eventsAfter(revision: number): RegistryEvent[] | undefined {
    return this.events.eventsAfter(revision);
  }

  /**
   * What a new watcher starts from: every hive (or only `hiveId`; none when unknown), sorted, with its announced
   * liveness and sorted workers, as of `revision`. Applying `eventsAfter(revision)` to it gives the current state.
   */
  watchSnapshot(hiveId?: string): WatchSnapshot {
    const hives: WatchedHive[] = [];
    for (const id of hiveId === undefined ? this.allHiveIds() : [hiveId]) {
      const hive = this.hives.get(id);
      if (hive !== undefined) hives.push(watchedHive(hive));
    }
    return { revision: this.events.revision, hives };
  }
}
