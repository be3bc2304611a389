import type { StatusObject } from '@grpc/grpc-js';
import type { HeartbeatAck, HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb.js';

/**
 * The client side of one Heartbeat call, as the agent uses it. grpc-js's ClientDuplexStream<HiveHeartbeatPayload,
 * HeartbeatAck> satisfies it; unit tests hand the agent a fake.
 *
 * Events: 'data' per ack (in payload order); 'status' exactly once when the call is over, whoever ended it (a
 * non-OK status is also emitted as 'error' first, as grpc-js does; the agent only listens to keep it from
 * throwing).
 */
export interface HeartbeatCall {
  /** Queues one payload; false means the transport's buffer is full (the agent still only writes once per interval). */
  write(payload: HiveHeartbeatPayload): boolean;
  /** Half-closes our side: the queen answers by ending the call with OK. */
  end(): void;
  /** Abandons the call locally; it ends with CANCELLED. */
  cancel(): void;
  on(event: 'data', listener: (ack: HeartbeatAck) => void): unknown;
  on(event: 'status', listener: (status: StatusObject) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Opens Heartbeat calls to a queen, or to any of several queens over one fleet. */
export interface HeartbeatTransport {
  /**
   * The queens this transport reaches (HOST:PORT), in the order given. When set, the agent chooses which one each
   * call goes to (a random one first, the next in order after a failure: see HeartbeatAgent) and names it in its
   * logs and events. Unset: the transport decides where calls go, and the agent names no queen.
   */
  readonly queens?: readonly string[];
  /**
   * Opens a new call, to `queen` (one of `queens`) when the transport lists them. May throw (the agent then counts
   * it as a failed connection and backs off).
   */
  open(queen?: string): HeartbeatCall;
  /** Releases the connection once the agent has stopped for good. Optional; called at most once. */
  close?(): void;
}
