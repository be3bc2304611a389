import type { Clock } from './clock.js';

/**
 * A clock that only moves when its owner moves it (tests, benchmarks, simulations): monotonic and wall time
 * advance together.
 */
export class ManualClock implements Clock {
  constructor(
    private monotonicMs = 1_000,
    private wallMs = Date.UTC(2026, 0, 1),
  ) {}

  now(): number {
    return this.monotonicMs;
  }

  wallNow(): number {
    return this.wallMs;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a monotonic clock never goes back');
    this.monotonicMs += ms;
    this.wallMs += ms;
  }
}
