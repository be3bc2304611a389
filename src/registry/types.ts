import type { Device, WallTime, Worker } from '../common/worker.js';
import type { Resources } from './resources.js';

// The registry's public types: what goes in (heartbeats), what comes out (views, outcomes, departures).

/** Liveness thresholds, in milliseconds of the queen's monotonic clock. */
export interface RegistryOptions {
  /** A hive is offline once its last accepted payload is this old (or its stream ended). */
  readonly offlineAfterMs: number;
  /** A hive is removed from the registry once its last accepted payload is this old. */
  readonly evictAfterMs: number;
}

/**
 * Told of every snapshot change, synchronously, inside the registry's own mutation: an index kept by another
 * layer (the scheduler's) stays exactly in step without the registry knowing what it computes.
 */
export interface SnapshotObserver {
  /** The hive's accepted full snapshot now holds `workers` (sorted by worker id). */
  snapshotReplaced(hiveId: string, workers: readonly Worker[]): void;
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

/** A registry-issued handle for one open heartbeat stream. */
export type StreamId = number;

/** What became of one payload. A rejection changes nothing in the registry, stream ownership included. */
export type HeartbeatOutcome =
  | { readonly accepted: true; readonly hiveId: string; readonly superseded?: StreamId }
  | { readonly accepted: false; readonly error: string };

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
}
