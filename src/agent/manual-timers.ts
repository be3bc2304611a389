import type { ManualClock } from '../common/manual-clock.js';
import type { Timers } from './timers.js';

interface PendingTimer {
  readonly id: number;
  readonly dueAt: number;
  readonly callback: () => void;
}

/**
 * Timers that fire only when their owner advances the ManualClock they share, for tests and simulations (many
 * agents in one process without real waiting). A timer is due when the clock reaches `now() + delayMs` of its
 * creation; due timers fire in due order (ties in creation order), each with the clock set to its due time.
 */
export class ManualTimers implements Timers {
  private readonly pending: PendingTimer[] = [];
  private nextId = 1;

  constructor(private readonly clock: ManualClock) {}

  setTimeout(callback: () => void, delayMs: number): unknown {
    const timer = { id: this.nextId++, dueAt: this.clock.now() + Math.max(0, delayMs), callback };
    this.pending.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    const index = this.pending.findIndex((t) => t.id === handle);
    if (index >= 0) this.pending.splice(index, 1);
  }

  /** Timers not yet fired, as delays from now in ms, in due order. */
  get delaysMs(): number[] {
    return this.sorted().map((t) => t.dueAt - this.clock.now());
  }

  /**
   * Moves the clock forward by `ms`, firing every timer that comes due on the way (including timers set by the
   * callbacks themselves, if due within the window).
   */
  advance(ms: number): void {
    const until = this.clock.now() + ms;
    for (;;) {
      const next = this.sorted()[0];
      if (next === undefined || next.dueAt > until) break;
      this.clearTimeout(next.id);
      this.clock.advance(Math.max(0, next.dueAt - this.clock.now()));
      next.callback();
    }
    this.clock.advance(Math.max(0, until - this.clock.now()));
  }

  private sorted(): PendingTimer[] {
    return [...this.pending].sort((a, b) => a.dueAt - b.dueAt || a.id - b.id);
  }
}
