/**
 * Where the domain gets its time from. Domain code never calls Date.now(), performance.now() or timers: it is
 * handed a Clock, and tests hand it a manual one.
 */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin). Used for every TTL, threshold and deadline. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch. Used only for what goes on the wire or in logs. */
  wallNow(): number;
}

/** The process clock: performance.now() is monotonic, Date.now() is wall time. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};
