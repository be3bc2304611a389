import type { Device, WallTime, Worker } from '../common/worker.js';
import type { Lease } from './hive-leases.js';
import { compareIds } from './ids.js';
import { computeResources } from './resources.js';
import type { Heartbeat, HiveView, StreamId, WatchedHive } from './types.js';
import type { Claim } from './worker-holders.js';

/** The registry's state of one hive: its last accepted snapshot, and what decides its liveness. */
export interface HiveRecord extends Lease {
  /** Sorted by workerId; replaced, never mutated, so views may share it. */
  workers: readonly Worker[];
  /** Sorted by deviceId; replaced, never mutated. */
  devices: readonly Device[];
  ramTotalBytes?: number;
  senderTime?: WallTime;
  sequence: bigint;
  lastAcceptedWallMs: number;
  /** The open stream that owns this hive; undefined once it ended (the hive is then offline). */
  stream?: StreamId;
  /**
   * Set while another queen of a federation owns the hive: its id. Such a hive is read-only here, as that queen
   * publishes it; `stream` is then undefined.
   */
  owner?: string;
  /**
   * Set when another hive claimed one of this hive's worker ids while this hive was offline: its snapshot is no
   * longer the truth, so only a full snapshot (not a tick) may renew it.
   */
  claimedMeanwhile?: Claim;
  /** Set once `lapsedLeases` reported this hive's current lapse; cleared by the next accepted payload. */
  lapseReported?: boolean;
  /**
   * The hive's liveness as the events so far announced it: set by an accepted payload (with `hive_online`),
   * cleared by its stream's end or a reported lapse (with `hive_offline`). Implies `stream` is set. For a remote
   * hive (`owner` set), its liveness as its owner last published it: its owner alone measures the hive's age.
   */
  announcedOnline?: boolean;
}

/** The record of a hive whose first payload was just accepted; the caller renews its lease. */
export function newHiveRecord(heartbeat: Pick<Heartbeat, 'hiveId' | 'sequence'>, wallNowMs: number): HiveRecord {
  return {
    hiveId: heartbeat.hiveId,
    workers: [],
    devices: [],
    sequence: heartbeat.sequence,
    renewedAtMs: 0,
    lastAcceptedWallMs: wallNowMs,
  };
}

const byWorkerId = (a: Worker, b: Worker): number => compareIds(a.workerId, b.workerId);
const byDeviceId = (a: Device, b: Device): number => a.deviceId - b.deviceId;

/**
 * Makes an accepted full snapshot the hive's, sorted (copies: the caller's arrays are neither kept nor sorted), and
 * clears `claimedMeanwhile`. Returns the workers it replaced.
 */
export function takeSnapshot(hive: HiveRecord, heartbeat: Heartbeat): readonly Worker[] {
  const previous = hive.workers;
  hive.workers = sortedCopy(heartbeat.workers, byWorkerId);
  hive.devices = sortedCopy(heartbeat.devices, byDeviceId);
  hive.ramTotalBytes = heartbeat.ramTotalBytes;
  hive.claimedMeanwhile = undefined;
  return previous;
}

/** A sorted copy of `items`; one pass when they come sorted already (a hive that keeps its order, as most do). */
function sortedCopy<T>(items: readonly T[], order: (a: T, b: T) => number): T[] {
  const copy = items.slice();
  for (let i = 1; i < copy.length; i++) {
    if (order(copy[i - 1] as T, copy[i] as T) > 0) return copy.sort(order);
  }
  return copy;
}

/** A read-only snapshot of the hive, `online` as decided by the registry. */
export function hiveView(hive: HiveRecord, online: boolean): HiveView {
  const view: HiveView = {
    hiveId: hive.hiveId,
    workers: hive.workers,
    devices: hive.devices,
    online,
    lastHeartbeatWallMs: hive.lastAcceptedWallMs,
    sequence: hive.sequence,
    resources: computeResources(hive.workers, hive.devices, hive.ramTotalBytes),
    ...(hive.owner === undefined ? {} : { owner: hive.owner }),
  };
  return hive.senderTime === undefined ? view : { ...view, senderTime: hive.senderTime };
}

/** The hive as a new watcher first sees it: its announced liveness and its workers. */
export function watchedHive(hive: HiveRecord): WatchedHive {
  return { hiveId: hive.hiveId, online: hive.announcedOnline === true, workers: hive.workers };
}
