/**
 * The requests one worker runs at once: at most `limit`; the others wait in arrival order (FIFO), as vLLM queues
 * what its batch cannot take. A waiter whose client goes away leaves the queue without ever taking a slot.
 * `onChange` (optional) is called once after every operation that changed `inFlight` or `queued`, with both
 * already up to date; it must not throw.
 */
export class RequestSlots {
  private running = 0;
  private peak = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly limit: number,
    private readonly onChange: () => void = () => undefined,
  ) {
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
    if (this.hasFreeSlot()) {
      this.take();
      this.onChange();
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
        this.onChange();
        resolve(false);
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', leave, { once: true });
      this.onChange();
    });
  }

  /** Gives a slot back; the longest waiter, if any, takes it at once. */
  release(): void {
    this.releaseOne();
    this.onChange();
  }

  /**
   * Background requests (other clients' traffic, in a simulation): `limit` of them arrive at once and queue like
   * any request, so they take every free slot now and, behind the requests already waiting, each slot given back
   * until they hold all of them. They hold their slots until the returned function is called (idempotent), which
   * gives back every slot they hold and takes those still waiting out of the queue.
   */
  occupy(): () => void {
    let held = 0;
    let ended = false;
    const queued: (() => void)[] = [];
    for (let i = 0; i < this.limit; i++) {
      const grant = (): void => {
        this.take();
        held += 1;
      };
      if (this.hasFreeSlot()) grant();
      else {
        this.waiting.push(grant);
        queued.push(grant);
      }
    }
    this.onChange();
    return () => {
      if (ended) return;
      ended = true;
      for (const grant of queued) {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
      }
      for (; held > 0; held -= 1) this.releaseOne();
      this.onChange();
    };
  }

  private hasFreeSlot(): boolean {
    return this.running < this.limit && this.waiting.length === 0;
  }

  private releaseOne(): void {
    if (this.running === 0) throw new Error('release: no slot is held');
    this.running -= 1;
    this.waiting.shift()?.();
  }

  private take(): void {
    this.running += 1;
    this.peak = Math.max(this.peak, this.running);
  }
}
