import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import { quote } from '../registry/ids.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';

/**
 * Lateness of the sweep timer beyond which it counts as a stall of the event loop, in ms. Shorter delays (GC,
 * load) are far inside the margin between the heartbeat interval and the offline threshold.
 */
const STALL_TOLERANCE_MS = 500;

/**
 * How often the sweep runs. Short, because it is also how a stall is measured: a stall is known to have started
 * after the previous sweep, so the credit it gets overshoots the real stall by at most this much.
 */
export function sweepPeriodMs(offlineAfterMs: number): number {
  return Math.min(100, offlineAfterMs);
}

/** The thresholds the sweep reports and acts on. */
export interface SweepSettings {
  readonly offlineAfterMs: number;
  readonly evictAfterMs: number;
  /** Measure event-loop stalls and credit them to hives' leases. */
  readonly detectStalls: boolean;
}

/**
 * The queen's liveness sweep, run every sweep period: measures how late it runs, reports hives that went silent,
 * evicts the expired ones (ending their streams with ABORTED) and ends streams that never bound a hive.
 */
export class LivenessSweep {
  private lastSweepAt: number | undefined;

  constructor(
    private readonly registry: HiveRegistry,
    private readonly streams: HeartbeatStreams,
    private readonly clock: Clock,
    private readonly settings: SweepSettings,
    private readonly logger: Logger,
  ) {}

  /**
   * One sweep. A sweep far later than its period means the event loop stalled (heartbeats waited in the sockets
   * meanwhile): the time since the previous sweep is reported to the registry so it does not count toward any
   * lease. A sweep that is due runs before further I/O is read, so once the stall is over no lease is judged on
   * the sweep's side before the credit is given; heartbeats read first simply renew their hives.
   */
  run(): void {
    const now = this.clock.now();
    if (this.settings.detectStalls && this.lastSweepAt !== undefined) {
      const sinceLastMs = now - this.lastSweepAt;
      if (sinceLastMs - sweepPeriodMs(this.settings.offlineAfterMs) > STALL_TOLERANCE_MS) {
        this.registry.reportStall(sinceLastMs);
        this.logger.warn(
          { component: 'liveness', stalledMs: Math.round(sinceLastMs) },
          'event loop stalled: the stall does not count toward hive leases',
        );
      }
    }
    this.lastSweepAt = now;
    for (const hiveId of this.registry.lapsedLeases()) {
      this.logger.warn(
        { component: 'liveness', hiveId, offlineAfterMs: this.settings.offlineAfterMs },
        'hive offline: no accepted heartbeat within the offline threshold, though its stream is open',
      );
    }
    this.evictExpired();
    this.streams.endUnbound();
  }

  /** Evicts every hive past the eviction threshold and ends its stream with ABORTED. */
  evictExpired(): void {
    for (const departure of this.registry.evictExpired()) {
      this.logger.info({ component: 'liveness', hiveId: departure.hiveId }, 'hive evicted');
      if (departure.stream !== undefined) {
        this.streams.end(departure.stream, {
          code: status.ABORTED,
          details: `hive ${quote(departure.hiveId)} was evicted: no accepted heartbeat for ${this.settings.evictAfterMs} ms`,
        });
      }
    }
  }
}
