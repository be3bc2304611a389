import { EventEmitter } from 'node:events';
import type { Duration } from '@bufbuild/protobuf/wkt';
import { status, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.js';
import type { HeartbeatAck } from '../../gen/hive/v1/registry_pb.js';
import { Backoff } from '../common/backoff.js';
import { systemRandom } from '../common/system-random.js';
import type { HeartbeatAgentEvents, StoppedEvent } from './heartbeat-agent-events.js';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MIN_CHANGE_INTERVAL_MS,
  MAX_HEARTBEAT_INTERVAL_MS,
  MIN_HEARTBEAT_INTERVAL_MS,
  type HeartbeatAgentOptions,
} from './heartbeat-agent-options.js';
import type { HeartbeatCall, HeartbeatTransport } from './heartbeat-transport.js';
import type { HiveSnapshot, SnapshotProvider } from './hive-snapshot.js';
import { PayloadStream } from './payload-stream.js';
import { QueenRotation } from './queen-rotation.js';
import { queenTransport, type QueenTransportOptions } from './queen-transport.js';
import { systemTimers, type Timers } from './timers.js';

export type * from './heartbeat-agent-events.js';
export * from './heartbeat-agent-options.js';
export type { PayloadKind } from './payload-stream.js';

/**
 * States of a HeartbeatAgent (the only place they are listed):
 * - `idle`: constructed; `start()` opens the first call.
 * - `streaming`: one call open. A full snapshot at once, then every interval a snapshot if the provider's answer
 *   differs from the last one the queen accepted on this call (or the last payload was rejected), else a tick.
 *   With a change signal, a changed snapshot also goes out between beats (at most one per change interval).
 * - `backoff`: the call ended with a status other than ABORTED (UNAVAILABLE on drain or no queen,
 *   PERMISSION_DENIED for a hive not admitted yet, UNAUTHENTICATED for a missing or revoked token, ...), or could
 *   not be opened; a timer reopens one after the jittered backoff delay. With several queens (the transport's
 *   `queens`) the first call goes to a random one and every failure, a call that worked and then ended included,
 *   sends the next call to the next queen in the list.
 * - `stopping`: `stop()` half-closed the call; waiting for the queen's OK (cancelled after `stopTimeoutMs`).
 * - `stopped`: final, after stop() or an ABORTED stream end. Nothing is scheduled; the transport is closed.
 */
export type AgentState = 'idle' | 'streaming' | 'backoff' | 'stopping' | 'stopped';

/** One open call: its payloads plus the agent's timers and flags for it. */
interface Stream {
  readonly call: HeartbeatCall;
  /** The queen the call went to, when the transport names its queens. */
  readonly queen: string | undefined;
  readonly payloads: PayloadStream;
  providerBusy: boolean;
  beatTimer?: unknown;
  /** Monotonic ms of the last beat: a new interval from the queen counts from here. */
  lastBeatAt: number;
  /** A send on a change signal, waiting for the change interval to pass. */
  changeTimer?: unknown;
  /** Monotonic ms of the last send on a change signal. */
  lastChangeSendAt?: number;
  /** Why we cancelled the call ourselves, reported instead of the bare CANCELLED details. */
  cancelledBecause?: string;
}

/**
 * Holds one Heartbeat stream to the queen for one hive, reconnecting with jittered backoff, until stopped or
 * superseded. See AgentState for the life cycle; events are typed by HeartbeatAgentEvents. Listeners run inside
 * the agent's handlers and must not throw.
 */
export class HeartbeatAgent extends EventEmitter<HeartbeatAgentEvents> {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly rotation: QueenRotation | undefined;
  private readonly stopTimeoutMs: number;
  private readonly ackTimeoutMs: number;
  private readonly minChangeIntervalMs: number;
  private unsubscribeChanges: (() => void) | undefined;
  private currentState: AgentState = 'idle';
  private stream: Stream | undefined;
  private intervalMs: number;
  private connections = 0;
  private reconnectTimer: unknown;
  private stopTimer: unknown;
  private lastProviderError: string | undefined;
  private resolveStopped!: (event: StoppedEvent) => void;
  private readonly stoppedPromise = new Promise<StoppedEvent>((resolve) => (this.resolveStopped = resolve));

  constructor(
    readonly hiveId: string,
    private readonly provider: SnapshotProvider,
    private readonly transport: HeartbeatTransport,
    options: HeartbeatAgentOptions,
  ) {
    super();
    this.log = options.logger.child({ component: 'agent', hiveId });
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? systemTimers;
    const rng = options.rng ?? options.backoff?.rng ?? systemRandom;
    this.backoff = new Backoff({ ...options.backoff, rng: options.backoff?.rng ?? rng });
    this.rotation = transport.queens === undefined ? undefined : new QueenRotation(transport.queens, rng);
    this.intervalMs = boundedIntervalMs(options.defaultIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    this.stopTimeoutMs = options.stopTimeoutMs ?? 2_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 15_000;
    this.minChangeIntervalMs = options.minChangeIntervalMs ?? DEFAULT_MIN_CHANGE_INTERVAL_MS;
    this.changes = options.changes;
  }

  private readonly changes: HeartbeatAgentOptions['changes'];

  /**
   * An agent for the queen at `address` (HOST:PORT), or for any of several queens over one fleet (see AgentState),
   * over grpc-js; insecure unless `credentials` are given.
   */
  static forQueen(
    address: string | readonly string[],
    hiveId: string,
    provider: SnapshotProvider,
    options: HeartbeatAgentOptions & QueenTransportOptions,
  ): HeartbeatAgent {
    return new HeartbeatAgent(hiveId, provider, queenTransport(address, options), options);
  }

  /** Where the agent is in its life cycle (see AgentState). */
  get state(): AgentState {
    return this.currentState;
  }

  /** Opens the first call. A no-op unless the agent is idle. */
  start(): void {
    if (this.currentState !== 'idle') return;
    this.unsubscribeChanges = this.changes?.onChange(() => this.onProviderChange());
    this.connect();
  }

  /**
   * Says goodbye: half-closes the call so the queen ends it with OK and marks the hive offline at once, and
   * cancels every timer. Resolves once the call has ended (at most `stopTimeoutMs` later: then it is cancelled).
   * Idempotent; after an ABORTED end it resolves at once.
   */
  stop(): Promise<void> {
    const stream = this.stream;
    if (this.currentState === 'streaming' && stream !== undefined) {
      this.currentState = 'stopping';
      this.timers.clearTimeout(stream.beatTimer);
      this.timers.clearTimeout(stream.changeTimer);
      stream.call.end();
      this.stopTimer = this.timers.setTimeout(() => {
        this.log.warn({ stopTimeoutMs: this.stopTimeoutMs }, 'the queen did not end the stream after our goodbye: cancelling it');
        stream.call.cancel();
        this.finish({ reason: 'stopped', code: status.CANCELLED, details: 'cancelled: no answer to our half-close' });
      }, this.stopTimeoutMs);
    } else if (this.currentState === 'idle' || this.currentState === 'backoff') {
      this.finish({ reason: 'stopped', code: status.OK, details: 'stopped while not connected' });
    }
    return this.stoppedPromise.then(() => undefined);
  }

  /** Resolves once the agent has stopped for good, by stop() or because the queen aborted the stream. */
  whenStopped(): Promise<StoppedEvent> {
    return this.stoppedPromise;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.connections += 1;
    const queen = this.rotation?.current;
    let call: HeartbeatCall;
    try {
      call = this.transport.open(queen);
    } catch (error) {
      this.retry(status.UNAVAILABLE, `could not open a heartbeat stream: ${String(error)}`, queen);
      return;
    }
    const stream: Stream = {
      call,
      queen,
      payloads: new PayloadStream(call, this.hiveId, this.clock),
      providerBusy: false,
      lastBeatAt: this.clock.now(),
    };
    this.stream = stream;
    this.currentState = 'streaming';
    call.on('data', (ack) => this.onAck(stream, ack));
    // grpc-js reports a non-OK end as 'error' and then as 'status'; 'status' is handled, 'error' must not throw.
    call.on('error', () => undefined);
    call.on('status', (callStatus) => this.onStatus(stream, callStatus));
    this.log.info({ connection: this.connections, queen }, 'heartbeat stream opened');
    this.emit('connected', { connection: this.connections, ...(queen === undefined ? {} : { queen }) });
    this.beat(stream);
  }

  /** One interval's work: schedule the next beat, then send a snapshot or a tick (or nothing). */
  private beat(stream: Stream): void {
    if (this.stream !== stream || this.currentState !== 'streaming') return;
    if (stream.payloads.oldestUnackedAgeMs() >= this.ackTimeoutMs) {
      // The call's CANCELLED status then takes the usual way out: disconnected, backoff, a new call.
      stream.cancelledBecause = `no ack from the queen within ${this.ackTimeoutMs} ms`;
      stream.call.cancel();
      return;
    }
    // Fixed rate: the next beat is due one interval after this one started, however long the provider takes.
    stream.lastBeatAt = this.clock.now();
    stream.beatTimer = this.timers.setTimeout(() => this.beat(stream), this.intervalMs);
    this.collect(stream, (snapshot) => this.send(stream, snapshot));
  }

  /**
   * Asks the provider for the hive's state and hands it to `deliver` (at once, or when its promise settles); a
   * provider that throws, rejects or is still busy with the previous answer counts as failed.
   */
  private collect(stream: Stream, deliver: (snapshot: HiveSnapshot) => void): void {
    if (stream.providerBusy) {
      this.providerFailed(stream, new Error('still computing the previous snapshot'));
      return;
    }
    let result: HiveSnapshot | Promise<HiveSnapshot>;
    try {
      result = this.provider();
    } catch (error) {
      this.providerFailed(stream, error);
      return;
    }
    // A thenable check, not instanceof: promises from another realm (vm contexts, jest) are promises too.
    if (typeof (result as Partial<PromiseLike<HiveSnapshot>>).then === 'function') {
      stream.providerBusy = true;
      (result as Promise<HiveSnapshot>).then(
        (snapshot) => {
          stream.providerBusy = false;
          deliver(snapshot);
        },
        (error: unknown) => {
          stream.providerBusy = false;
          this.providerFailed(stream, error);
        },
      );
    } else {
      deliver(result as HiveSnapshot);
    }
  }

  /** The provider says its answer changed: send it now, or at the end of the change interval. */
  private onProviderChange(): void {
    const stream = this.stream;
    if (stream === undefined || this.currentState !== 'streaming' || stream.changeTimer !== undefined) return;
    const sinceLast = stream.lastChangeSendAt === undefined ? Infinity : this.clock.now() - stream.lastChangeSendAt;
    const delayMs = Math.max(0, this.minChangeIntervalMs - sinceLast);
    stream.changeTimer = this.timers.setTimeout(() => {
      stream.changeTimer = undefined;
      if (this.stream !== stream || this.currentState !== 'streaming') return;
      stream.lastChangeSendAt = this.clock.now();
      // The provider is still on a beat's answer: try again one change interval later rather than count a failure.
      if (stream.providerBusy) return this.onProviderChange();
      this.collect(stream, (snapshot) => this.sendChanged(stream, snapshot));
    }, delayMs);
  }

  /** A send on a change signal: a snapshot if it differs from the last one sent on this call, else nothing. */
  private sendChanged(stream: Stream, snapshot: HiveSnapshot): void {
    if (this.stream !== stream || this.currentState !== 'streaming') return;
    try {
      stream.payloads.sendIfChanged(snapshot);
    } catch (error) {
      this.providerFailed(stream, error);
    }
  }

  private send(stream: Stream, snapshot: HiveSnapshot): void {
    if (this.stream !== stream || this.currentState !== 'streaming') return;
    try {
      stream.payloads.send(snapshot);
    } catch (error) {
      this.providerFailed(stream, error);
      return;
    }
    if (this.lastProviderError !== undefined) {
      this.log.info('snapshot provider works again');
      this.lastProviderError = undefined;
    }
  }

  private providerFailed(stream: Stream, error: unknown): void {
    if (this.stream !== stream || this.currentState !== 'streaming') return;
    const message = error instanceof Error ? error.message : String(error);
    // Warn once per distinct problem: a provider broken for an hour should not log every interval at warn.
    const level = message === this.lastProviderError ? 'debug' : 'warn';
    this.lastProviderError = message;
    // The hive itself is alive and the queen keeps the last accepted snapshot, so a tick is true as far as we know.
    const sentTick = stream.payloads.tickIfAccepted();
    this.log[level]({ err: error, sentTick }, 'snapshot provider failed: the last accepted snapshot stands');
  }

  private onAck(stream: Stream, ack: HeartbeatAck): void {
    if (this.stream !== stream) return;
    const firstAccepted = ack.accepted && !stream.payloads.acceptedAny;
    const kind = stream.payloads.settle(ack);
    if (kind === undefined) {
      this.log.warn({ sequence: ack.sequence.toString() }, 'ack for a sequence we did not send: ignored');
      return;
    }
    if (ack.heartbeatInterval !== undefined) this.applyInterval(stream, durationMs(ack.heartbeatInterval));
    if (!ack.accepted) {
      this.log.warn({ sequence: ack.sequence.toString(), kind, error: ack.error }, 'queen rejected a heartbeat');
      this.emit('rejected', { sequence: ack.sequence, kind, error: ack.error });
      return;
    }
    if (firstAccepted) {
      this.backoff.reset();
      this.log.info(
        { connection: this.connections, queen: stream.queen, intervalMs: this.intervalMs },
        'connected: the queen accepted our snapshot',
      );
    }
    this.emit('accepted', { sequence: ack.sequence, kind, intervalMs: this.intervalMs });
  }

  /** Adopts the queen's interval; a pending beat is moved so it comes one new interval after the last one. */
  private applyInterval(stream: Stream, askedMs: number): void {
    if (!(askedMs > 0)) return;
    const intervalMs = boundedIntervalMs(askedMs);
    if (intervalMs === this.intervalMs) return;
    this.intervalMs = intervalMs;
    if (this.currentState !== 'streaming' || stream.beatTimer === undefined) return;
    this.timers.clearTimeout(stream.beatTimer);
    const delayMs = Math.max(0, stream.lastBeatAt + intervalMs - this.clock.now());
    stream.beatTimer = this.timers.setTimeout(() => this.beat(stream), delayMs);
  }

  private onStatus(stream: Stream, callStatus: StatusObject): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.timers.clearTimeout(stream.beatTimer);
    this.timers.clearTimeout(stream.changeTimer);
    const details = stream.cancelledBecause ?? callStatus.details;
    if (this.currentState === 'stopping') {
      this.finish({ reason: 'stopped', code: callStatus.code, details });
    } else if (callStatus.code === status.ABORTED) {
      this.log.warn({ code: status[callStatus.code], details, queen: stream.queen }, 'the queen ended our stream for good: not reconnecting');
      this.finish({ reason: 'aborted', code: callStatus.code, details });
    } else {
      this.retry(callStatus.code, details, stream.queen);
    }
  }

  private retry(code: status, details: string, queen: string | undefined): void {
    const retryInMs = this.backoff.next();
    // Whatever went wrong (refused, unreachable, drained, silent, or a stream that worked and then dropped: the
    // queen may be gone), another queen may do better; with one queen this changes nothing.
    this.rotation?.moveOn();
    this.currentState = 'backoff';
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), retryInMs);
    // The queen draining or not there yet is routine; a refused token or hive needs an operator (the queen's
    // message says why); anything else needs a look. All of them retry: a token can be rotated into the token
    // file, a hive registered, without restarting the agent.
    const level =
      code === status.UNAVAILABLE
        ? 'info'
        : code === status.UNAUTHENTICATED || code === status.PERMISSION_DENIED
          ? 'error'
          : 'warn';
    this.log[level]({ code: status[code], details, retryInMs, queen, nextQueen: this.rotation?.current }, 'heartbeat stream ended: reconnecting');
    this.emit('disconnected', { code, details, retryInMs, ...(queen === undefined ? {} : { queen }) });
  }

  private finish(event: StoppedEvent): void {
    if (this.currentState === 'stopped') return;
    this.currentState = 'stopped';
    if (this.stream !== undefined) {
      this.timers.clearTimeout(this.stream.beatTimer);
      this.timers.clearTimeout(this.stream.changeTimer);
    }
    this.stream = undefined;
    this.unsubscribeChanges?.();
    this.unsubscribeChanges = undefined;
    this.timers.clearTimeout(this.reconnectTimer);
    this.timers.clearTimeout(this.stopTimer);
    this.transport.close?.();
    if (event.reason === 'stopped') this.log.info({ code: status[event.code] }, 'agent stopped');
    this.resolveStopped(event);
    this.emit('stopped', event);
  }
}

function boundedIntervalMs(ms: number): number {
  return Math.min(MAX_HEARTBEAT_INTERVAL_MS, Math.max(MIN_HEARTBEAT_INTERVAL_MS, ms));
}

function durationMs(duration: Duration): number {
  return Number(duration.seconds) * 1_000 + duration.nanos / 1_000_000;
}
