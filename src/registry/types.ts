import type { Device, EngineLabel, WallTime, Worker, WorkerStatus } from '../common/worker.js';
import type { Resources } from './resources.js';

// The registry's public types: what goes in (heartbeats), what comes out (views, outcomes, departures).

/** Liveness thresholds, in milliseconds of the queen's monotonic clock, and the size of the event history. */
export interface RegistryOptions {
  /** A hive is offline once its last accepted payload is this old (or its stream ended). */
  readonly offlineAfterMs: number;
  /** A hive is removed from the registry once its last accepted payload is this old. */
  readonly evictAfterMs: number;
  /** How many of the latest events `eventsAfter` can replay: an integer >= 1; default 10,000. */
  readonly historySize?: number;
  /**
   * Most hives known at once (online or not): a payload from a new hive beyond it is rejected, so a flood of
   * made-up hive ids cannot grow memory without bound. Default unlimited.
   */
  readonly maxHives?: number;
}

/**
 * Told of every snapshot change, synchronously, inside the registry's own mutation: an index kept by another
 * layer (the scheduler's) stays exactly in step without the registry knowing what it computes.
 */
export interface SnapshotObserver {
  /** The hive's accepted full snapshot now holds `workers` (sorted by worker id) and `devices`. */
  snapshotReplaced(hiveId: string, workers: readonly Worker[], devices: readonly Device[]): void;
  /** The hive's liveness tick was accepted: its workers are as in its last snapshot. */
  heartbeatAccepted?(hiveId: string): void;
  /** The hive left the registry (removed or evicted). */
  hiveRemoved(hiveId: string): void;
}

/** One heartbeat payload, already converted and field-validated by the adapter. */
export interface Heartbeat {
  readonly hiveId: string;
  /** Sender's clock: kept for skew reporting, never used for liveness. */
  readonly senderTime?: WallTime;
  readonly sequence: bigint;
  /** A liveness tick: workers and devices must be empty; the stream's last snapshot stands. */
  readonly unchanged: boolean;
  readonly workers: readonly Worker[];
  readonly devices: readonly Device[];
  readonly ramTotalBytes?: number;
}

/** A hive's last accepted snapshot (each sorted by id), as a new payload's conversion may reuse it. */
export interface KnownSnapshot {
  readonly workers: readonly Worker[];
  readonly devices: readonly Device[];
}

/** A registry-issued handle for one open heartbeat stream. */
export type StreamId = number;

/**
 * Why the registry rejected a payload, as a small closed set (metrics count rejections by it; `error` has the
 * detail): `invalid_payload` the payload contradicts itself (duplicate ids, a tick with workers, a tick first);
 * `sequence` not above the stream's last accepted one; `wrong_hive` another hive than the stream's; `worker_claimed`
 * a worker id held by another online hive; `max_hives` a new hive beyond the limit.
 */
export type HeartbeatRejectionReason = 'invalid_payload' | 'sequence' | 'wrong_hive' | 'worker_claimed' | 'max_hives';

/** A rejection: its reason class and the message for the ack (naming the field). */
export interface HeartbeatRejection {
  readonly reason: HeartbeatRejectionReason;
  readonly error: string;
}

/** What became of one payload. A rejection changes nothing in the registry, stream ownership included. */
export type HeartbeatOutcome =
  | { readonly accepted: true; readonly hiveId: string; readonly superseded?: StreamId }
  | ({ readonly accepted: false } & HeartbeatRejection);

/** Hives by liveness, and the workers of online hives by state: what a metrics scrape reads. */
export interface FleetCounts {
  readonly onlineHives: number;
  readonly offlineHives: number;
  /** Workers of offline hives are left out: their state is stale. */
  readonly workersByState: Readonly<Record<WorkerStatus, number>>;
}

/** What the engines of online hives' workers report, over the whole fleet (a metrics scrape). */
export interface EngineCounts {
  /** Sum of `requestsRunning` over the workers that report it. */
  readonly requestsRunning: number;
  /** Sum of `requestsWaiting` over the workers that report it. */
  readonly requestsWaiting: number;
  /** Workers that report `kvCacheUsage`. */
  readonly kvCacheReporting: number;
  /** Sum of their `kvCacheUsage` (fractions 0-1): divided by `kvCacheReporting`, the mean. */
  readonly kvCacheUsageSum: number;
  /** Workers by engine: a known one, `other` or `none` (not reported). */
  readonly workersByEngine: Readonly<Record<EngineLabel, number>>;
}

/** A hive that left the registry (removed or evicted) and the stream that must be ended, if it had one. */
export interface Departure {
  readonly hiveId: string;
  readonly stream?: StreamId;
}

/** A read-only snapshot of one hive. */
export interface HiveView {
  readonly hiveId: string;
  /** Sorted by workerId. */
  readonly workers: readonly Worker[];
  /** Sorted by deviceId. */
  readonly devices: readonly Device[];
  readonly online: boolean;
  /** The queen's wall-clock receive time of the last accepted payload, in epoch milliseconds. */
  readonly lastHeartbeatWallMs: number;
  readonly senderTime?: WallTime;
  readonly sequence: bigint;
  readonly resources: Resources;
  /** The queen of a federation that owns the hive, when it is not this one. */
  readonly owner?: string;
}

/**
 * A hive as the queen that owns it publishes it to the rest of a federation: what lookups, scheduling and
 * watchers need, without the owner's stream or lease bookkeeping.
 */
export interface PublishedHive {
  readonly hiveId: string;
  /** The owner's queen id. */
  readonly owner: string;
  /** The owner's announced liveness of the hive. */
  readonly online: boolean;
  /** Sorted by workerId. */
  readonly workers: readonly Worker[];
  /** Sorted by deviceId. */
  readonly devices: readonly Device[];
  readonly ramTotalBytes?: number;
  readonly sequence: bigint;
  readonly senderTime?: WallTime;
  /** The owner's wall-clock receive time of the hive's last accepted payload, epoch ms. */
  readonly lastHeartbeatWallMs: number;
}

/**
 * What changed in the registry, as watchers are told (the Watch RPC's event types, in domain names):
 * - `hive_online`: the hive is announced online (its first accepted payload, or the first since it went offline);
 *   it comes before that payload's worker events. A hive unknown to a watcher starts with no workers.
 * - `hive_offline`: its heartbeat stream ended, or `lapsedLeases` found it silent for `offlineAfterMs`.
 * - `hive_removed`: removed or evicted; its workers are gone with it (no `worker_removed` for them).
 * - `worker_upserted`: a worker added to the hive's snapshot, or changed in any field.
 * - `worker_removed`: a worker left the hive's snapshot.
 */
export type RegistryEventType = 'hive_online' | 'hive_offline' | 'hive_removed' | 'worker_upserted' | 'worker_removed';

interface RegistryEventBase {
  /** This event's own revision: the previous event's + 1 (the first event is 1; 0 means "nothing happened yet"). */
  readonly revision: number;
  readonly hiveId: string;
  /** The hive's announced liveness after this event; false after `hive_removed`. */
  readonly hiveOnline: boolean;
}

/** One change, numbered. Immutable; the same object goes to every listener and into the history. */
export type RegistryEvent =
  | (RegistryEventBase & { readonly type: 'hive_online' | 'hive_offline' | 'hive_removed' })
  | (RegistryEventBase & {
      readonly type: 'worker_upserted';
      /** The worker's full new value. */
      readonly worker: Worker;
      /**
       * Set only when the worker existed before and nothing changed but its load: `cpuPercent` and `gpuPercent`
       * (each present on both sides, or absent on both) and `lastHeartbeat`. The larger absolute change of the two
       * percentages, in points (0 when only `lastHeartbeat` moved). A watcher with a load-change threshold drops
       * the event when `loadDelta` is below it.
       */
      readonly loadDelta?: number;
    })
  | (RegistryEventBase & { readonly type: 'worker_removed'; readonly workerId: string });

/** What a new watcher starts from: the registry as of `revision`, which the next event follows. */
export interface WatchSnapshot {
  readonly revision: number;
  /** Sorted by hive id; offline hives not yet evicted included. */
  readonly hives: readonly WatchedHive[];
}

/** One hive in a `WatchSnapshot`. */
export interface WatchedHive {
  readonly hiveId: string;
  /** Its announced liveness: what the events so far said (see `HiveRegistry.watchSnapshot`). */
  readonly online: boolean;
  /** Sorted by worker id. */
  readonly workers: readonly Worker[];
}
