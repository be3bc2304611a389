import type { Worker } from '../common/worker.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { RegistryEvent } from '../registry/types.js';

// One subscriber of the registry's change log, whatever carries it: the Watch RPC (protobuf bytes on a gRPC
// stream) and the dashboard (server-sent events) share the same snapshot, replay, ordering and backpressure.

/** What one watcher asked for, validated. */
export interface WatchFilter {
  readonly hiveId?: string;
  readonly hivesOnly: boolean;
  readonly loadChangeThreshold: number;
}

/** Where a watch starts: `startRevision` 0 for a snapshot, else the last revision the watcher holds, of `epoch`. */
export interface WatchStart {
  readonly filter: WatchFilter;
  readonly startRevision: bigint;
  readonly epoch: string;
}

/** How one transport writes each kind of item (encoded once per item, as the transport takes it). */
export interface WatchEncoding<T> {
  /** A live or replayed event. */
  event(event: RegistryEvent): T;
  /** A snapshot's hive line, at the snapshot's revision. */
  hive(revision: number, hiveId: string, online: boolean): T;
  /** A snapshot's worker line, at the snapshot's revision. */
  worker(revision: number, hiveId: string, online: boolean, worker: Worker): T;
  /** End of a snapshot or replay: the watcher now holds the state as of `revision`. */
  synced(revision: number): T;
  /** The asked revision is gone (or the epoch differs): drop local state, a snapshot follows. */
  resync(revision: number): T;
}

/** The transport of one watcher. */
export interface WatchSink<T> {
  /** Writes an item; false when the transport is full: nothing more is written until `WatchCursor.resume`. */
  write(item: T): boolean;
  /** The watcher fell more than `maxQueued` live events behind: end it (it resumes from its last revision). */
  overflow(maxQueued: number): void;
}

/** Whether `event` is for a watcher with `filter`. */
export function wanted(filter: WatchFilter, event: RegistryEvent): boolean {
  if (filter.hiveId !== undefined && event.hiveId !== filter.hiveId) return false;
  if (event.type === 'worker_upserted' || event.type === 'worker_removed') {
    if (filter.hivesOnly) return false;
    if (event.type === 'worker_upserted' && event.loadDelta !== undefined && event.loadDelta < filter.loadChangeThreshold) {
      return false;
    }
  }
  return true;
}

/**
 * One watcher's position in the registry's change log. It starts with a snapshot (or, given a start revision still
 * in history and the current epoch, a replay of the events after it), ended by SYNCED, then follows live events.
 * Subscribing and taking the snapshot happen in one synchronous step, so no event falls between them; the initial
 * part is encoded lazily as the transport takes it, so memory stays bounded by the transport's pace. Live events
 * wait in a queue while the initial part is still going or the transport is full; past `maxQueued` of them the
 * sink is told to end the watch instead of growing the queen's memory or slowing heartbeats.
 */
export class WatchCursor<T> {
  private initial: Iterator<T> | undefined;
  private readonly backlog: T[] = [];
  private blocked = false;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(
    registry: HiveRegistry,
    start: WatchStart,
    currentEpoch: string,
    private readonly encoding: WatchEncoding<T>,
    private readonly sink: WatchSink<T>,
    private readonly maxQueued: number,
  ) {
    const { filter } = start;
    this.unsubscribe = registry.onEvent((event) => {
      if (wanted(filter, event)) this.enqueue(event);
    });
    this.initial = initialPart(registry, start, currentEpoch, encoding);
    this.pump();
  }

  /** The transport takes more again (it drained). */
  resume(): void {
    this.blocked = false;
    this.pump();
  }

  /** Stops following the log and drops what waits; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.initial = undefined;
    this.backlog.length = 0;
  }

  private enqueue(event: RegistryEvent): void {
    if (this.closed) return;
    if (this.initial === undefined && this.backlog.length === 0 && !this.blocked) {
      this.write(this.encoding.event(event));
      return;
    }
    if (this.backlog.length >= this.maxQueued) {
      this.close();
      this.sink.overflow(this.maxQueued);
      return;
    }
    this.backlog.push(this.encoding.event(event));
  }

  /** Writes what is waiting, the initial part first, until the transport pushes back. */
  private pump(): void {
    while (!this.closed && !this.blocked) {
      let next: T | undefined;
      if (this.initial !== undefined) {
        const item = this.initial.next();
        if (item.done === true) this.initial = undefined;
        else next = item.value;
      }
      next ??= this.backlog.shift();
      if (next === undefined) return;
      this.write(next);
    }
  }

  private write(item: T): void {
    if (!this.sink.write(item)) this.blocked = true;
  }
}

/**
 * What a watch starts with: given a start revision still in history and the current epoch, the events after it;
 * otherwise (RESYNC first when a revision was asked for) a snapshot. Then SYNCED. Computed now, encoded lazily.
 */
function initialPart<T>(registry: HiveRegistry, start: WatchStart, epoch: string, encoding: WatchEncoding<T>): Iterator<T> {
  const { filter, startRevision: from } = start;
  if (from > 0n) {
    const replay =
      start.epoch === epoch && from <= BigInt(Number.MAX_SAFE_INTEGER) ? registry.eventsAfter(Number(from)) : undefined;
    if (replay !== undefined) {
      const revision = registry.revision;
      return (function* () {
        for (const event of replay) if (wanted(filter, event)) yield encoding.event(event);
        yield encoding.synced(revision);
      })();
    }
  }
  const snapshot = registry.watchSnapshot(filter.hiveId);
  return (function* () {
    if (from > 0n) yield encoding.resync(snapshot.revision);
    for (const hive of snapshot.hives) {
      yield encoding.hive(snapshot.revision, hive.hiveId, hive.online);
      if (filter.hivesOnly) continue;
      for (const worker of hive.workers) yield encoding.worker(snapshot.revision, hive.hiveId, hive.online, worker);
    }
    yield encoding.synced(snapshot.revision);
  })();
}
