/**
 * What the watch scenario's children (watch-main.js: the changer and the watchers) and the bench parent say to
 * each other: one JSON object per line on the child's stdout, one command per line on its stdin. Also the change
 * marker both children agree on.
 */
import { create } from '@bufbuild/protobuf';
import { TimestampSchema, type Timestamp } from '@bufbuild/protobuf/wkt';
import { monotonicMs, type ProcessStats } from './protocol.js';

/**
 * The changer: `hives` hives (ids from `firstHive`, outside the filler's range) send one snapshot each, then
 * `changesPerSecond` full snapshots per second in all, round-robin over the hives, each changing one worker (its
 * state or its gpu_percent) and setting that worker's `last_heartbeat` to a change marker.
 * Commands: 'markers FROM TO' (monotonic ms) is answered with a 'markers' event.
 */
export interface ChangerSpec {
  readonly mode: 'change';
  readonly address: string;
  readonly firstHive: number;
  readonly hives: number;
  readonly changesPerSecond: number;
  /**
   * What a change is: 'mixed' (the default) rotates over workers 0-6 of each hive, alternately moving one's
   * gpu_percent and flipping its state; 'flip' flips worker 0's state between IDLE and BUSY every time, so a
   * dashboard filtered to that worker's model sees every change on one row.
   */
  readonly changes?: 'mixed' | 'flip';
  /** The child exits on its own after this long, even if nobody stops it. */
  readonly maxLifetimeMs: number;
}

/**
 * The watchers: `watchers` Watch calls from revision 0 (a snapshot), `watchersPerConnection` to a TCP connection.
 * Each reads its snapshot until SYNCED, then checks every live event's revision (each exactly one more than the
 * last: no filter, so no gaps) and records, for every WORKER_UPSERTED of a changer hive, receive time - marker.
 * Commands: 'stats' (answered with 'stats', this process's CPU and memory) and 'report <JSON WatchReportRequest>'
 * (answered with 'report'). A stream that ends or fails makes the child say 'failed' and exit.
 */
export interface WatcherSpec {
  readonly mode: 'watch';
  readonly address: string;
  readonly watchers: number;
  readonly watchersPerConnection: number;
  /** The changer's hives, whose worker events are the changes to time. */
  readonly changerFirstHive: number;
  readonly changerHives: number;
  readonly maxLifetimeMs: number;
}

export type WatchChildSpec = ChangerSpec | WatcherSpec;

/** What the parent asks the watchers about: the changes the changer sent inside the window. */
export interface WatchReportRequest {
  /** Marker keys (see markerKey) of every change sent inside the window. */
  readonly expected: readonly string[];
}

/** The watchers' answer: completeness per watcher and latency over the expected changes. */
export interface WatchReport {
  readonly watchers: number;
  readonly expected: number;
  /** Expected changes received, fewest and most over the watchers. */
  readonly receivedMin: number;
  readonly receivedMax: number;
  /** Expected changes not (yet) received, summed over the watchers, and by how many watchers. */
  readonly missing: number;
  readonly watchersMissing: number;
  readonly firstMissing?: string;
  /** Changes received twice by one watcher, and live events whose revision was not the previous one + 1. */
  readonly duplicates: number;
  readonly revisionGaps: number;
  readonly firstGap?: string;
  /** Receive time - marker, over every expected change every watcher received, in ms. */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  readonly samples: number;
}

/** Lines the watch children write on stdout. */
export type WatchChildEvent =
  | { readonly event: 'ready'; readonly hives: number; readonly elapsedMs: number }
  | {
      readonly event: 'synced';
      readonly watchers: number;
      /** From the first call opened until the last SYNCED arrived. */
      readonly elapsedMs: number;
      /** Snapshot events (SYNCED excluded) one watcher received. */
      readonly snapshotEvents: number;
    }
  | {
      readonly event: 'markers';
      /** Marker keys of the changes sent with a marker inside [FROM, TO). */
      readonly keys: readonly string[];
      /** The whole run: changes sent, acks, rejected acks and the first rejection. */
      readonly sent: number;
      readonly acked: number;
      readonly rejected: number;
      readonly firstRejection?: string;
    }
  | { readonly event: 'report'; readonly report: WatchReport }
  | { readonly event: 'stats'; readonly stats: ProcessStats }
  | { readonly event: 'failed'; readonly error: string };

/** Writes one event line on stdout. */
export function emitWatch(event: WatchChildEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/**
 * A change marker: the send time on the benchmark's monotonic clock (monotonicMs: CLOCK_MONOTONIC on Linux, so the
 * watchers, in another process, can subtract it from their own clock), as a Timestamp that the queen stores and
 * hands back exactly (seconds and nanos). `after` (the previous marker's key) keeps markers strictly increasing.
 */
export function markerNow(after?: Timestamp): Timestamp {
  const ms = monotonicMs();
  let seconds = Math.floor(ms / 1_000);
  let nanos = Math.min(999_999_999, Math.floor((ms - seconds * 1_000) * 1e6));
  const afterSeconds = after === undefined ? Number.NEGATIVE_INFINITY : Number(after.seconds);
  if (after !== undefined && (seconds < afterSeconds || (seconds === afterSeconds && nanos <= after.nanos))) {
    seconds = afterSeconds;
    nanos = after.nanos + 1;
    if (nanos > 999_999_999) [seconds, nanos] = [seconds + 1, 0];
  }
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos });
}

/** A marker's identity, for matching the changer's list with what the watchers received. */
export function markerKey(marker: Timestamp): string {
  return `${marker.seconds}.${String(marker.nanos).padStart(9, '0')}`;
}

/** A marker as monotonic ms. */
export function markerMs(marker: Timestamp): number {
  return Number(marker.seconds) * 1_000 + marker.nanos / 1e6;
}
