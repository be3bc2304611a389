import { create } from '@bufbuild/protobuf';
import { Metadata, status, type Client, type ClientReadableStream, type StatusObject } from '@grpc/grpc-js';
import { Backoff, type BackoffOptions } from '../common/backoff.js';
import type { Worker } from '../common/worker.js';
import { WatchEventSchema, WatchEventType, WatchRequestSchema, type WatchEvent } from '../../gen/hive/v1/registry_pb.js';
import { ClientError } from './client-error.js';
import type { QueenCursor } from './queen-failover.js';
import { workerFromProto } from './proto-to-domain.js';

/** What to watch, and where to start. */
export interface WatchOptions {
  /** Only this hive's events. */
  readonly hiveId?: string;
  /** No worker events. */
  readonly hivesOnly?: boolean;
  /** Drop changes of only cpu/gpu percent smaller than this many points (0: every change). */
  readonly loadChangeThreshold?: number;
  /** Resume after this revision of `epoch` (both from an earlier event); default: start from a snapshot. */
  readonly startRevision?: number;
  readonly epoch?: string;
  /** Ends the iteration (the iterator returns) when aborted. */
  readonly signal?: AbortSignal;
  /** Reconnect delays after a lost stream: full jitter, 250 ms doubling to 10 s by default. */
  readonly backoff?: BackoffOptions;
}

export type WatchUpdateType =
  | 'hive_online'
  | 'hive_offline'
  | 'hive_removed'
  | 'worker_upserted'
  | 'worker_removed'
  | 'synced'
  | 'resync';

/** One event of the registry's change stream, as plain data. */
export interface WatchUpdate {
  readonly type: WatchUpdateType;
  readonly revision: number;
  readonly epoch: string;
  readonly hiveId: string;
  readonly hiveOnline: boolean;
  /** worker_upserted: the worker's new state. */
  readonly worker?: Worker;
  /** worker_upserted and worker_removed: the worker's id. */
  readonly workerId?: string;
}

const TYPE: Readonly<Record<WatchEventType, WatchUpdateType | undefined>> = {
  [WatchEventType.UNSPECIFIED]: undefined,
  [WatchEventType.HIVE_ONLINE]: 'hive_online',
  [WatchEventType.HIVE_OFFLINE]: 'hive_offline',
  [WatchEventType.HIVE_REMOVED]: 'hive_removed',
  [WatchEventType.WORKER_UPSERTED]: 'worker_upserted',
  [WatchEventType.WORKER_REMOVED]: 'worker_removed',
  [WatchEventType.SYNCED]: 'synced',
  [WatchEventType.RESYNC]: 'resync',
};

/** Codes after which reconnecting cannot help: the request itself is refused. */
const FINAL_CODES: ReadonlySet<status> = new Set([
  status.INVALID_ARGUMENT,
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.UNIMPLEMENTED,
  status.FAILED_PRECONDITION,
]);

export function watchUpdateFromProto(event: WatchEvent): WatchUpdate | undefined {
  const type = TYPE[event.type];
  if (type === undefined) return undefined; // a type this build does not know (a newer queen): skip it
  const base = {
    type,
    revision: Number(event.revision),
    epoch: event.epoch,
    hiveId: event.hiveId,
    hiveOnline: event.hiveOnline,
  };
  if (event.worker === undefined) return base;
  return type === 'worker_upserted'
    ? { ...base, worker: workerFromProto(event.worker), workerId: event.worker.workerId }
    : { ...base, workerId: event.worker.workerId };
}

/**
 * The protobuf events of Watch, resuming by itself: after a lost stream (queen restarted or drained, connection
 * dropped, RESOURCE_EXHAUSTED for falling behind) it reconnects after a jittered backoff from the last revision
 * the consumer's state is complete at, so the queen replays what was missed (or sends RESYNC and a snapshot when
 * it cannot). A stream lost in the middle of a snapshot yields a RESYNC (revision 0) before the fresh snapshot, so
 * the consumer drops the part it got. Ends when `signal` aborts or the consumer stops iterating; throws
 * ClientError for a refused request (UNAUTHENTICATED and PERMISSION_DENIED included: a new call with the same
 * token would be refused too).
 *
 * Given the clients of several queens serving one fleet, each call goes to the queen at `cursor`; a call that ends
 * with UNAVAILABLE (the queen drained, or could not be reached) moves the cursor to the next queen for the
 * reconnect. The new queen's epoch differs, so it answers with RESYNC and a snapshot of the same fleet.
 */
export async function* watchEvents(
  raw: Client | readonly Client[],
  options: WatchOptions = {},
  /** Metadata for each (re)opened call, e.g. the caller's bearer token. */
  metadata: () => Metadata = () => new Metadata(),
  /** Which of `raw`'s queens the next call goes to; moved on UNAVAILABLE. */
  cursor: QueenCursor = { index: 0 },
): AsyncGenerator<WatchEvent, void, undefined> {
  const queens = Array.isArray(raw) ? (raw as readonly Client[]) : [raw as Client];
  const backoff = new Backoff(options.backoff);
  // Where to resume: the revision the consumer's state is complete at (the last SYNCED, or a replayed or live
  // event after it). Snapshot events all carry the snapshot's revision, so they never move it.
  let revision = options.startRevision ?? 0;
  let epoch = options.epoch ?? '';
  /** The consumer holds part of a snapshot: if the stream drops now, it must be told to drop that part. */
  let partial = false;
  const signal = options.signal;
  // A function, not a narrowed property read: the signal can abort while the generator waits.
  const aborted = (): boolean => signal?.aborted === true;
  while (!aborted()) {
    if (partial) {
      // The snapshot was cut short: a fresh one follows, and the consumer must first drop what it got.
      yield create(WatchEventSchema, { type: WatchEventType.RESYNC, revision: 0n, epoch });
      partial = false;
    }
    const queen = queens[cursor.index % queens.length];
    if (queen === undefined) throw new RangeError('watchEvents: no queen to watch');
    const call = (queen as unknown as { watch(request: unknown, metadata: Metadata): ClientReadableStream<WatchEvent> }).watch(
      create(WatchRequestSchema, {
        startRevision: BigInt(revision),
        epoch,
        hiveId: options.hiveId ?? '',
        hivesOnly: options.hivesOnly ?? false,
        loadChangeThreshold: options.loadChangeThreshold ?? 0,
      }),
      metadata(),
    );
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let ended: StatusObject | undefined;
    let inSnapshot = revision === 0;
    try {
      for await (const event of eventsOf(call, (s) => (ended = s))) {
        if (event.type === WatchEventType.RESYNC) {
          // Whatever the consumer held is void; until SYNCED, a drop means starting over from a snapshot.
          inSnapshot = true;
          revision = 0;
        } else if (event.type === WatchEventType.SYNCED) {
          inSnapshot = false;
          revision = Number(event.revision);
          epoch = event.epoch;
          backoff.reset();
        } else if (!inSnapshot) {
          revision = Number(event.revision);
          epoch = event.epoch;
        }
        partial = inSnapshot && event.type !== WatchEventType.RESYNC;
        yield event;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // The consumer stopped iterating (break/return) or the loop is done: never leave the call open.
      call.cancel();
    }
    if (aborted()) return;
    const final = ended ?? { code: status.UNKNOWN, details: 'the stream ended without a status', metadata: new Metadata() };
    if (FINAL_CODES.has(final.code)) throw new ClientError(final.code, final.details, 'hive.v1.HiveRegistry/Watch');
    // Any other end reconnects to the same queen (RESOURCE_EXHAUSTED for falling behind: it still has the history).
    if (final.code === status.UNAVAILABLE) cursor.index = (cursor.index + 1) % queens.length;
    await delay(backoff.next(), signal);
  }
}

/** The call's messages as an async iterable; `onStatus` receives the final status. */
async function* eventsOf(
  call: ClientReadableStream<WatchEvent>,
  onStatus: (s: StatusObject) => void,
): AsyncGenerator<WatchEvent, void, undefined> {
  const queue: WatchEvent[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  call.on('data', (event: WatchEvent) => {
    queue.push(event);
    // Backpressure: stop reading while the consumer is behind; HTTP/2 flow control then slows the queen.
    if (queue.length >= 1_000) call.pause();
    notify();
  });
  call.on('status', (s: StatusObject) => {
    onStatus(s);
    done = true;
    notify();
  });
  call.on('error', () => undefined); // reported through 'status'
  for (;;) {
    const next = queue.shift();
    if (next !== undefined) {
      if (queue.length < 100) call.resume();
      yield next;
      continue;
    }
    if (done) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
