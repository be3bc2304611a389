import { randomUUID } from 'node:crypto';
import { status, type Server } from '@grpc/grpc-js';
import type { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.js';
import { CatalogStore } from '../catalog/catalog-store.js';
import { Checkpointer } from '../catalog/checkpointer.js';
import { HiveCatalog } from '../catalog/hive-catalog.js';
import type { RegistrationMode } from '../catalog/types.js';
import { HiveRegistry } from '../registry/hive-registry.js';
import { quote } from '../registry/ids.js';
import { SchedulingIndex } from '../scheduler/scheduling-index.js';
import { AccessControl } from './access.js';
import { CallerTokens, type Caller } from './callers.js';
import { buildGrpcServer, HEALTH_NAMES, serverCredentials, type ServerTls } from './grpc-server.js';
import { HeartbeatStreams } from './heartbeat-streams.js';
import { WatchStreams } from './watch-streams.js';

export type { ServerTls } from './grpc-server.js';

/** Everything the queen's server needs to know; parsed and validated by the CLI, frozen. */
export interface ServerConfig {
  /** HOST:PORT to listen on ([v6]:PORT for IPv6); port 0 picks a free port. */
  readonly listen: string;
  /** How often hives should send heartbeats (told to them in every ack). */
  readonly heartbeatIntervalMs: number;
  /** A hive is offline once its last accepted heartbeat is this old. */
  readonly offlineAfterMs: number;
  /** A hive is evicted once its last accepted heartbeat is this old. */
  readonly evictAfterMs: number;
  /** How long shutdown waits for calls in flight before cutting them. */
  readonly drainTimeoutMs: number;
  /** Most workers one heartbeat may list. */
  readonly maxWorkersPerHive: number;
  /** Most devices one heartbeat may list. */
  readonly maxDevicesPerHive: number;
  /** Most heartbeat streams open at once. */
  readonly maxStreams: number;
  /** Most heartbeat streams open at once from one remote address. */
  readonly maxStreamsPerAddress: number;
  /** Most payloads one heartbeat stream may send per heartbeat interval; beyond it they are refused unread. */
  readonly heartbeatRateLimit: number;
  /** A heartbeat stream with no accepted payload this long after opening is ended with DEADLINE_EXCEEDED. */
  readonly unboundStreamTimeoutMs: number;
  /** Most hives known at once, in the registry and the catalog. */
  readonly maxHives: number;
  /** Largest request message accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** Registry events kept for watchers resuming from a revision. */
  readonly watchHistoryEvents: number;
  /** Events a watcher may fall behind before it is ended with RESOURCE_EXHAUSTED. */
  readonly watchQueueEvents: number;
  /** The catalog's SQLite file (created with its folder), or `:memory:` to keep nothing. */
  readonly db: string;
  /** `open`: hives join the catalog on their first accepted heartbeat; `required`: only registered hives may. */
  readonly registration: RegistrationMode;
  /** How often heartbeat-driven catalog changes (last_seen, last_peer, new hives) are written: one transaction each. */
  readonly catalogFlushIntervalMs: number;
  /** HTTP/2 keepalive: a connection is pinged after this long without activity... */
  readonly keepaliveTimeMs: number;
  /** ...and closed (its streams ended, its hives offline) when the ping is not answered within this. */
  readonly keepaliveTimeoutMs: number;
  /** Serve TLS (and with `clientCa`, mutual TLS); plaintext when absent. */
  readonly tls?: ServerTls;
  /**
   * Auth on: the callers (from the auth file) and their roles; hives need tokens issued by the catalog. Absent:
   * auth off, every call is let in.
   */
  readonly callers?: readonly Caller[];
}

/** What only embedders and tests change. */
export interface QueenOptions {
  /**
   * Measure event-loop stalls (the sweep timer firing late) and tell the registry, so a stall does not count
   * toward hives' leases. On by default; tests that drive a manual clock turn it off (their clock jumps are not
   * stalls).
   */
  readonly detectStalls?: boolean;
}

/**
 * Lateness of the sweep timer beyond which it counts as a stall of the event loop, in ms. Shorter delays (GC,
 * load) are far inside the margin between the heartbeat interval and the offline threshold.
 */
const STALL_TOLERANCE_MS = 500;
/** Longest wait between two catalog checkpoint attempts while writes fail. */
const MAX_CHECKPOINT_BACKOFF_MS = 30_000;

/**
 * How often the sweep runs. Short, because it is also how a stall is measured: a stall is known to have started
 * after the previous sweep, so the credit it gets overshoots the real stall by at most this much.
 */
function sweepPeriodMs(config: ServerConfig): number {
  return Math.min(100, config.offlineAfterMs);
}

/**
 * The queen: the registry behind a grpc-js server with hive.v1.HiveRegistry, grpc.health.v1.Health and server
 * reflection. `start` binds and serves; `stop` drains (health NOT_SERVING, heartbeat streams ended with
 * UNAVAILABLE, calls in flight given `drainTimeoutMs`) and resolves once the server is down.
 */
export class QueenServer {
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly health: HealthImplementation,
    private readonly streams: HeartbeatStreams,
    private readonly watches: WatchStreams,
    private readonly sweepTimer: NodeJS.Timeout,
    private readonly checkpointer: Checkpointer,
    private readonly logger: Logger,
    private readonly config: ServerConfig,
    private readonly clock: Clock,
    private readonly detectStalls: boolean,
    private readonly callerTokens: CallerTokens | undefined,
    /** The registry, for embedding and tests. */
    readonly registry: HiveRegistry,
    /** The catalog, for embedding and tests. */
    readonly catalog: HiveCatalog,
    /** The port actually bound (useful with port 0). */
    readonly port: number,
  ) {}

  /**
   * Opens the catalog, binds `config.listen` and starts serving. Throws CatalogOpenError when the catalog cannot
   * be opened; rejects if the address cannot be bound.
   */
  static async start(
    config: ServerConfig,
    logger: Logger,
    clock: Clock = systemClock,
    options: QueenOptions = {},
  ): Promise<QueenServer> {
    const catalog = new HiveCatalog(
      CatalogStore.open(config.db, clock.wallNow()),
      () => clock.wallNow(),
      config.registration,
      { maxHives: config.maxHives },
    );
    try {
      return await QueenServer.serve(config, logger, clock, options, catalog);
    } catch (error) {
      catalog.close();
      throw error;
    }
  }

  private static async serve(
    config: ServerConfig,
    logger: Logger,
    clock: Clock,
    options: QueenOptions,
    catalog: HiveCatalog,
  ): Promise<QueenServer> {
    // Reservation ids are random: a caller cannot release another's reservation by guessing its id.
    const scheduling = new SchedulingIndex(() => clock.now(), () => randomUUID());
    for (const record of catalog.list()) {
      scheduling.setPolicy(record.hiveId, { labels: record.labels, cordoned: record.cordoned });
    }
    const registry = new HiveRegistry(
      clock,
      {
        offlineAfterMs: config.offlineAfterMs,
        evictAfterMs: config.evictAfterMs,
        historySize: config.watchHistoryEvents,
        maxHives: config.maxHives,
      },
      scheduling,
    );
    const watches = new WatchStreams(registry, logger.child({ component: 'watch' }), {
      epoch: randomUUID(),
      maxQueuedEvents: config.watchQueueEvents,
    });
    const streams = new HeartbeatStreams(
      registry,
      clock,
      logger.child({ component: 'heartbeat' }),
      {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        maxStreams: config.maxStreams,
        maxStreamsPerAddress: config.maxStreamsPerAddress,
        rateLimit: config.heartbeatRateLimit,
        unboundTimeoutMs: config.unboundStreamTimeoutMs,
        limits: { maxWorkersPerHive: config.maxWorkersPerHive, maxDevicesPerHive: config.maxDevicesPerHive },
      },
      catalog,
    );
    const callerTokens = config.callers === undefined ? undefined : new CallerTokens(config.callers);
    const access =
      callerTokens === undefined ? undefined : new AccessControl(callerTokens, catalog.tokens, () => clock.wallNow());
    const { server, health } = buildGrpcServer(
      { registry, scheduling, catalog, streams, watches, clock, ...(access === undefined ? {} : { access }) },
      config,
      logger,
    );

    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(config.listen, serverCredentials(config.tls), (error, boundPort) =>
        error ? reject(error) : resolve(boundPort),
      );
    });

    const checkpointer = new Checkpointer(
      () => catalog.flush(),
      {
        intervalMs: config.catalogFlushIntervalMs,
        maxBackoffMs: Math.max(MAX_CHECKPOINT_BACKOFF_MS, config.catalogFlushIntervalMs),
      },
      logger.child({ component: 'catalog' }),
    );
    checkpointer.start();
    // Stalls, lapses and evictions are detected by sweep(); a departed hive's stream stays open at most one sweep
    // period longer than its threshold.
    const sweepTimer = setInterval(() => queen.sweep(), sweepPeriodMs(config));
    sweepTimer.unref();
    const queen = new QueenServer(
      server,
      health,
      streams,
      watches,
      sweepTimer,
      checkpointer,
      logger,
      config,
      clock,
      options.detectStalls ?? true,
      callerTokens,
      registry,
      catalog,
      port,
    );
    logger.info(
      {
        component: 'server',
        listen: config.listen,
        port,
        tls: config.tls === undefined ? 'off' : config.tls.clientCa === undefined ? 'on' : 'mutual',
        db: catalog.path,
        registration: config.registration,
        auth: callerTokens === undefined ? 'off' : `${callerTokens.size} callers`,
        catalogHives: catalog.size,
      },
      'hive-registry serving',
    );
    return queen;
  }

  private lastSweepAt: number | undefined;

  /**
   * Runs every sweep period: measures how late it runs, reports hives that went silent, then evicts the expired
   * ones. A sweep far later than its period means the event loop stalled (heartbeats waited in the sockets
   * meanwhile): the time since the previous sweep is reported to the registry so it does not count toward any
   * lease. A sweep that is due runs before further I/O is read, so once the stall is over no lease is judged on
   * the sweep's side before the credit is given; heartbeats read first simply renew their hives.
   */
  sweep(): void {
    const now = this.clock.now();
    if (this.detectStalls && this.lastSweepAt !== undefined) {
      const sinceLastMs = now - this.lastSweepAt;
      if (sinceLastMs - sweepPeriodMs(this.config) > STALL_TOLERANCE_MS) {
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
        { component: 'liveness', hiveId, offlineAfterMs: this.config.offlineAfterMs },
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
          details: `hive ${quote(departure.hiveId)} was evicted: no accepted heartbeat for ${this.config.evictAfterMs} ms`,
        });
      }
    }
  }

  /**
   * Replaces the callers (a reloaded auth file). Calls already let in keep going; every new call is checked
   * against the new list. False when auth is off (it cannot be turned on without a restart).
   */
  reloadCallers(callers: readonly Caller[]): boolean {
    if (this.callerTokens === undefined) return false;
    this.callerTokens.replace(callers);
    this.logger.info({ component: 'auth', callers: callers.length }, 'auth file reloaded');
    return true;
  }

  /** Open Watch streams. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Graceful stop; idempotent (a second call returns the same promise). */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    const log = this.logger.child({ component: 'server' });
    log.info({ drainTimeoutMs: this.config.drainTimeoutMs }, 'draining');
    for (const name of HEALTH_NAMES) this.health.setStatus(name, 'NOT_SERVING');
    clearInterval(this.sweepTimer);
    // Watches first: a watcher resumes on the next queen (RESYNC, new epoch) and should not be told that every
    // hive went offline only because this queen is stopping.
    this.watches.drain();
    this.streams.drain();
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.config.drainTimeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) {
      // Calls still open (health Watch streams, slow clients): cut them.
      log.warn('drain timeout reached: cancelling calls still open');
      this.server.forceShutdown();
    }
    // Every stream is gone, so nothing changes the catalog any more: the final checkpoint holds everything.
    const flushed = this.checkpointer.stop();
    this.catalog.close();
    log.info({ catalogFlushed: flushed }, 'stopped');
  }
}
