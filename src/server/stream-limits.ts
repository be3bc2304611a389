import type { StreamId } from '../registry/types.js';

// The heartbeat streams' limits against abuse, as small pieces the stream adapter composes: streams per remote
// address, a token bucket per stream, and the streams still waiting for their first accepted payload.

/** The host part of a grpc-js peer string (`1.2.3.4:5678`, `[::1]:5678`): what the per-address limit counts. */
export function peerAddress(peer: string): string {
  const colon = peer.lastIndexOf(':');
  const host = colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? peer.slice(0, colon) : peer;
  return host.replace(/^\[(.*)\]$/, '$1');
}

/** Open streams per remote address. */
export class AddressCounts {
  private readonly counts = new Map<string, number>();

  /** Open streams from `address`. */
  of(address: string): number {
    return this.counts.get(address) ?? 0;
  }

  add(address: string): void {
    this.counts.set(address, this.of(address) + 1);
  }

  remove(address: string): void {
    const left = this.of(address) - 1;
    if (left > 0) this.counts.set(address, left);
    else this.counts.delete(address);
  }
}

/**
 * A token bucket: `rate` payloads per `intervalMs` on average, bursts up to `rate` at once. Times are monotonic ms.
 */
export class RateAllowance {
  private allowance: number;

  constructor(
    private readonly rate: number,
    private readonly intervalMs: number,
    private refilledAt: number,
  ) {
    this.allowance = rate;
  }

  /** Takes one payload's worth at `now`; false when none is left (the payload is over the rate). */
  take(now: number): boolean {
    const refill = Math.max(0, now - this.refilledAt) * (this.rate / this.intervalMs);
    this.allowance = Math.min(this.rate, this.allowance + refill);
    this.refilledAt = now;
    if (this.allowance < 1) return false;
    this.allowance -= 1;
    return true;
  }
}

/** Streams with no accepted payload yet, in opening order, and when each opened (monotonic ms). */
export class UnboundStreams {
  private readonly openedAt = new Map<StreamId, number>();

  add(stream: StreamId, now: number): void {
    this.openedAt.set(stream, now);
  }

  /** The stream is bound (or gone): it no longer waits. */
  remove(stream: StreamId): void {
    this.openedAt.delete(stream);
  }

  /** The streams that have waited `timeoutMs` or longer at `now`, oldest first; walks only those (and one more). */
  overdue(now: number, timeoutMs: number): StreamId[] {
    const due: StreamId[] = [];
    for (const [stream, openedAt] of this.openedAt) {
      // In opening order: the first stream still within its time means every later one is too.
      if (now - openedAt < timeoutMs) break;
      due.push(stream);
    }
    return due;
  }
}
