import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import { WatchEventType, type WatchEvent, type WatchRequest } from '../../gen/hive/v1/registry_pb.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import { checkId } from '../registry/ids.js';
import { encodeMarker, encodeRegistryEvent, encodeSnapshotHive, encodeSnapshotWorker } from './watch-encoding.js';
import { serviceError, statusOf, type CallStatus } from './status-map.js';
import { WatchCursor, type WatchEncoding, type WatchFilter } from './watch-cursor.js';

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

interface Watcher {
  readonly call: WatchCall;
  cursor?: WatchCursor<Buffer>;
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
  private readonly encoding: WatchEncoding<Buffer>;

  constructor(
    private readonly registry: HiveRegistry,
    private readonly logger: Logger,
    private readonly options: WatchStreamsOptions,
  ) {
    const { epoch } = options;
    this.encoding = {
      event: (event) => encodeRegistryEvent(event, epoch),
      hive: (revision, hiveId, online) => encodeSnapshotHive(revision, epoch, hiveId, online),
      worker: (revision, hiveId, online, worker) => encodeSnapshotWorker(revision, epoch, hiveId, online, worker),
      synced: (revision) => encodeMarker(WatchEventType.SYNCED, revision, epoch),
      resync: (revision) => encodeMarker(WatchEventType.RESYNC, revision, epoch),
    };
  }

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
    const watcher: Watcher = { call, ended: false };
    this.watchers.add(watcher);
    call.on('cancelled', () => this.forget(watcher));
    call.on('error', () => this.forget(watcher));
    call.on('drain', () => watcher.cursor?.resume());
    const start = { filter, startRevision: call.request.startRevision, epoch: call.request.epoch };
    watcher.cursor = new WatchCursor(
      this.registry,
      start,
      this.options.epoch,
      this.encoding,
      {
        // Pre-encoded: grpcServiceDefinition's serializer passes bytes through (see grpc-service.ts).
        write: (bytes) => call.write(bytes as unknown as WatchEvent),
        overflow: (maxQueued) =>
          this.end(watcher, {
            code: status.RESOURCE_EXHAUSTED,
            details: `Watch: this watcher fell more than ${maxQueued} events behind; resume with start_revision = the last revision received`,
          }),
      },
      this.options.maxQueuedEvents,
    );
    this.logger.debug({ peer: call.getPeer(), hiveId: filter.hiveId, revision: this.registry.revision }, 'watch opened');
  };

  /** Ends every watch with UNAVAILABLE and refuses new ones, for shutdown. */
  drain(): void {
    this.draining = true;
    for (const watcher of [...this.watchers]) {
      this.end(watcher, { code: status.UNAVAILABLE, details: 'the server is shutting down; resume from your last revision' });
    }
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
    watcher.cursor?.close();
    this.watchers.delete(watcher);
  }
}
