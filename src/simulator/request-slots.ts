/**
 * The requests one worker runs at once: at most `limit`; the others wait in arrival order (FIFO), as vLLM queues
 * what its batch cannot take. A waiter whose client goes away leaves the queue without ever taking a slot.
 */
export class RequestSlots {
  private running = 0;
  private peak = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit: must be a whole number of at least 1, got ${limit}`);
  }

  /** Requests holding a slot now. */
  get inFlight(): number {
    return this.running;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Most requests that held a slot at the same time (never above `limit`). */
  get peakInFlight(): number {
    return this.peak;
  }

  /**
   * Resolves true once the caller holds a slot (it must call `release` exactly once), or false if `signal`
   * aborts first (it holds nothing then).
   */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.running < this.limit && this.waiting.length === 0) {
      this.take();
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        signal.removeEventListener('abort', leave);
        this.take();
        resolve(true);
      };
      const leave = (): void => {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(false);
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', leave, { once: true });
    });
  }

  /** Gives a slot back; the longest waiter, if any, takes it at once. */
  release(): void {
    if (this.running === 0) throw new Error('release: no slot is held');
    this.running -= 1;
    this.waiting.shift()?.();
  }

  private take(): void {
    this.running += 1;
    this.peak = Math.max(this.peak, this.running);
  }
}
