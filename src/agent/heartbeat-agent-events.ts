import type { status } from '@grpc/grpc-js';
import type { PayloadKind } from './payload-stream.js';

/** Why the agent stopped for good: our own stop(), or the queen ended the stream with ABORTED. */
export type StopReason = 'stopped' | 'aborted';

/** A Heartbeat call was opened (the queen's answer comes as the first accepted/rejected event). */
export interface ConnectedEvent {
  /** Calls opened so far, this one included (1 for the first). */
  readonly connection: number;
  /** The queen this call goes to (HOST:PORT), when the transport names its queens. */
  readonly queen?: string;
}

/** The queen accepted a payload. */
export interface AcceptedEvent {
  readonly sequence: bigint;
  readonly kind: PayloadKind;
  /** The interval the agent now uses, in ms (the ack's heartbeat_interval, bounded). */
  readonly intervalMs: number;
}

/** The queen rejected a payload; the stream stays open and the next payload is a full snapshot. */
export interface RejectedEvent {
  readonly sequence: bigint;
  readonly kind: PayloadKind;
  /** The queen's reason, from the ack. */
  readonly error: string;
}

/** The call ended with a status worth retrying; the agent reconnects after `retryInMs`. */
export interface DisconnectedEvent {
  readonly code: status;
  readonly details: string;
  /** The jittered backoff delay before the next call, in ms. */
  readonly retryInMs: number;
  /** The queen whose call ended (or could not be opened), when the transport names its queens. */
  readonly queen?: string;
}

/** The agent stopped for good; it never reconnects after this. */
export interface StoppedEvent {
  /**
   * 'stopped': our own stop(). 'aborted': the queen ended the stream with ABORTED, i.e. a newer stream for the
   * same hive superseded this one, or the hive was removed, deregistered or evicted (`details` says which); the
   * agent does not fight another agent for its hive.
   */
  readonly reason: StopReason;
  /** The call's final status code (OK for a stop before or between calls, CANCELLED for a stop that timed out). */
  readonly code: status;
  readonly details: string;
}

/** The events of a HeartbeatAgent, for its typed EventEmitter. */
export interface HeartbeatAgentEvents {
  connected: [ConnectedEvent];
  accepted: [AcceptedEvent];
  rejected: [RejectedEvent];
  disconnected: [DisconnectedEvent];
  stopped: [StoppedEvent];
}
