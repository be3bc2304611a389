import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { StreamId } from '../registry/types.js';
import { DomainError } from '../common/domain-error.js';
import { EtcdUnavailableError, type EtcdStore } from './etcd-store.js';
import { FleetMirror } from './fleet-mirror.js';
import { HivePublisher } from './hive-publisher.js';
import { QueenDirectory, type QueenRecord } from './queen-directory.js';
import { QueenLease } from './queen-lease.js';

export interface FederationOptions {
  readonly store: EtcdStore;
  /** Every key of the federation starts with it (`--etcd-prefix`, ends with '/'). */
  readonly prefix: string;
  readonly self: QueenRecord;
  readonly leaseTtlSeconds: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What the federation needs the queen to do. */
export interface FederationHooks {
  /** End this queen's stream for a hive with ABORTED (another queen took the hive over, or removed it). */
  endStream(stream: StreamId, hiveId: string, why: string): void;
  /** A hive this queen streams was removed federation-wide meanwhile: remove it here and end its stream. */
  removeHive(hiveId: string, why: string): void;
  /** The queen sees the whole fleet (true) or has been cut off from etcd longer than its lease TTL (false). */
  healthChanged(serving: boolean): void;
}

/** How often the queen checks how long it has been cut off from etcd. */
const HEALTH_CHECK_MS = 200;

/**
 * This queen as a member of a federation: its lease and queen key, the publisher of the hives it owns, and the
 * mirror of every other queen's. `join` returns once the queen holds its id and has listed the fleet.
 *
 * Cut off from etcd longer than the lease TTL, the queen keeps serving its own hives, shows every other queen's
 * hive offline and reports NOT_SERVING; once a lease is granted again it claims each hive it still streams (unless
 * another queen owns it by then), and lists the fleet and the queens afresh.
 */
export class Federation {
  private readonly lease: QueenLease;
  private readonly directory: QueenDirectory;
  private readonly mirror: FleetMirror;
  private readonly publisher: HivePublisher;
  private healthTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private joined = false;
  private cutOff = false;
  private leases = 0;

  private constructor(
    private readonly registry: HiveRegistry,
    private readonly options: FederationOptions,
    private readonly hooks: FederationHooks,
  ) {
    const { store, prefix, self, clock, logger } = options;
    this.directory = new QueenDirectory(store, prefix, self, logger.child({ part: 'queens' }));
    this.mirror = new FleetMirror(
      store,
      prefix,
      self.queenId,
      registry,
      {
        endStream: (stream, hiveId, why) => hooks.endStream(stream, hiveId, why),
        ownershipLost: (hiveId) => this.publisher.ownershipLost(hiveId),
        claiming: (hiveId) => this.publisher.claiming(hiveId),
      },
      logger.child({ part: 'mirror' }),
    );
    this.publisher = new HivePublisher(
      store,
      self.queenId,
      registry,
      this.mirror,
      clock,
      {
        lostClaim: (hiveId, owner) => {
          if (registry.ownsHive(hiveId)) {
            hooks.removeHive(hiveId, owner === '' ? 'was removed from the federation' : `is owned by queen "${owner}"`);
          }
        },
      },
      logger.child({ part: 'publisher' }),
    );
    this.lease = new QueenLease(
      store,
      options.leaseTtlSeconds,
      clock,
      {
        granted: (lease) => this.granted(lease),
        lost: () => this.publisher.leaseLost(),
      },
      logger.child({ part: 'lease' }),
    );
  }

  /**
   * Joins: a lease, this queen's id (QueenIdTakenError if a live queen holds it past one lease TTL), the fleet
   * listed, and publication from then on.
   */
  static async join(registry: HiveRegistry, options: FederationOptions, hooks: FederationHooks): Promise<Federation> {
    const federation = new Federation(registry, options, hooks);
    try {
      await federation.start();
    } catch (error) {
      await federation.leave().catch(() => undefined);
      throw error;
    }
    return federation;
  }

  private async start(): Promise<void> {
    const lease = await this.lease.start();
    await this.directory.join(lease, this.lease.ttlMs, () => this.options.clock.now());
    await this.mirror.start();
    this.unsubscribe = this.registry.onEvent((event) => this.publisher.changed(event.hiveId));
    this.joined = true;
    // Streams accepted while this queen was joining (its id waiting for an old lease): claimed now.
    for (const hiveId of this.registry.allHiveIds()) if (this.registry.ownsHive(hiveId)) this.publisher.accepted(hiveId);
    this.healthTimer = setInterval(() => this.checkHealth(), HEALTH_CHECK_MS);
    this.healthTimer.unref();
  }

  /** A full snapshot was accepted for the hive on a stream here (the registry's observer). Hot path: O(1). */
  snapshotAccepted(hiveId: string): void {
    if (this.joined) this.publisher.accepted(hiveId);
  }

  /** RemoveHive on this queen: for a hive another queen owns, the removal goes through etcd to every queen. */
  async removeRemote(hiveId: string): Promise<void> {
    try {
      await this.publisher.removeRemote(hiveId);
    } catch (error) {
      if (error instanceof EtcdUnavailableError) {
        throw new DomainError('unavailable', `hive_id: the removal of hive ${JSON.stringify(hiveId)} must go through etcd, which did not answer: ${error.message}`);
      }
      throw error;
    }
  }

  /** Every live queen, sorted by id. */
  queens(): QueenRecord[] {
    return this.directory.list();
  }

  /** Stops publishing and mirroring and revokes the lease: this queen's keys (its hives, its id) go at once. */
  async leave(): Promise<void> {
    if (this.healthTimer !== undefined) clearInterval(this.healthTimer);
    this.unsubscribe?.();
    this.publisher.stop();
    this.mirror.stop();
    this.directory.stop();
    await this.lease.revoke();
  }

  private granted(lease: string): void {
    this.leases += 1;
    const afterLoss = this.leases > 1;
    this.publisher.leaseGranted(lease, afterLoss);
    if (!afterLoss) return;
    void this.directory.rejoin(lease).catch((error: unknown) => {
      this.options.logger.warn({ err: (error as Error).message }, 'could not announce this queen again; the next lease will');
    });
    // A queen that was cut off lists afresh once its health check sees etcd again.
    if (!this.cutOff) this.refresh();
  }

  private checkHealth(): void {
    const cutOff = this.lease.cutOffMs() > this.lease.ttlMs;
    if (cutOff === this.cutOff) return;
    this.cutOff = cutOff;
    if (cutOff) {
      this.options.logger.warn(
        { cutOffMs: Math.round(this.lease.cutOffMs()), leaseTtlMs: this.lease.ttlMs },
        'cut off from etcd longer than the lease TTL: serving this queen\'s own hives, the others shown offline, health NOT_SERVING',
      );
      this.mirror.markRemoteOffline();
    } else {
      this.options.logger.info('etcd answers again: back in the federation');
      this.refresh();
    }
    this.hooks.healthChanged(!cutOff);
  }

  /** Lists the fleet and the queens afresh: a replay from where the watch stopped would not undo `markRemoteOffline`. */
  private refresh(): void {
    void this.mirror.relist();
    void this.directory.relist();
  }
}
