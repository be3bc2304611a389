import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AdmissionRefusal } from '../catalog/types.js';
import type { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { HeartbeatAck, HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { Heartbeat, HeartbeatRejectionReason, StreamId } from '../registry/types.js';
import { quote } from '../registry/ids.js';
import type { Principal } from './access.js';
import type { HeartbeatObserver, HeartbeatRejectionClass } from './heartbeat-outcomes.js';
import { AckEncoder, type AckDraft } from './ack-encoding.js';
import { AddressCounts, peerAddress, RateAllowance, UnboundStreams } from './stream-limits.js';
import { payloadToHeartbeat, type PayloadLimits } from './payload-to-heartbeat.js';
import { serviceError, statusOf, type CallStatus } from './status-map.js';

/** Why a payload may not bind its stream: the catalog's refusal, or a payload for another hive than the token's. */
type Refusal = AdmissionRefusal | { readonly reason: 'other_hive'; readonly message: string };

export type HeartbeatCall = ServerDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;

/**
 * What the stream adapter asks of the catalog: may a stream bind to this hive, a note of every accepted payload
 * (in memory; the catalog writes it to its store later, never on the heartbeat path), and the end of a hive's
 * stream (when a shared store gets the hive's last `last_seen`).
 */
export interface HeartbeatAdmission {
  /** Why a stream may not bind to `hiveId`, or undefined when it may. */
  refusal(hiveId: string): AdmissionRefusal | undefined;
  /** A payload from `hiveId` was accepted at `wallMs` on a stream from `peer`. */
  seen(hiveId: string, wallMs: number, peer: string): void;
  /**
   * The stream holding `hiveId` on this queen ended, however it ended, and no newer stream of this queen holds the
   * hive (a stream superseded by a newer one on this queen does not count).
   */
  streamEnded(hiveId: string): void;
}

export interface HeartbeatStreamsOptions {
  readonly limits: PayloadLimits;
  /** Sent in every ack: how often the queen wants heartbeats. */
  readonly heartbeatIntervalMs: number;
  /** Most heartbeat streams open at once; one more is refused with RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** Most heartbeat streams open at once from one remote address; one more is refused with RESOURCE_EXHAUSTED. */
  readonly maxStreamsPerAddress: number;
  /**
   * Most payloads one stream may send per heartbeat interval, on average (bursts up to this many at once). One
   * beyond it is answered `accepted: false` and dropped unread: the hive is throttled, not disconnected.
   */
  readonly rateLimit: number;
  /** A stream with no accepted payload this long after it opened is ended with DEADLINE_EXCEEDED. */
  readonly unboundTimeoutMs: number;
}

interface Session {
  readonly call: HeartbeatCall;
  /** Set once the call has been ended, by either side: nothing more is read or written. */
  ended: boolean;
  /** The hive this stream belongs to, from its first accepted payload. */
  hiveId?: string;
  /** The remote address, as grpc-js reports it. */
  readonly peer: string;
  /** Its host part, for the per-address limit. */
  readonly address: string;
  /** The rate limit's token bucket. */
  readonly allowance: RateAllowance;
  /** Whether the stream has been throttled yet (logged once per stream). */
  throttled: boolean;
  /** With auth on: the hive token the stream opened with; every payload must be that hive's. */
  readonly token?: { readonly hiveId: string; readonly tokenId: string };
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
  /** The stream each hive is bound to on this queen: the newest one, once a newer stream supersedes another. */
  private readonly holders = new Map<string, StreamId>();
  /** Open streams per remote address. */
  private readonly perAddress = new AddressCounts();
  /** Streams with no accepted payload yet, and when they opened (monotonic ms), in opening order. */
  private readonly unbound = new UnboundStreams();
  private readonly acks: AckEncoder;
  private draining = false;

  constructor(
    private readonly registry: HiveRegistry,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: HeartbeatStreamsOptions,
    private readonly admission?: HeartbeatAdmission,
    private readonly observer?: HeartbeatObserver,
  ) {
    this.acks = new AckEncoder(options.heartbeatIntervalMs);
  }

  /** Open heartbeat streams. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * The grpc-js handler for HiveRegistry.Heartbeat. With auth on, the access layer calls it with the hive token's
   * principal, which binds the stream to that hive before its first payload.
   */
  readonly handle = (call: HeartbeatCall, principal?: Principal): void => {
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
    const peer = call.getPeer();
    const address = peerAddress(peer);
    const fromAddress = this.perAddress.of(address);
    if (fromAddress >= this.options.maxStreamsPerAddress) {
      this.logger.info({ peer, open: fromAddress }, 'heartbeat stream refused: too many from one address');
      call.emit(
        'error',
        serviceError({
          code: status.RESOURCE_EXHAUSTED,
          details: `Heartbeat: at most ${this.options.maxStreamsPerAddress} streams may be open from one address (${address}) at once`,
        }),
      );
      return;
    }
    const stream = this.registry.openStream();
    const now = this.clock.now();
    const session: Session = {
      call,
      ended: false,
      peer,
      address,
      allowance: new RateAllowance(this.options.rateLimit, this.options.heartbeatIntervalMs, now),
      throttled: false,
      ...(principal?.kind === 'hive' ? { token: { hiveId: principal.hiveId, tokenId: principal.tokenId } } : {}),
    };
    this.sessions.set(stream, session);
    this.perAddress.add(address);
    this.unbound.add(stream, now);
    this.logger.debug({ stream, peer: session.peer }, 'heartbeat stream opened');

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

  /**
   * Removes a hive from the registry and ends its open stream with ABORTED, saying it `was ...` (removed,
   * deregistered). False for a hive not in the registry.
   */
  removeHive(hiveId: string, why: string): boolean {
    const departure = this.registry.removeHive(hiveId);
    if (departure === undefined) return false;
    this.logger.info({ hiveId }, `hive ${why}`);
    if (departure.stream !== undefined) {
      this.end(departure.stream, { code: status.ABORTED, details: `hive ${quote(hiveId)} ${why}` });
    }
    return true;
  }

  /** Ends the streams opened with a revoked hive token, with UNAUTHENTICATED; returns how many. */
  endToken(tokenId: string): number {
    let ended = 0;
    for (const [stream, session] of [...this.sessions]) {
      if (session.token?.tokenId !== tokenId) continue;
      this.logger.info({ hiveId: session.token.hiveId, tokenId }, 'heartbeat stream ended: its hive token was revoked');
      this.end(stream, { code: status.UNAUTHENTICATED, details: `the hive token ${quote(tokenId)} of this stream was revoked` });
      ended += 1;
    }
    return ended;
  }

  /**
   * Ends every stream that has had no payload accepted within the unbound timeout, with DEADLINE_EXCEEDED: a
   * connection that only holds a slot, or only sends what is refused, does not hold it for ever. Run by the sweep.
   */
  endUnbound(): number {
    const overdue = this.unbound.overdue(this.clock.now(), this.options.unboundTimeoutMs);
    for (const stream of overdue) {
      const session = this.sessions.get(stream);
      this.logger.info({ stream, peer: session?.peer }, 'heartbeat stream ended: no accepted payload in time');
      this.end(stream, {
        code: status.DEADLINE_EXCEEDED,
        details: `Heartbeat: no payload accepted within ${this.options.unboundTimeoutMs} ms of opening the stream; send a valid full snapshot first`,
      });
    }
    return overdue.length;
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
    this.unbound.remove(stream);
    this.perAddress.remove(session.address);
    this.registry.closeStream(stream);
    this.logger.debug({ stream, hiveId: session.hiveId, code: callStatus?.code, details: callStatus?.details }, why);
    if (session.hiveId !== undefined && callStatus === undefined) {
      this.logger.info({ hiveId: session.hiveId }, 'hive disconnected');
    }
    if (session.hiveId !== undefined && this.holders.get(session.hiveId) === stream) {
      this.holders.delete(session.hiveId);
      this.admission?.streamEnded(session.hiveId);
    }
  }

  private onPayload(stream: StreamId, session: Session, payload: HiveHeartbeatPayload): void {
    if (session.ended) return;
    const receivedWallMs = this.clock.wallNow();
    const ack: AckDraft = { sequence: payload.sequence, accepted: false, error: '' };
    if (!session.allowance.take(this.clock.now())) {
      ack.error = `throttled: this stream sent more than ${this.options.rateLimit} payloads in one heartbeat interval (${this.options.heartbeatIntervalMs} ms); this one was dropped and changed nothing`;
      if (!session.throttled) {
        session.throttled = true;
        this.logger.warn({ hiveId: session.hiveId, peer: session.peer, rateLimit: this.options.rateLimit }, 'heartbeat stream throttled');
      }
      this.observer?.rejected('throttled');
      this.reply(session, ack, receivedWallMs);
      return;
    }
    let refused: CallStatus | undefined;
    let rejection: HeartbeatRejectionClass | undefined;
    try {
      // A bound stream's hive sends mostly what it sent before: its last snapshot spares unchanged workers the checks.
      const known = session.hiveId === payload.hiveId ? this.registry.knownSnapshot(session.hiveId) : undefined;
      const heartbeat = payloadToHeartbeat(payload, this.options.limits, known);
      // Admission is asked only before the stream binds: a bound stream's hive was admitted (deregistering it
      // ends the stream), and a payload naming another hive is the registry's to reject.
      const refusal: Refusal | undefined =
        session.token !== undefined && heartbeat.hiveId !== session.token.hiveId
          ? {
              reason: 'other_hive',
              message: `hive_id: this stream's token belongs to hive ${quote(session.token.hiveId)}; a payload for hive ${quote(heartbeat.hiveId)} is refused`,
            }
          : session.hiveId === undefined
            ? this.admission?.refusal(heartbeat.hiveId)
            : undefined;
      if (refusal !== undefined) {
        ack.error = refusal.message;
        rejection =
          refusal.reason === 'catalog_full' ? 'max_hives' : refusal.reason === 'other_hive' ? 'wrong_hive' : 'not_admitted';
        refused = {
          code: refusal.reason === 'catalog_full' ? status.RESOURCE_EXHAUSTED : status.PERMISSION_DENIED,
          details: refusal.message,
        };
      } else {
        rejection = this.apply(stream, session, heartbeat, receivedWallMs, ack);
      }
    } catch (error) {
      if (!(error instanceof DomainError && error.reason === 'invalid_argument')) {
        this.observer?.rejected('internal');
        this.end(stream, statusOf(error, this.logger, 'Heartbeat'));
        return;
      }
      ack.error = error.message;
      rejection = 'invalid_payload';
    }
    if (ack.accepted) this.observer?.accepted();
    else this.observer?.rejected(rejection ?? 'internal');
    if (!ack.accepted) {
      this.logger.debug({ stream, hiveId: session.hiveId ?? payload.hiveId.slice(0, 128), error: ack.error }, 'heartbeat rejected');
    }
    this.reply(session, ack, receivedWallMs);
    if (refused !== undefined) {
      this.logger.info(
        { hiveId: payload.hiveId.slice(0, 128), tokenHive: session.token?.hiveId, peer: session.peer },
        'heartbeat stream refused: hive not admitted',
      );
      this.end(stream, refused);
    }
  }

  /** Writes an ack. Backpressure: a hive that does not read its acks stops being read, instead of growing our buffers. */
  private reply(session: Session, ack: AckDraft, receivedWallMs: number): void {
    // The call's serializer sends bytes as they are (grpc-service.ts).
    if (!session.call.write(this.acks.encode(ack, receivedWallMs) as unknown as HeartbeatAck)) {
      session.call.pause();
      session.call.once('drain', () => session.call.resume());
    }
  }


  /** Hands a validated payload to the registry and fills in the ack; the registry's reason when it rejected it. */
  private apply(
    stream: StreamId,
    session: Session,
    heartbeat: Heartbeat,
    receivedWallMs: number,
    ack: AckDraft,
  ): HeartbeatRejectionReason | undefined {
    const outcome = this.registry.applyHeartbeat(stream, heartbeat);
    if (!outcome.accepted) {
      ack.error = outcome.error;
      return outcome.reason;
    }
    ack.accepted = true;
    this.admission?.seen(outcome.hiveId, receivedWallMs, session.peer);
    if (session.hiveId === undefined) {
      session.hiveId = outcome.hiveId;
      this.holders.set(outcome.hiveId, stream);
      this.unbound.remove(stream);
      this.logger.info({ hiveId: outcome.hiveId, peer: session.peer }, 'hive connected');
    }
    if (outcome.superseded !== undefined) {
      this.logger.info({ hiveId: outcome.hiveId }, 'newer heartbeat stream supersedes the previous one');
      this.end(outcome.superseded, {
        code: status.ABORTED,
        details: `superseded by a newer heartbeat stream for hive ${quote(outcome.hiveId)}`,
      });
    }
    return undefined;
  }
}
