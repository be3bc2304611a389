import type { Clock } from '../common/clock.js';
import type { Timers } from '../agent/timers.js';
import type { Endpoint } from './worker-routes.js';

/** Options, counters and defaults of SimulatedInference (simulated-inference.ts), which re-exports them. */

/** Largest request body accepted, in bytes (413 above). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CONCURRENCY = 4;
export const DEFAULT_FIRST_BYTE_DELAY_MS = 20;
export const DEFAULT_CHUNK_DELAY_MS = 5;

/** One worker the server answers for. */
export interface SimulatedWorkerSpec {
  /** Printable ASCII (it goes into the `x-simulated-worker` header), 1-128 characters. */
  readonly workerId: string;
  /** The one model it serves: requests naming another get 404 `model_not_found`. */
  readonly modelId: string;
}

export interface SimulatedInferenceOptions {
  readonly workers: readonly SimulatedWorkerSpec[];
  /** Address to bind. Default 127.0.0.1: loopback only unless told otherwise. */
  readonly host?: string;
  /** Port to bind; default 0 (any free port, see `address`). */
  readonly port?: number;
  /**
   * Host in the workers' URLs. Default: `host`, except that a wildcard bind (0.0.0.0, ::) advertises loopback
   * (the only address sure to reach it); give the machine's name to be reached from elsewhere.
   */
  readonly advertiseHost?: string;
  /** Requests one worker runs at once; the others wait FIFO. Default 4. */
  readonly maxConcurrency?: number;
  /** Before the first byte of an answer (prefill), in ms; a fifth of it on a prefix-cache hit. Default 20. */
  readonly firstByteDelayMs?: number;
  /** Between streamed tokens, in ms. Default 5. */
  readonly chunkDelayMs?: number;
  /** Largest request body, in bytes. Default DEFAULT_MAX_BODY_BYTES. */
  readonly maxBodyBytes?: number;
  /** Paces answers. Default the process's timers. */
  readonly timers?: Timers;
  /** Wall time for `created`. Default the system clock. */
  readonly clock?: Clock;
  /** Told of every request's end (for logs and tests); must not throw. */
  readonly onRequestEnd?: (end: InferenceRequestEnd) => void;
}

/**
 * How a request ended: `served` (answered in full, 200), `rejected` (an error answer), `aborted` (the client
 * went away, or the server closed, before the end), `killed` (cut off by `kill`) or `failed` (a fault of the
 * server itself: 500 or a cut connection, with the error).
 */
export interface InferenceRequestEnd {
  /** Undefined when the path names no known worker (and for `failed`). */
  readonly workerId?: string;
  readonly endpoint?: Endpoint;
  readonly outcome: 'served' | 'rejected' | 'aborted' | 'killed' | 'failed';
  /** The status sent; undefined when no answer was sent. */
  readonly status?: number;
  /** With `failed`: what went wrong. */
  readonly error?: unknown;
}

/** Counters of one worker's inference requests (chat, completions, embeddings; not models). */
export interface SimulatedWorkerStats {
  /** Answered in full. */
  readonly served: number;
  /** Valid requests cut short: the client went away or the worker was killed, while queued or answering. */
  readonly aborted: number;
  /** Refused with an error answer (400, 404, 405, 413). */
  readonly rejected: number;
  /** Holding a slot now. */
  readonly inFlight: number;
  /** Waiting for a slot now. */
  readonly queued: number;
  /** Most in flight at once so far (never above maxConcurrency). */
  readonly peakInFlight: number;
  /** Chat and completions requests that found their prompt's first 256 bytes in the prefix cache (see prefix-memory.ts). */
  readonly prefixHits: number;
  /** Chat and completions requests that did not. */
  readonly prefixMisses: number;
}
