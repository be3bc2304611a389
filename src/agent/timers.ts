/**
 * Where the agent gets its timers from: the process's timers in production, ManualTimers (driven together with
 * a ManualClock) in tests and simulations. Handles are opaque: only the Timers that made one may clear it.
 */
export interface Timers {
  /** Calls `callback` once, `delayMs` ms from now; returns a handle for clearTimeout. */
  setTimeout(callback: () => void, delayMs: number): unknown;
  /** Cancels a timer that has not fired yet; a no-op for one that has fired or was cleared. */
  clearTimeout(handle: unknown): void;
}

/** The process's timers (they keep the process alive while pending, as an agent should). */
export const systemTimers: Timers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
