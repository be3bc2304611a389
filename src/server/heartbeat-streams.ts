import { create } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import {
  HeartbeatAckSchema,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
} from '../../gen/hive/v1/registry_pb.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { StreamId } from '../registry/types.js';
import { quote } from '../registry/ids.js';
import { wallMsToProto } from './domain-to-proto.js';
import { payloadToHeartbeat, type PayloadLimits } from './payload-to-heartbeat.js';
import { serviceError, statusOf, type CallStatus } from './status-map.js';

export type HeartbeatCall = ServerDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;

export interface HeartbeatStreamsOptions {
  readonly limits: PayloadLimits;
  /** Sent in every ack: how often the queen wants heartbeats. */
  readonly heartbeatIntervalMs: number;
  /** Most heartbeat streams open at once; one more is refused with RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
}

interface Session {
  readonly call: HeartbeatCall;
  /** Set once the call has been ended, by either side: nothing more is read or written. */
  ended: boolean;
  /** The hive this stream belongs to, from its first accepted payload. */
  hiveId?: string;
}

/**
 * The server side of the Heartbeat stream: one Session per call, one ack per payload in payload order.
 *
 * Life cycle of a stream: open (unbound) -> bound to a hive by its first accepted payload -> ended, by one of:
 * the hive half-closing (OK, a clean goodbye), the client cancelling or the connection dropping, a newer stream
 * for the same hive (ABORTED), RemoveHive (ABORTED), eviction (ABORTED), or server shutdown (UNAVAILABLE). Every
 * way out closes the stream in the registry, so the hive is offline at once.
 */
export class HeartbeatStreams {
  private readonly sessions = new Map<StreamId, Session>();
  private draining = false;

  constructor(
    private readonly registry: HiveRegistry,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: HeartbeatStreamsOptions,
  ) {}

  /** Open heartbeat streams. */
  get size(): number {
    return this.sessions.size;
  }

  /** The grpc-js handler for HiveRegistry.Heartbeat. */
  readonly handle = (call: HeartbeatCall): void => {
    if (this.draining) {
      call.emit('error', serviceError({ code: status.UNAVAILABLE, details: 'the server is shutting down' }));
      return;
    }
    if (this.sessions.size >= this.options.maxStreams) {
      call.emit(
        'error',
        serviceError({
          code: status.RESOURCE_EXHAUSTED,
          details: `Heartbeat: at most ${this.options.maxStreams} streams may be open at once`,
        }),
      );
      return;
    }
    const stream = this.registry.openStream();
    const session: Session = { call, ended: false };
    this.sessions.set(stream, session);
    this.logger.debug({ stream, peer: call.getPeer() }, 'heartbeat stream opened');

    call.on('data', (payload: HiveHeartbeatPayload) => this.onPayload(stream, session, payload));
    call.on('end', () => {
      // The hive half-closed its side: a clean goodbye, answered with OK.
      if (session.ended) return;
      this.forget(stream, session, 'hive closed its heartbeat stream');
      call.end();
    });
    call.on('cancelled', () => this.forget(stream, session, 'heartbeat stream cancelled'));
    call.on('error', () => this.forget(stream, session, 'heartbeat stream failed'));
  };

  /** Ends one stream with `callStatus` (supersede, removal, eviction). No-op for a stream already gone. */
  end(stream: StreamId, callStatus: CallStatus): void {
    const session = this.sessions.get(stream);
    if (session === undefined || session.ended) return;
    this.forget(stream, session, 'heartbeat stream ended by the server', callStatus);
    session.call.emit('error', serviceError(callStatus));
  }

  /** Refuses new streams and ends every open one with UNAVAILABLE, for shutdown. */
  drain(): void {
    this.draining = true;
    for (const stream of [...this.sessions.keys()]) {
      this.end(stream, { code: status.UNAVAILABLE, details: 'the server is shutting down' });
    }
  }

  private forget(stream: StreamId, session: Session, why: string, callStatus?: CallStatus): void {
    if (session.ended) return;
    session.ended = true;
    this.sessions.delete(stream);
    this.registry.closeStream(stream);
    this.logger.debug({ stream, hiveId: session.hiveId, code: callStatus?.code, details: callStatus?.details }, why);
    if (session.hiveId !== undefined && callStatus === undefined) {
      this.logger.info({ hiveId: session.hiveId }, 'hive disconnected');
    }
  }

  private onPayload(stream: StreamId, session: Session, payload: HiveHeartbeatPayload): void {
    if (session.ended) return;
    const ack = create(HeartbeatAckSchema, {
      sequence: payload.sequence,
      heartbeatInterval: durationFromMs(this.options.heartbeatIntervalMs),
      receivedAt: wallMsToProto(this.clock.wallNow()),
    });
    try {
      const outcome = this.registry.applyHeartbeat(stream, payloadToHeartbeat(payload, this.options.limits));
      if (outcome.accepted) {
        ack.accepted = true;
        if (session.hiveId === undefined) {
          session.hiveId = outcome.hiveId;
          this.logger.info({ hiveId: outcome.hiveId, peer: session.call.getPeer() }, 'hive connected');
        }
        if (outcome.superseded !== undefined) {
          this.logger.info({ hiveId: outcome.hiveId }, 'newer heartbeat stream supersedes the previous one');
          this.end(outcome.superseded, {
            code: status.ABORTED,
            details: `superseded by a newer heartbeat stream for hive ${quote(outcome.hiveId)}`,
          });
        }
      } else {
        ack.error = outcome.error;
      }
    } catch (error) {
      if (!(error instanceof DomainError && error.reason === 'invalid_argument')) {
        this.end(stream, statusOf(error, this.logger, 'Heartbeat'));
        return;
      }
      ack.error = error.message;
    }
    if (!ack.accepted) {
      this.logger.debug({ stream, hiveId: session.hiveId ?? payload.hiveId.slice(0, 128), error: ack.error }, 'heartbeat rejected');
    }
    // Backpressure: a hive that does not read its acks stops being read, instead of growing our buffers.
    if (!session.call.write(ack)) {
      session.call.pause();
      session.call.once('drain', () => session.call.resume());
    }
  }
}
