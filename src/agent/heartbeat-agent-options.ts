import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import type { BackoffOptions } from '../common/backoff.js';
import type { Timers } from './timers.js';

/** Interval used until the queen's first ack says otherwise, in ms (the contract's default). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** Shortest interval taken from an ack, in ms: a bad ack cannot make the agent spin. */
export const MIN_HEARTBEAT_INTERVAL_MS = 50;
/** Longest interval taken from an ack, in ms: a bad ack cannot silence the agent. */
export const MAX_HEARTBEAT_INTERVAL_MS = 600_000;

/** Least time between two snapshots sent on a change signal, in ms, when none is given. */
export const DEFAULT_MIN_CHANGE_INTERVAL_MS = 1_000;

/** Tells whoever subscribes that what the snapshot provider answers has changed. */
export interface ChangeSignal {
  /** Calls `listener` after each change; returns the function that unsubscribes it. */
  onChange(listener: () => void): () => void;
}

/** Tuning and seams of a HeartbeatAgent; only `logger` is required. */
export interface HeartbeatAgentOptions {
  /** Parent logger; the agent logs as its child with `component: 'agent'` and `hiveId`. */
  readonly logger: Logger;
  /** Monotonic time for intervals and deadlines, wall time for payload timestamps. Default the system clock. */
  readonly clock?: Clock;
  /** Where timers come from (ManualTimers in tests and simulations). Default the process's timers. */
  readonly timers?: Timers;
  /** Reconnect backoff: base 250 ms, cap 10 s, full jitter from `backoff.rng`, else `rng`. */
  readonly backoff?: BackoffOptions;
  /**
   * Uniform numbers in [0, 1): which queen the first call goes to when the transport names several, and the
   * backoff's jitter unless `backoff.rng` is given. Default `backoff.rng`, else the system's generator; tests seed it.
   */
  readonly rng?: () => number;
  /** Interval until the first ack arrives, in ms, bounded like an ack's. Default 5,000. */
  readonly defaultIntervalMs?: number;
  /** How long stop() waits for the queen to end a half-closed call before cancelling it, in ms. Default 2,000. */
  readonly stopTimeoutMs?: number;
  /**
   * A payload still unacknowledged after this long (checked at each interval) means the queen or the path to it
   * is gone without a word (no FIN): the call is cancelled and the agent reconnects. In ms; default 15,000 (the
   * queen's default offline threshold: by then the hive is offline anyway).
   */
  readonly ackTimeoutMs?: number;
  /**
   * Where the provider says its answer changed. On a signal the agent sends a full snapshot at once, without
   * waiting for the next beat, if it differs from the last one sent on the call; at most one such snapshot per
   * `minChangeIntervalMs` (later signals in that window are folded into one send at its end). Default none: the
   * provider is only asked at each beat.
   */
  readonly changes?: ChangeSignal;
  /** See `changes`. In ms; default DEFAULT_MIN_CHANGE_INTERVAL_MS. */
  readonly minChangeIntervalMs?: number;
}
