import type { Clock } from '../common/clock.js';

/** What `HiveLeases` needs of a hive record (the record itself is the registry's). */
export interface Lease {
  readonly hiveId: string;
  /** Lease time (see `HiveLeases`) of the last accepted payload; written only by `HiveLeases.renew`. */
  renewedAtMs: number;
}

/**
 * The registry's lease bookkeeping, like etcd's lessor: when each hive's lease was last renewed, in renewal order,
 * and which leases are past a given age.
 *
 * Ages are measured in lease time: the queen's monotonic clock minus every stall reported so far (`reportStall`).
 * While the queen cannot run (event loop blocked, process paused) no heartbeat is read, so that time must not count
 * against any hive: a stall reported after a hive's last renewal lengthens its lease by the stall, one reported
 * before it does not touch it. Subtracting one running total keeps that O(1): no lease is rewritten.
 *
 * Renewal order is deadline order only while stamps never decrease, but lease time goes back by each reported
 * stall. A payload read after a stall ended but before it was reported (its socket was served before the timer
 * that measures stalls) is stamped ahead of the lease time that follows the report; so `renew` never stamps
 * earlier than the newest stamp. A hive renewed in that window or just after it may keep its lease up to one stall
 * longer; none loses any.
 */
export class HiveLeases<T extends Lease> {
  /** Leases by renewal, oldest first: re-inserted on every renewal; the deadline order (see above). */
  private readonly order = new Map<string, T>();
  /** Sum of every reported stall, in milliseconds. */
  private stalledMs = 0;
  private newestRenewalMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** The current lease time: monotonic milliseconds minus every stall reported so far. */
  now(): number {
    return this.clock.now() - this.stalledMs;
  }

  /** The queen could not run for `stalledMs`: that time does not count toward any lease renewed before now. */
  reportStall(stalledMs: number): void {
    if (!Number.isFinite(stalledMs) || stalledMs < 0) {
      throw new RangeError(`stalledMs: must be a finite number of milliseconds >= 0, got ${stalledMs}`);
    }
    this.stalledMs += stalledMs;
  }

  /** Stamps `lease` with the current lease time and moves it to the back of the order. */
  renew(lease: T): void {
    lease.renewedAtMs = Math.max(this.now(), this.newestRenewalMs);
    this.newestRenewalMs = lease.renewedAtMs;
    this.order.delete(lease.hiveId);
    this.order.set(lease.hiveId, lease);
  }

  /** Forgets a lease; no-op for an unknown one. */
  delete(hiveId: string): void {
    this.order.delete(hiveId);
  }

  /**
   * Leases at least `ageMs` old in lease time, oldest first; looks no further than the first younger one. The
   * caller may `delete` each lease as it gets it.
   */
  *expired(ageMs: number): Generator<T, void, undefined> {
    const now = this.now();
    for (const lease of this.order.values()) {
      if (now - lease.renewedAtMs < ageMs) return;
      yield lease;
    }
  }

  /** Monotonic time (`Clock.now()`) at which the oldest lease becomes `ageMs` old, or undefined without leases. */
  nextExpiryAt(ageMs: number): number | undefined {
    // Stalls reported from now on would move it later; the caller asks again after each sweep.
    for (const lease of this.order.values()) return lease.renewedAtMs + ageMs + this.stalledMs;
    return undefined;
  }
}
