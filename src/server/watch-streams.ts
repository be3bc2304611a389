import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import { WatchEventType, type WatchEvent, type WatchRequest } from '../../gen/hive/v1/registry_pb.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import { checkId } from '../registry/ids.js';
import type { RegistryEvent } from '../registry/types.js';
import { encodeMarker, encodeRegistryEvent, encodeSnapshotHive, encodeSnapshotWorker } from './watch-encoding.js';
import { serviceError, statusOf, type CallStatus } from './status-map.js';

export type WatchCall = ServerWritableStream<WatchRequest, WatchEvent>;

export interface WatchStreamsOptions {
  /** Random per queen start: a watcher resuming with another epoch gets RESYNC and a snapshot. */
  readonly epoch: string;
  /**
   * Most live events a watcher may have waiting (its transport full, or its snapshot still being sent) before it
   * is ended with RESOURCE_EXHAUSTED; it resumes from its last revision.
   */
  readonly maxQueuedEvents: number;
}

/** What one watcher asked for, validated. */
interface WatchFilter {
  readonly hiveId?: string;
  readonly hivesOnly: boolean;
  readonly loadChangeThreshold: number;
}

interface Watcher {
  readonly call: WatchCall;
  readonly filter: WatchFilter;
  /** The snapshot or replay still to send, produced lazily as the transport takes it (memory stays bounded). */
  initial?: Iterator<Buffer>;
  /** Live events waiting behind the initial part or a full transport, oldest first. */
  readonly backlog: Buffer[];
  /** The transport refused more (write() returned false) until its next 'drain'. */
  blocked: boolean;
  unsubscribe?: () => void;
  ended: boolean;
}

function requestFilter(request: WatchRequest): WatchFilter {
  if (request.hiveId !== '') {
    const problem = checkId('hive_id', request.hiveId);
    if (problem !== undefined) throw new DomainError('invalid_argument', problem);
  }
  const threshold = request.loadChangeThreshold;
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) {
    throw new DomainError('invalid_argument', `load_change_threshold: must be 0 to 100 points, got ${threshold}`);
  }
  return {
    ...(request.hiveId === '' ? {} : { hiveId: request.hiveId }),
    hivesOnly: request.hivesOnly,
    loadChangeThreshold: threshold,
  };
}

/** Whether `event` is for a watcher with `filter`. */
function wanted(filter: WatchFilter, event: RegistryEvent): boolean {
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
 * The server side of Watch: one Watcher per call. A call starts with a snapshot (or, given a start_revision
 * still in history and the current epoch, a replay of the events after it), marked done by SYNCED, then gets
 * live events as the registry emits them. Subscribing and building the snapshot happen in one synchronous step,
 * so no event can fall between them.
 *
 * Life cycle of a call: streaming -> ended, by one of: the client cancelling, falling more than
 * `maxQueuedEvents` behind (RESOURCE_EXHAUSTED: it resumes from its last revision), or server shutdown
 * (UNAVAILABLE).
 */
export class WatchStreams {
  private readonly watchers = new Set<Watcher>();
  private draining = false;

  constructor(
    private readonly registry: HiveRegistry,
    private readonly logger: Logger,
    private readonly options: WatchStreamsOptions,
  ) {}

  /** Open watches. */
  get size(): number {
    return this.watchers.size;
  }

  /** The grpc-js handler for HiveRegistry.Watch. */
  readonly handle = (call: WatchCall): void => {
    if (this.draining) {
      call.emit('error', serviceError({ code: status.UNAVAILABLE, details: 'the server is shutting down' }));
      return;
    }
    let filter: WatchFilter;
    try {
      filter = requestFilter(call.request);
    } catch (error) {
      call.emit('error', serviceError(statusOf(error, this.logger, 'Watch')));
      return;
    }
    const watcher: Watcher = { call, filter, backlog: [], blocked: false, ended: false };
    this.watchers.add(watcher);
    call.on('cancelled', () => this.forget(watcher));
    call.on('error', () => this.forget(watcher));
    call.on('drain', () => {
      watcher.blocked = false;
      this.pump(watcher);
    });
    // Subscribing and taking the snapshot (or the replay) in one synchronous step: no event falls between them.
    watcher.unsubscribe = this.registry.onEvent((event) => {
      if (wanted(filter, event)) this.enqueue(watcher, encodeRegistryEvent(event, this.options.epoch));
    });
    watcher.initial = this.initialPart(filter, call.request);
    this.pump(watcher);
    this.logger.debug({ peer: call.getPeer(), hiveId: filter.hiveId, revision: this.registry.revision }, 'watch opened');
  };

  /** Ends every watch with UNAVAILABLE and refuses new ones, for shutdown. */
  drain(): void {
    this.draining = true;
    for (const watcher of [...this.watchers]) {
      this.end(watcher, { code: status.UNAVAILABLE, details: 'the server is shutting down; resume from your last revision' });
    }
  }

  /**
   * What a watch starts with: given a start_revision still in history and the current epoch, the events after it;
   * otherwise (RESYNC first when a revision was asked for) a snapshot. Then SYNCED. Computed now, encoded lazily.
   */
  private initialPart(filter: WatchFilter, request: WatchRequest): Iterator<Buffer> {
    const { epoch } = this.options;
    const from = request.startRevision;
    if (from > 0n) {
      const replay =
        request.epoch === epoch && from <= BigInt(Number.MAX_SAFE_INTEGER)
          ? this.registry.eventsAfter(Number(from))
          : undefined;
      if (replay !== undefined) {
        const revision = this.registry.revision;
        return (function* () {
          for (const event of replay) if (wanted(filter, event)) yield encodeRegistryEvent(event, epoch);
          yield encodeMarker(WatchEventType.SYNCED, revision, epoch);
        })();
      }
    }
    const snapshot = this.registry.watchSnapshot(filter.hiveId);
    return (function* () {
      if (from > 0n) yield encodeMarker(WatchEventType.RESYNC, snapshot.revision, epoch);
      for (const hive of snapshot.hives) {
        yield encodeSnapshotHive(snapshot.revision, epoch, hive.hiveId, hive.online);
        if (filter.hivesOnly) continue;
        for (const worker of hive.workers) {
          yield encodeSnapshotWorker(snapshot.revision, epoch, hive.hiveId, hive.online, worker);
        }
      }
      yield encodeMarker(WatchEventType.SYNCED, snapshot.revision, epoch);
    })();
  }

  /**
   * A live event: written at once when nothing is ahead of it and the transport takes it, else queued. A watcher
   * whose queue passes `maxQueuedEvents` is ended with RESOURCE_EXHAUSTED instead of growing the queen's memory
   * or slowing heartbeats.
   */
  private enqueue(watcher: Watcher, bytes: Buffer): void {
    if (watcher.ended) return;
    if (watcher.initial === undefined && watcher.backlog.length === 0 && !watcher.blocked) {
      this.write(watcher, bytes);
      return;
    }
    if (watcher.backlog.length >= this.options.maxQueuedEvents) {
      this.end(watcher, {
        code: status.RESOURCE_EXHAUSTED,
        details: `Watch: this watcher fell more than ${this.options.maxQueuedEvents} events behind; resume with start_revision = the last revision received`,
      });
      return;
    }
    watcher.backlog.push(bytes);
  }

  /** Writes what is waiting, the initial part first, until the transport pushes back. */
  private pump(watcher: Watcher): void {
    while (!watcher.ended && !watcher.blocked) {
      let next: Buffer | undefined;
      if (watcher.initial !== undefined) {
        const item = watcher.initial.next();
        if (item.done === true) watcher.initial = undefined;
        else next = item.value;
      }
      next ??= watcher.backlog.shift();
      if (next === undefined) return;
      this.write(watcher, next);
    }
  }

  private write(watcher: Watcher, bytes: Buffer): void {
    // Pre-encoded: grpcServiceDefinition's serializer passes bytes through (see grpc-service.ts).
    if (!watcher.call.write(bytes as unknown as WatchEvent)) watcher.blocked = true;
  }

  private end(watcher: Watcher, callStatus: CallStatus): void {
    if (watcher.ended) return;
    this.forget(watcher);
    this.logger.debug({ code: callStatus.code, details: callStatus.details }, 'watch ended by the server');
    watcher.call.emit('error', serviceError(callStatus));
  }

  private forget(watcher: Watcher): void {
    if (watcher.ended) return;
    watcher.ended = true;
    watcher.unsubscribe?.();
    watcher.initial = undefined;
    watcher.backlog.length = 0;
    this.watchers.delete(watcher);
  }
}
