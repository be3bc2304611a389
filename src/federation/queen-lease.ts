import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import type { EtcdKeepAlive, EtcdStore } from './etcd-store.js';

/** Told when the queen's lease changes hands. */
export interface QueenLeaseListener {
  /** A new lease is granted (the first, or one after a loss): what was under the old one must be written again. */
  granted(lease: string): void;
  /** The lease is gone, or must be taken for gone (no renewal for its TTL): keys under it are no longer ours. */
  lost(): void;
}

/** Waits between failed grants: from the first, doubling to the cap. */
const GRANT_RETRY_FIRST_MS = 250;
const GRANT_RETRY_CAP_MS = 2_000;
/** How often the lease's expiry is checked against the clock while no renewal comes. */
const EXPIRY_CHECK_MS = 100;

/**
 * One etcd lease per queen, kept alive by one stream, granted again after a loss; a queen never exits because of
 * etcd.
 *
 * States: none (before `start`, or after a loss until a grant succeeds) -> held (granted, renewed every third of its
 * TTL) -> none (etcd said it is gone, or no renewal for its TTL: a partitioned queen must not trust its own view
 * beyond the TTL, since etcd may have expired it meanwhile) -> held (a new lease) ...
 *
 * `cutOffMs` is how long the queen has gone without a word from etcd about its lease: the health check turns
 * NOT_SERVING past the TTL.
 */
export class QueenLease {
  private lease: string | undefined;
  private keepAlive: EtcdKeepAlive | undefined;
  /** Monotonic time until which the held lease is known alive (its last renewal plus the TTL etcd gave). */
  private aliveUntil = 0;
  /** Monotonic time of the last word from etcd about the lease (grant or renewal); undefined before the first. */
  private lastContact: number | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private grantTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private granting = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
    private readonly listener: QueenLeaseListener,
    private readonly logger: Logger,
  ) {}

  get ttlMs(): number {
    return this.ttlSeconds * 1000;
  }

  /** Milliseconds since etcd last answered about the lease (0 while it answers). */
  cutOffMs(): number {
    return this.lastContact === undefined ? 0 : Math.max(0, this.clock.now() - this.lastContact);
  }

  /** Grants the first lease, retrying until etcd answers; resolves with its id. */
  async start(): Promise<string> {
    let retryMs = GRANT_RETRY_FIRST_MS;
    for (;;) {
      try {
        return await this.grant();
      } catch (error) {
        if (this.stopped) throw error;
        this.logger.warn({ err: (error as Error).message, retryMs }, 'cannot grant the queen lease: etcd does not answer; retrying');
        await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
        retryMs = Math.min(retryMs * 2, GRANT_RETRY_CAP_MS);
      }
    }
  }

  /** Revokes the lease (every key under it goes at once: a stopping queen's hives leave without waiting). */
  async revoke(): Promise<void> {
    const lease = this.lease;
    this.stop();
    if (lease !== undefined) await this.store.revokeLease(lease);
  }

  stop(): void {
    this.stopped = true;
    this.keepAlive?.close();
    this.keepAlive = undefined;
    if (this.expiryTimer !== undefined) clearInterval(this.expiryTimer);
    if (this.grantTimer !== undefined) clearTimeout(this.grantTimer);
  }

  private async grant(): Promise<string> {
    const askedAt = this.clock.now();
    const lease = await this.store.grantLease(this.ttlSeconds);
    if (this.stopped) {
      await this.store.revokeLease(lease).catch(() => undefined);
      throw new Error('stopped');
    }
    this.lease = lease;
    // Counted from the request: etcd started the TTL somewhere between asking and hearing back.
    this.aliveUntil = askedAt + this.ttlMs;
    this.lastContact = this.clock.now();
    this.keepAlive = this.store.keepAlive(lease, Math.max(100, Math.floor(this.ttlMs / 3)), {
      renewed: (ttlSeconds) => {
        if (this.lease !== lease) return;
        const now = this.clock.now();
        this.lastContact = now;
        // The renewal was asked at most one round trip ago; etcd's TTL left runs from when it answered.
        this.aliveUntil = Math.max(this.aliveUntil, now + ttlSeconds * 1000 - EXPIRY_CHECK_MS);
      },
      gone: () => {
        if (this.lease !== lease) return;
        this.lastContact = this.clock.now();
        this.logger.warn({ lease }, 'etcd says the queen lease is gone: granting a new one');
        this.drop();
      },
      interrupted: (error) => {
        this.logger.debug({ err: error.message }, 'lease keep-alive stream interrupted; reopening');
      },
    });
    this.expiryTimer ??= setInterval(() => this.checkExpiry(), EXPIRY_CHECK_MS);
    this.expiryTimer.unref();
    this.logger.info({ lease, ttlSeconds: this.ttlSeconds }, 'queen lease granted');
    this.listener.granted(lease);
    return lease;
  }

  private checkExpiry(): void {
    if (this.lease === undefined || this.clock.now() < this.aliveUntil) return;
    this.logger.warn(
      { lease: this.lease, ttlSeconds: this.ttlSeconds },
      'no renewal of the queen lease for its TTL: taking it for gone, granting a new one once etcd answers',
    );
    this.drop();
  }

  /** The lease is gone: tell the listener once, then grant a new one until etcd answers. */
  private drop(): void {
    this.keepAlive?.close();
    this.keepAlive = undefined;
    this.lease = undefined;
    this.listener.lost();
    this.regrant(GRANT_RETRY_FIRST_MS);
  }

  private regrant(retryMs: number): void {
    if (this.stopped || this.granting) return;
    this.granting = true;
    this.grant().then(
      () => {
        this.granting = false;
      },
      (error: unknown) => {
        this.granting = false;
        if (this.stopped) return;
        this.logger.debug({ err: (error as Error).message }, 'queen lease grant failed; retrying');
        this.grantTimer = setTimeout(() => this.regrant(Math.min(retryMs * 2, GRANT_RETRY_CAP_MS)), retryMs);
        this.grantTimer.unref();
      },
    );
  }
}
