import type { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { Device, WallTime, Worker, WorkerEntry } from '../common/worker.js';
import { quote } from './ids.js';
import { computeResources } from './resources.js';
import type {
  Departure,
  Heartbeat,
  HeartbeatOutcome,
  HiveView,
  RegistryOptions,
  SnapshotObserver,
  StreamId,
} from './types.js';

interface HiveRecord {
  readonly hiveId: string;
  workers: readonly Worker[];
  devices: readonly Device[];
  ramTotalBytes?: number;
  senderTime?: WallTime;
  sequence: bigint;
  /** Monotonic receive time of the last accepted payload. */
  lastAcceptedMs: number;
  lastAcceptedWallMs: number;
  /** The open stream that owns this hive; undefined once it ended (the hive is then offline). */
  stream?: StreamId;
  /**
   * Set when another hive claimed one of this hive's worker ids while this hive was offline: its snapshot is no
   * longer the truth, so only a full snapshot (not a tick) may renew it.
   */
  claimedMeanwhile?: { readonly workerId: string; readonly byHive: string };
  /** Set once `lapsedLeases` reported this hive's current lapse; cleared by the next accepted payload. */
  lapseReported?: boolean;
}

interface StreamRecord {
  /** Set by the stream's first accepted payload. */
  hiveId?: string;
  /** The last accepted sequence in this stream. */
  lastSequence?: bigint;
}

const byWorkerId = (a: Worker, b: Worker): number => compareStrings(a.workerId, b.workerId);
const byDeviceId = (a: Device, b: Device): number => a.deviceId - b.deviceId;

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The queen's in-memory registry of hives and their workers, fed only by heartbeats.
 *
 * Liveness follows etcd's leases: each accepted payload renews the hive's lease on the queen's monotonic clock.
 * A hive is online while its stream is open and its last accepted payload is younger than `offlineAfterMs`; it is
 * evicted once that payload is `evictAfterMs` old. Detecting what is due (`evictExpired`) and acting on it (ending
 * streams) are separate steps: the registry returns the streams to end, the adapter ends them.
 *
 * Every method runs to completion without awaiting, so the state is consistent between calls. Reads return
 * snapshots built from immutable worker and device objects.
 */
export class HiveRegistry {
  private readonly hives = new Map<string, HiveRecord>();
  /**
   * Hives in order of their last accepted payload, oldest first: re-inserted on every accepted payload. The
   * monotonic clock never goes back, so this is also the order of eviction deadlines and `evictExpired` only
   * looks at the front.
   */
  private readonly leaseOrder = new Map<string, HiveRecord>();
  /** worker id -> hives whose snapshot holds it (more than one only when all but one are offline). */
  private readonly workerHolders = new Map<string, Set<string>>();
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
    const error = this.rejectionOf(streamRecord, heartbeat);
    if (error !== undefined) return { accepted: false, error };

    const now = this.clock.now();
    let hive = this.hives.get(heartbeat.hiveId);
    if (hive === undefined) {
      hive = {
        hiveId: heartbeat.hiveId,
        workers: [],
        devices: [],
        sequence: heartbeat.sequence,
        lastAcceptedMs: now,
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
    hive.lastAcceptedMs = now;
    hive.lastAcceptedWallMs = this.clock.wallNow();
    hive.lapseReported = false;
    this.leaseOrder.delete(hive.hiveId);
    this.leaseOrder.set(hive.hiveId, hive);

    return superseded === undefined
      ? { accepted: true, hiveId: hive.hiveId }
      : { accepted: true, hiveId: hive.hiveId, superseded };
  }

  /** Why a payload must be rejected, or undefined. Reads only. */
  private rejectionOf(stream: StreamRecord, heartbeat: Heartbeat): string | undefined {
    if (stream.hiveId !== undefined && heartbeat.hiveId !== stream.hiveId) {
      return `hive_id: this stream belongs to hive ${quote(stream.hiveId)}, got ${quote(heartbeat.hiveId)}`;
    }
    if (stream.lastSequence !== undefined && heartbeat.sequence <= stream.lastSequence) {
      return `sequence: must be greater than ${stream.lastSequence} (the last accepted in this stream), got ${heartbeat.sequence}`;
    }
    if (heartbeat.unchanged) {
      if (stream.hiveId === undefined) {
        return 'unchanged: the first payload of a stream must be a full snapshot, got a liveness tick';
      }
      if (heartbeat.workers.length > 0) {
        return `workers: must be empty when unchanged is set, got ${heartbeat.workers.length}`;
      }
      if (heartbeat.devices.length > 0) {
        return `devices: must be empty when unchanged is set, got ${heartbeat.devices.length}`;
      }
      // While this hive was offline another hive claimed one of its workers: a tick would bring that worker back
      // with two holders, so the hive must send a full snapshot (whose worker ids are checked below).
      const claimed = this.hives.get(heartbeat.hiveId)?.claimedMeanwhile;
      if (claimed !== undefined) {
        return `unchanged: worker ${quote(claimed.workerId)} of the last snapshot was claimed by hive ${quote(claimed.byHive)} meanwhile; send a full snapshot`;
      }
      return undefined;
    }
    const now = this.clock.now();
    const workerIds = new Set<string>();
    for (const [i, worker] of heartbeat.workers.entries()) {
      if (workerIds.has(worker.workerId)) {
        const first = heartbeat.workers.findIndex((w) => w.workerId === worker.workerId);
        return `workers[${i}].worker_id: ${quote(worker.workerId)} duplicates workers[${first}]`;
      }
      workerIds.add(worker.workerId);
      const holder = this.onlineHolderOtherThan(worker.workerId, heartbeat.hiveId, now);
      if (holder !== undefined) {
        return `workers[${i}].worker_id: ${quote(worker.workerId)} is held by online hive ${quote(holder)}`;
      }
    }
    const deviceIds = new Set<number>();
    for (const [i, device] of heartbeat.devices.entries()) {
      if (deviceIds.has(device.deviceId)) {
        const first = heartbeat.devices.findIndex((d) => d.deviceId === device.deviceId);
        return `devices[${i}].device_id: ${device.deviceId} duplicates devices[${first}]`;
      }
      deviceIds.add(device.deviceId);
    }
    return undefined;
  }

  private onlineHolderOtherThan(workerId: string, hiveId: string, now: number): string | undefined {
    const holders = this.workerHolders.get(workerId);
    // The common case, a hive reporting its own workers again, needs no walk.
    if (holders === undefined || (holders.size === 1 && holders.has(hiveId))) return undefined;
    let found: string | undefined;
    for (const holder of holders) {
      if (holder === hiveId) continue;
      const hive = this.hives.get(holder);
      if (hive !== undefined && this.isOnline(hive, now) && (found === undefined || holder < found)) {
        found = holder;
      }
    }
    return found;
  }

  private replaceSnapshot(hive: HiveRecord, heartbeat: Heartbeat): void {
    const previous = hive.workers;
    hive.workers = [...heartbeat.workers].sort(byWorkerId);
    hive.devices = [...heartbeat.devices].sort(byDeviceId);
    hive.ramTotalBytes = heartbeat.ramTotalBytes;
    hive.claimedMeanwhile = undefined;
    // Both lists are sorted by id: walk them together and touch the worker-id index only where they differ
    // (in steady state a hive reports the same workers, so nothing is touched).
    const next = hive.workers;
    let i = 0;
    let j = 0;
    while (i < previous.length || j < next.length) {
      const gone = previous[i]?.workerId;
      const added = next[j]?.workerId;
      if (added === undefined || (gone !== undefined && gone < added)) {
        this.removeHolder(gone as string, hive.hiveId);
        i++;
      } else if (gone === undefined || added < gone) {
        this.addHolder(added, hive.hiveId);
        j++;
      } else {
        i++;
        j++;
      }
    }
    this.observer?.snapshotReplaced(hive.hiveId, hive.workers);
  }

  private addHolder(workerId: string, hiveId: string): void {
    let holders = this.workerHolders.get(workerId);
    if (holders === undefined) {
      holders = new Set();
      this.workerHolders.set(workerId, holders);
    }
    // Every other holder is offline (an online one would have got this payload rejected): it must resnapshot.
    for (const other of holders) {
      const hive = this.hives.get(other);
      if (hive !== undefined) hive.claimedMeanwhile = { workerId, byHive: hiveId };
    }
    holders.add(hiveId);
  }

  private removeHolder(workerId: string, hiveId: string): void {
    const holders = this.workerHolders.get(workerId);
    if (holders === undefined) return;
    holders.delete(hiveId);
    if (holders.size === 0) this.workerHolders.delete(workerId);
  }

  private unindexWorkers(hive: HiveRecord): void {
    for (const worker of hive.workers) this.removeHolder(worker.workerId, hive.hiveId);
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
    const now = this.clock.now();
    const departed: Departure[] = [];
    for (const hive of this.leaseOrder.values()) {
      if (now - hive.lastAcceptedMs < this.options.evictAfterMs) break;
      departed.push(this.drop(hive));
    }
    return departed;
  }

  /**
   * Hives that went offline by silence since the last call: their stream is still open but no payload was accepted
   * for `offlineAfterMs`. Each lapse is reported once (a hive that ended its stream is not reported: that was
   * already seen). Oldest first. For operators: a hive that stops heartbeating without hanging up is a symptom.
   */
  lapsedLeases(): string[] {
    const now = this.clock.now();
    const lapsed: string[] = [];
    for (const hive of this.leaseOrder.values()) {
      if (now - hive.lastAcceptedMs < this.options.offlineAfterMs) break;
      if (hive.stream === undefined || hive.lapseReported === true) continue;
      hive.lapseReported = true;
      lapsed.push(hive.hiveId);
    }
    return lapsed;
  }

  /** Monotonic time at which the next eviction is due, or undefined when the registry is empty. */
  nextEvictionAt(): number | undefined {
    for (const hive of this.leaseOrder.values()) return hive.lastAcceptedMs + this.options.evictAfterMs;
    return undefined;
  }

  private drop(hive: HiveRecord): Departure {
    this.unindexWorkers(hive);
    this.observer?.hiveRemoved(hive.hiveId);
    this.hives.delete(hive.hiveId);
    this.leaseOrder.delete(hive.hiveId);
    this.sortedHiveIds = undefined;
    const stream = hive.stream;
    if (stream === undefined) return { hiveId: hive.hiveId };
    this.streams.delete(stream);
    return { hiveId: hive.hiveId, stream };
  }

  // ---- reads --------------------------------------------------------------------------------------------------

  private isOnline(hive: HiveRecord, now: number, maxAgeMs = this.options.offlineAfterMs): boolean {
    return hive.stream !== undefined && now - hive.lastAcceptedMs < maxAgeMs;
  }

  /** Every hive id in the registry (offline ones not yet evicted included), sorted. */
  allHiveIds(): readonly string[] {
    if (this.sortedHiveIds === undefined) {
      this.sortedHiveIds = [...this.hives.keys()].sort(compareStrings);
    }
    return this.sortedHiveIds;
  }

  /** Online hive ids, sorted. `maxAgeMs` replaces the offline threshold for this call. */
  activeHiveIds(maxAgeMs = this.options.offlineAfterMs): string[] {
    const now = this.clock.now();
    return this.allHiveIds().filter((id) => {
      const hive = this.hives.get(id);
      return hive !== undefined && this.isOnline(hive, now, maxAgeMs);
    });
  }

  /**
   * A liveness check fixed at the current time, for one read that asks about many hives (scheduling): false for
   * an unknown hive.
   */
  onlineCheck(): (hiveId: string) => boolean {
    const now = this.clock.now();
    return (hiveId) => {
      const hive = this.hives.get(hiveId);
      return hive !== undefined && this.isOnline(hive, now);
    };
  }

  /** False for an unknown hive. `maxAgeMs` replaces the offline threshold for this call. */
  isHiveOnline(hiveId: string, maxAgeMs = this.options.offlineAfterMs): boolean {
    const hive = this.hives.get(hiveId);
    return hive !== undefined && this.isOnline(hive, this.clock.now(), maxAgeMs);
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
    if (hive === undefined) return undefined;
    const view: HiveView = {
      hiveId: hive.hiveId,
      workers: hive.workers,
      devices: hive.devices,
      online: this.isOnline(hive, this.clock.now()),
      lastHeartbeatWallMs: hive.lastAcceptedWallMs,
      sequence: hive.sequence,
      resources: computeResources(hive.workers, hive.devices, hive.ramTotalBytes),
    };
    return hive.senderTime === undefined ? view : { ...view, senderTime: hive.senderTime };
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
    const holders = this.workerHolders.get(workerId);
    if (holders === undefined) return undefined;
    const now = this.clock.now();
    let best: { hive: HiveRecord; online: boolean } | undefined;
    for (const hiveId of holders) {
      const hive = this.hives.get(hiveId);
      if (hive === undefined) continue;
      const online = this.isOnline(hive, now);
      if (
        best === undefined ||
        (online && !best.online) ||
        (online === best.online && hive.hiveId < best.hive.hiveId)
      ) {
        best = { hive, online };
      }
    }
    if (best === undefined) return undefined;
    const worker = best.hive.workers.find((w) => w.workerId === workerId);
    return worker === undefined ? undefined : { hiveId: best.hive.hiveId, worker, hiveOnline: best.online };
  }

  /**
   * Workers matching `predicate`, sorted by hive id then worker id, each flagged with its hive's liveness. Workers
   * of offline hives are left out unless `includeOffline`.
   */
  listWorkers(predicate: (worker: Worker) => boolean, includeOffline: boolean): WorkerEntry[] {
    const now = this.clock.now();
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
