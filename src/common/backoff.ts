/** Tuning of a Backoff; every field has a default. */
export interface BackoffOptions {
  /** Ceiling of the first delay (attempt 0), in ms. Default 250. */
  readonly baseMs?: number;
  /** Largest ceiling, in ms: the ceiling doubles per attempt up to this. Default 10,000 (the contract's cap). */
  readonly capMs?: number;
  /** Uniform random numbers in [0, 1). Default Math.random; tests inject a seeded generator. */
  readonly rng?: () => number;
}

/** Default ceiling of the first reconnect delay, in ms. */
export const DEFAULT_BACKOFF_BASE_MS = 250;
/** Default cap of the reconnect delay, in ms: a restarted queen has its fleet back within about this long. */
export const DEFAULT_BACKOFF_CAP_MS = 10_000;

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay
 * before attempt n is uniform in [0, min(capMs, baseMs * 2^n)), so a fleet that lost its queen at the same
 * instant comes back spread over the whole window instead of in synchronized waves.
 *
 * `next()` hands out the delay for the current attempt and moves to the next one; `reset()` goes back to attempt 0
 * and is called once a connection has proved good (the queen accepted a payload on it).
 */
export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly rng: () => number;
  private attemptIndex = 0;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.capMs = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
    this.rng = options.rng ?? Math.random;
    if (!(this.baseMs > 0) || !Number.isFinite(this.baseMs)) {
      throw new RangeError(`baseMs: must be a positive number of ms, got ${this.baseMs}`);
    }
    if (!(this.capMs >= this.baseMs) || !Number.isFinite(this.capMs)) {
      throw new RangeError(`capMs: must be a number of ms at least baseMs (${this.baseMs}), got ${this.capMs}`);
    }
  }

  /**
   * The attempt whose delay `next()` hands out next: 0 after construction or reset, one more per `next()`, and no
   * longer counted once its ceiling has reached the cap.
   */
  get attempt(): number {
    return this.attemptIndex;
  }

  /** The upper bound (exclusive) of the delay of attempt `attempt`, in ms: min(capMs, baseMs * 2^attempt). */
  ceilingMs(attempt: number): number {
    // 2^attempt overflows to Infinity past ~1,000 attempts; min() with the cap keeps the result finite.
    return Math.min(this.capMs, this.baseMs * 2 ** attempt);
  }

  /** The delay before the next attempt, in whole ms in [0, ceilingMs(attempt)); then moves to the next attempt. */
  next(): number {
    const ceiling = this.ceilingMs(this.attemptIndex);
    // Once at the cap, stop counting: the ceiling no longer changes and the counter cannot grow without bound.
    if (ceiling < this.capMs) this.attemptIndex += 1;
    return Math.floor(this.rng() * ceiling);
  }

  /** Back to attempt 0: the next delay is below baseMs again. */
  reset(): void {
    this.attemptIndex = 0;
  }
}
