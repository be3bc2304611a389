import type { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { Worker, WorkerEntry } from '../common/worker.js';
import { heartbeatRejection, type StreamRecord } from './heartbeat-rejection.js';
import { HiveLeases } from './hive-leases.js';
import { hiveView, takeSnapshot, type HiveRecord } from './hive-record.js';
import { compareIds } from './ids.js';
import type {
  Departure,
  Heartbeat,
  HeartbeatOutcome,
  HiveView,
  RegistryOptions,
  SnapshotObserver,
  StreamId,
} from './types.js';
import { WorkerHolders, type OnlineCheck } from './worker-holders.js';

/**
 * The queen's in-memory registry of hives and their workers, fed only by heartbeats.
 *
 * Liveness follows etcd's leases: each accepted payload renews the hive's lease. A hive is online while its
 * stream is open and its last accepted payload is younger than `offlineAfterMs`; it is evicted once that payload
 * is `evictAfterMs` old. Ages are in lease time: the queen's monotonic clock minus the stalls it reported
 * (`reportStall`), when it could not read heartbeats. Detecting what is due (`evictExpired`) and acting on it
 * (ending streams) are separate steps: the registry returns the streams to end, the adapter ends them.
 *
 * Every method runs to completion without awaiting, so the state is consistent between calls. Reads return
 * snapshots built from immutable worker and device objects.
 */
export class HiveRegistry {
  private readonly hives = new Map<string, HiveRecord>();
  /**
   * Every hive's lease, in order of its last accepted payload, oldest first: the order of eviction deadlines, so
   * `evictExpired` and `lapsedLeases` only look at the front.
   */
  private readonly leases: HiveLeases<HiveRecord>;
  private readonly workerHolders = new WorkerHolders();
  private readonly streams = new Map<StreamId, StreamRecord>();
  private sortedHiveIds: string[] | undefined;
  private nextStreamId: StreamId = 1;

  constructor(
    private readonly clock: Clock,
    readonly options: RegistryOptions,
    private readonly observer?: SnapshotObserver,
  ) {
    if (!(options.offlineAfterMs > 0)) throw new RangeError('offlineAfterMs must be positive');
    if (!(options.evictAfterMs >= options.offlineAfterMs)) {
      throw new RangeError('evictAfterMs must be at least offlineAfterMs');
    }
    this.leases = new HiveLeases(clock);
  }

  // ---- heartbeat streams --------------------------------------------------------------------------------------

  /** Registers a new heartbeat stream; it belongs to no hive until its first accepted payload. */
  openStream(): StreamId {
    const id = this.nextStreamId++;
    this.streams.set(id, {});
    return id;
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * Forgets a stream (client ended it, cancelled, or the server ended it). If it owned its hive, the hive is
   * offline from now on; its snapshot stays until eviction. Idempotent.
   */
  closeStream(stream: StreamId): void {
    const record = this.streams.get(stream);
    if (record === undefined) return;
    this.streams.delete(stream);
    if (record.hiveId === undefined) return;
    const hive = this.hives.get(record.hiveId);
    if (hive !== undefined && hive.stream === stream) hive.stream = undefined;
  }

  /**
   * Applies one payload received on `stream`. An accepted full snapshot replaces the hive's workers and devices;
   * an accepted tick only renews liveness. Either way the stream becomes the hive's owner, and a previous owner
   * is returned as `superseded` (already closed here; the adapter ends it with ABORTED).
   */
  applyHeartbeat(stream: StreamId, heartbeat: Heartbeat): HeartbeatOutcome {
    const streamRecord = this.streams.get(stream);
    if (streamRecord === undefined) {
      throw new DomainError('failed_precondition', `heartbeat stream ${stream} is not open`);
    }
    const isOnline = this.onlineCheck();
    const claimed = this.hives.get(heartbeat.hiveId)?.claimedMeanwhile;
    const error = heartbeatRejection(streamRecord, heartbeat, claimed, (workerId) =>
      this.workerHolders.onlineHolderOtherThan(workerId, heartbeat.hiveId, isOnline),
    );
    if (error !== undefined) return { accepted: false, error };

    let hive = this.hives.get(heartbeat.hiveId);
    if (hive === undefined) {
      hive = {
        hiveId: heartbeat.hiveId,
        workers: [],
        devices: [],
        sequence: heartbeat.sequence,
        renewedAtMs: 0, // renewed below
        lastAcceptedWallMs: this.clock.wallNow(),
      };
      this.hives.set(hive.hiveId, hive);
      this.sortedHiveIds = undefined;
    }

    let superseded: StreamId | undefined;
    if (hive.stream !== undefined && hive.stream !== stream) {
      superseded = hive.stream;
      this.streams.delete(superseded);
    }
    hive.stream = stream;
    streamRecord.hiveId = hive.hiveId;
    streamRecord.lastSequence = heartbeat.sequence;

    if (!heartbeat.unchanged) {
      this.replaceSnapshot(hive, heartbeat);
    }
    hive.sequence = heartbeat.sequence;
    hive.senderTime = heartbeat.senderTime;
    hive.lastAcceptedWallMs = this.clock.wallNow();
    hive.lapseReported = false;
    this.leases.renew(hive);

    return superseded === undefined
      ? { accepted: true, hiveId: hive.hiveId }
      : { accepted: true, hiveId: hive.hiveId, superseded };
  }

  private replaceSnapshot(hive: HiveRecord, heartbeat: Heartbeat): void {
    const previous = takeSnapshot(hive, heartbeat);
    this.workerHolders.replace(hive.hiveId, previous, hive.workers, (holderHiveId, claim) => {
      const holder = this.hives.get(holderHiveId);
      if (holder !== undefined) holder.claimedMeanwhile = claim;
    });
    this.observer?.snapshotReplaced(hive.hiveId, hive.workers);
  }

  // ---- removal and eviction -----------------------------------------------------------------------------------

  /** Removes a hive now. Returns undefined for an unknown hive; else the stream to end, if it had one open. */
  removeHive(hiveId: string): Departure | undefined {
    const hive = this.hives.get(hiveId);
    if (hive === undefined) return undefined;
    return this.drop(hive);
  }

  /**
   * Removes every hive whose last accepted payload is at least `evictAfterMs` old, oldest first, and returns
   * them with the streams still open for them (to be ended by the caller). Idempotent: a second call at the same
   * time returns nothing.
   */
  evictExpired(): Departure[] {
    const departed: Departure[] = [];
    for (const hive of this.leases.expired(this.options.evictAfterMs)) departed.push(this.drop(hive));
    return departed;
  }

  /**
   * Hives that went offline by silence since the last call: their stream is still open but no payload was accepted
   * for `offlineAfterMs`. Each lapse is reported once (a hive that ended its stream is not reported: that was
   * already seen). Oldest first. For operators: a hive that stops heartbeating without hanging up is a symptom.
   */
  lapsedLeases(): string[] {
    const lapsed: string[] = [];
    for (const hive of this.leases.expired(this.options.offlineAfterMs)) {
      if (hive.stream === undefined || hive.lapseReported === true) continue;
      hive.lapseReported = true;
      lapsed.push(hive.hiveId);
    }
    return lapsed;
  }

  /** Monotonic time (`Clock.now()`) at which the next eviction is due, or undefined when the registry is empty. */
  nextEvictionAt(): number | undefined {
    return this.leases.nextExpiryAt(this.options.evictAfterMs);
  }

  /**
   * The queen could not run for `stalledMs` (event loop blocked, process paused): that time does not count toward
   * any hive's lease.
   */
  reportStall(stalledMs: number): void {
    this.leases.reportStall(stalledMs);
  }

  private drop(hive: HiveRecord): Departure {
    this.workerHolders.removeAll(hive.hiveId, hive.workers);
    this.observer?.hiveRemoved(hive.hiveId);
    this.hives.delete(hive.hiveId);
    this.leases.delete(hive.hiveId);
    this.sortedHiveIds = undefined;
    const stream = hive.stream;
    if (stream === undefined) return { hiveId: hive.hiveId };
    this.streams.delete(stream);
    return { hiveId: hive.hiveId, stream };
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  /** `leaseNow`: lease time (see HiveLeases), not monotonic time. */
  private isOnline(hive: HiveRecord, leaseNow: number, maxAgeMs = this.options.offlineAfterMs): boolean {
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

  /** A snapshot of one hive, or undefined for an unknown hive. */
  getHive(hiveId: string): HiveView | undefined {
    const hive = this.hives.get(hiveId);
    return hive === undefined ? undefined : hiveView(hive, this.isOnline(hive, this.leases.now()));
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
    const worker = this.hives.get(holder.hiveId)?.workers.find((w) => w.workerId === workerId);
    return worker === undefined ? undefined : { hiveId: holder.hiveId, worker, hiveOnline: holder.online };
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
      for (const worker of hive.workers) {
        if (predicate(worker)) entries.push({ hiveId, worker, hiveOnline });
      }
    }
    return entries;
  }
}
