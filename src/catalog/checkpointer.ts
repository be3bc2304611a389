import type { Logger } from 'pino';

/** The timer functions the catalog uses (checkpoints, the etcd catalog's re-list); tests hand it fake ones. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd. */
export const nodeTimers: Timers = {
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    // A pending checkpoint or re-list never keeps the process alive: shutdown flushes and closes explicitly.
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Told of every flush attempt (metrics), so the catalog needs no metrics library: `flushed` after a flush that
 * wrote something (those that find nothing pending take no time worth measuring), `failed` after one that threw.
 */
export interface CheckpointObserver {
  flushed(durationMs: number, written: number): void;
  failed(): void;
}

export interface CheckpointerOptions {
  /** Time between two flushes while writes succeed. */
  readonly intervalMs: number;
  /** Longest wait between two attempts after failures (the wait doubles with each failure in a row). */
  readonly maxBackoffMs: number;
  readonly observer?: CheckpointObserver;
}

/**
 * Calls `flush` once per interval, so heartbeats never wait for the store: one write per interval, whatever the
 * fleet size. A failing flush (disk full, database locked, file made read-only, etcd unreachable) is logged and
 * retried with exponential backoff, doubling from the interval up to `maxBackoffMs`; what it had to write stays
 * pending meanwhile, and heartbeats and lookups go on from memory. `stop` flushes one last time.
 *
 * `flush` is asynchronous (a store may answer over the network): the next one is scheduled only once the previous
 * one has settled, so two never overlap.
 *
 * States: idle (not started) -> running (a flush is scheduled or in flight) -> stopped (final flush done; nothing
 * scheduled).
 */
export class Checkpointer {
  private timer: unknown;
  private failures = 0;
  private stopped = false;
  /** The periodic flush in flight, if any: the final flush waits for it. */
  private inFlight: Promise<void> | undefined;
  private stopping: Promise<boolean> | undefined;

  constructor(
    private readonly flush: () => Promise<number>,
    private readonly options: CheckpointerOptions,
    private readonly logger: Logger,
    private readonly timers: Timers = nodeTimers,
  ) {
    if (!(options.intervalMs > 0)) throw new RangeError('intervalMs must be positive');
    if (!(options.maxBackoffMs >= options.intervalMs)) throw new RangeError('maxBackoffMs must be at least intervalMs');
  }

  /** Failed flushes in a row (0 while writes succeed). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  start(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.schedule(this.options.intervalMs);
  }

  /**
   * Cancels the schedule, waits for a flush in flight, and flushes one last time; resolves true when everything
   * pending was written. A second call flushes nothing and answers the same.
   */
  stop(): Promise<boolean> {
    if (this.stopping !== undefined) return this.stopping;
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const running = this.inFlight;
    this.stopping = running === undefined ? this.attempt('final') : running.then(() => this.attempt('final'));
    return this.stopping;
  }

  /** How long to wait before the next attempt after `failures` failures in a row. */
  delayAfter(failures: number): number {
    if (failures === 0) return this.options.intervalMs;
    return Math.min(this.options.intervalMs * 2 ** Math.min(failures, 30), this.options.maxBackoffMs);
  }

  private schedule(ms: number): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      const attempt = this.attempt('periodic').then(() => {
        this.inFlight = undefined;
        if (!this.stopped) this.schedule(this.delayAfter(this.failures));
      });
      this.inFlight = attempt;
    }, ms);
  }

  /** One flush; never rejects (a failure is counted and logged). */
  private async attempt(kind: 'periodic' | 'final'): Promise<boolean> {
    const started = performance.now();
    let written: number;
    try {
      written = await this.flush();
    } catch (error) {
      this.failures += 1;
      this.options.observer?.failed();
      const message = error instanceof Error ? error.message : String(error);
      if (kind === 'final') {
        this.logger.error({ err: message, failures: this.failures }, 'final catalog checkpoint failed: the last heartbeat times are lost');
      } else {
        this.logger.error(
          { err: message, failures: this.failures, retryInMs: this.delayAfter(this.failures) },
          'catalog checkpoint failed; heartbeats and lookups go on from memory, retrying',
        );
      }
      return false;
    }
    if (this.failures > 0) {
      this.logger.info({ failuresBefore: this.failures, written }, 'catalog checkpoint recovered');
      this.failures = 0;
    }
    if (written > 0) {
      const ms = performance.now() - started;
      this.options.observer?.flushed(ms, written);
      this.logger.debug({ written, ms: Math.round(ms * 1000) / 1000, kind }, 'catalog checkpoint');
    }
    return true;
  }
}
