import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Server } from '@grpc/grpc-js';
import type { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.js';
import type { Catalog } from '../catalog/catalog.js';
import { Checkpointer } from '../catalog/checkpointer.js';
import { HiveRegistry } from '../registry/hive-registry.js';
import { SchedulingIndex } from '../scheduler/scheduling-index.js';
import { AccessControl } from './access.js';
import { CallerTokens, type Caller } from './callers.js';
import { buildGrpcServer, HEALTH_NAMES, serverCredentials } from './grpc-server.js';
import { HeartbeatStreams } from './heartbeat-streams.js';
import type { HttpListener } from './http-listener.js';
import { startHttpSide, type HttpSide } from './http-side.js';
import { QueenMetrics } from './metrics.js';
import { reachableAddress, resolveQueenIdentity, type QueenIdentity } from './queen-identity.js';
import type { QueenOptions, ServerConfig } from './server-config.js';
import type { EtcdStore } from '../federation/etcd-store.js';
import type { Federation } from '../federation/federation.js';
import { joinFederation, openEtcd } from './federation-side.js';
import { federatedObserver, openCatalog, remoteCatalogChanges } from './queen-parts.js';
import { LivenessSweep, sweepPeriodMs } from './liveness-sweep.js';
import { WatchStreams } from './watch-streams.js';

export type { ServerTls } from './grpc-server.js';
export { QueenIdentityError, type QueenIdentity } from './queen-identity.js';
export { QueenIdTakenError } from './federation-side.js';
export type { QueenOptions, ServerConfig } from './server-config.js';

/** Longest wait between two catalog checkpoint attempts while writes fail. */
const MAX_CHECKPOINT_BACKOFF_MS = 30_000;

/**
 * Health as load balancers see it: every grpc.health.v1 name and, when the HTTP listener is on, /healthz (503 while
 * not serving).
 */
function setHealth(health: HealthImplementation, http: HttpListener | undefined, serving: boolean): void {
  for (const name of HEALTH_NAMES) health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
  http?.setServing(serving);
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
    private readonly liveness: LivenessSweep,
    private readonly callerTokens: CallerTokens | undefined,
    private readonly http: HttpListener | undefined,
    /** Stops telling this queen of changes other queens make to a shared catalog. */
    private readonly unsubscribeCatalog: () => void,
    /** The registry, for embedding and tests. */
    readonly registry: HiveRegistry,
    /** The catalog (SQLite, or the one given in QueenOptions), for embedding and tests. */
    readonly catalog: Catalog,
    /** The scheduling index (reservations, exclusions), for embedding and tests. */
    readonly scheduling: SchedulingIndex,
    /** The port actually bound (useful with port 0). */
    readonly port: number,
    /** This queen's id and addresses, as ListQueens reports them. */
    readonly identity: QueenIdentity,
    /** This queen's membership of a federation (`config.etcd`); undefined for a single queen. */
    readonly federation: Federation | undefined,
    /** The connection to etcd, closed last on stop. */
    private readonly etcd: EtcdStore | undefined,
  ) {}

  /**
   * Opens the catalog, binds `config.listen` and starts serving. The catalog is `options.catalog` when given (one
   * already open), else with `config.etcd` the federation's in etcd (waiting, however long, for etcd to answer), else
   * the SQLite file `config.db`. With `config.etcd` the queen then joins the federation, reporting NOT_SERVING (gRPC
   * health and /healthz) until it has. Throws CatalogOpenError when the catalog cannot be opened, QueenIdentityError
   * when the default queen id (from the host name) breaks the id rules; rejects with QueenIdTakenError when a live
   * queen holds this queen's id past one lease TTL, and if an address cannot be bound. A catalog given in `options`
   * belongs to the queen once it serves (it is closed on stop); after a failed start it is still the caller's.
   */
  static async start(
    config: ServerConfig,
    logger: Logger,
    clock: Clock = systemClock,
    options: QueenOptions = {},
  ): Promise<QueenServer> {
    const etcd = config.etcd === undefined ? undefined : openEtcd(config.etcd);
    try {
      if (options.catalog !== undefined) return await QueenServer.serve(config, logger, clock, options, options.catalog, etcd);
      const catalog = await openCatalog(config, clock, logger, etcd);
      try {
        return await QueenServer.serve(config, logger, clock, options, catalog, etcd);
      } catch (error) {
        await catalog.close();
        throw error;
      }
    } catch (error) {
      etcd?.close();
      throw error;
    }
  }

  private static async serve(
    config: ServerConfig,
    logger: Logger,
    clock: Clock,
    options: QueenOptions,
    catalog: Catalog,
    etcd: EtcdStore | undefined,
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
      etcd === undefined ? scheduling : federatedObserver(scheduling, () => federation),
    );
    let federation: Federation | undefined;
    const epoch = randomUUID();
    const watches = new WatchStreams(registry, logger.child({ component: 'watch' }), {
      epoch,
      maxQueuedEvents: config.watchQueueEvents,
    });
    // Metrics only exist to be scraped: without the HTTP listener nothing is counted.
    const metrics: QueenMetrics | undefined =
      config.httpListen === undefined || config.httpListen === ''
        ? undefined
        : new QueenMetrics({
            fleetCounts: () => registry.fleetCounts(),
            engineCounts: () => registry.engineCounts(),
            heartbeatStreams: (): number => streams.size,
            watchStreams: () => watches.size,
            reservations: () => scheduling.reservationCount,
            ownedHives: () => registry.ownedOnlineHiveCount(),
            gatewayInFlight: () => httpSide?.gateway.inFlight ?? 0,
            gatewayWaiting: () => httpSide?.gateway.waiting ?? 0,
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
      metrics?.heartbeats,
    );
    // From the policies' reading on: a change another queen makes while this one binds its ports is not missed.
    const unsubscribeCatalog = catalog.onRemoteChange(
      remoteCatalogChanges(scheduling, streams, logger.child({ component: 'catalog' })),
    );
    const callerTokens = config.callers === undefined ? undefined : new CallerTokens(config.callers);
    const access =
      callerTokens === undefined ? undefined : new AccessControl(callerTokens, catalog.tokens, () => clock.wallNow());
    const hostName = options.hostName ?? hostname();
    // The default id and address depend on the port bound: set right after binding, in the same turn, so before
    // any call is read.
    let identity: QueenIdentity | undefined;
    const self = (): QueenIdentity => {
      if (identity === undefined) throw new Error('the queen identity was read before the gRPC port was bound');
      return identity;
    };
    const { server, health } = buildGrpcServer(
      {
        registry,
        scheduling,
        catalog,
        streams,
        watches,
        clock,
        self,
        federation: () => federation,
        ...(access === undefined ? {} : { access }),
        ...(metrics === undefined ? {} : { rpcObserver: metrics.rpcs }),
      },
      config,
      logger,
    );

    let port: number;
    let httpSide: HttpSide | undefined;
    const setServing = (serving: boolean): void => setHealth(health, httpSide?.http, serving);
    // One way out for every failure from binding to joining: what was started so far is stopped and the catalog's
    // listener removed (`start` closes the catalog itself).
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(config.listen, serverCredentials(config.tls), (error, boundPort) =>
          error ? reject(error) : resolve(boundPort),
        );
      });
      identity = resolveQueenIdentity(config, port, hostName, clock.wallNow());
      if (metrics !== undefined && config.httpListen !== undefined && config.httpListen !== '') {
        httpSide = await startHttpSide({
          config,
          listen: config.httpListen,
          logger,
          clock,
          registry,
          scheduling,
          catalog,
          metrics,
          epoch,
          ...(access === undefined ? {} : { access }),
          ...(options.dashboardAssetsDir === undefined ? {} : { dashboardAssetsDir: options.dashboardAssetsDir }),
        });
        identity = { ...identity, httpAddress: reachableAddress(config.httpListen, httpSide.http.port, hostName) };
      }
      if (etcd !== undefined && config.etcd !== undefined) {
        // Until this queen holds its id and has listed the fleet, load balancers send clients elsewhere.
        setServing(false);
        federation = await joinFederation({
          store: etcd,
          settings: config.etcd,
          identity,
          registry,
          streams,
          healthChanged: setServing,
          clock,
          logger,
        });
        setServing(true);
      }
    } catch (error) {
      unsubscribeCatalog();
      server.forceShutdown();
      await httpSide?.http.close();
      throw error;
    }
    const http = httpSide?.http;

    const checkpointer = new Checkpointer(
      () => catalog.flush(),
      {
        intervalMs: config.catalogFlushIntervalMs,
        maxBackoffMs: Math.max(MAX_CHECKPOINT_BACKOFF_MS, config.catalogFlushIntervalMs),
        ...(metrics === undefined ? {} : { observer: metrics.checkpoints }),
      },
      logger.child({ component: 'catalog' }),
    );
    checkpointer.start();
    // Stalls, lapses and evictions are detected by sweep(); a departed hive's stream stays open at most one sweep
    // period longer than its threshold.
    const liveness = new LivenessSweep(
      registry,
      streams,
      clock,
      {
        offlineAfterMs: config.offlineAfterMs,
        evictAfterMs: config.evictAfterMs,
        detectStalls: options.detectStalls ?? true,
      },
      logger,
    );
    const sweepTimer = setInterval(() => liveness.run(), sweepPeriodMs(config.offlineAfterMs));
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
      liveness,
      callerTokens,
      http,
      unsubscribeCatalog,
      registry,
      catalog,
      scheduling,
      port,
      identity,
      federation,
      etcd,
    );
    logger.info(
      {
        component: 'server',
        queenId: identity.queenId,
        advertise: identity.address,
        listen: config.listen,
        port,
        ...(http === undefined ? {} : { httpListen: config.httpListen, httpPort: http.port }),
        tls: config.tls === undefined ? 'off' : config.tls.clientCa === undefined ? 'on' : 'mutual',
        catalog: catalog.location,
        ...(config.etcd === undefined ? {} : { etcdPrefix: config.etcd.prefix, leaseTtlMs: config.etcd.leaseTtlMs }),
        registration: catalog.registration,
        auth: callerTokens === undefined ? 'off' : `${callerTokens.size} callers`,
        catalogHives: catalog.size,
      },
      'hive-registry serving',
    );
    return queen;
  }

  /** One liveness sweep now (it also runs every sweep period): lapses, evictions, unbound streams. */
  sweep(): void {
    this.liveness.run();
  }

  /** Evicts every hive past the eviction threshold and ends its stream with ABORTED. */
  evictExpired(): void {
    this.liveness.evictExpired();
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

  /** The HTTP listener's bound port; undefined when it is off. */
  get httpPort(): number | undefined {
    return this.http?.port;
  }

  /** Graceful stop; idempotent (a second call returns the same promise). */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    const log = this.logger.child({ component: 'server' });
    log.info({ drainTimeoutMs: this.config.drainTimeoutMs }, 'draining');
    setHealth(this.health, this.http, false);
    this.http?.beginDrain();
    clearInterval(this.sweepTimer);
    // Watches first: a watcher resumes on the next queen (RESYNC, new epoch) and should not be told that every
    // hive went offline only because this queen is stopping.
    this.watches.drain();
    // Before the streams end: the lease's revocation takes this queen's hives and id out of etcd at once, and
    // nothing is published for streams ending from here on; the agents reconnect to another queen, which claims them.
    await this.federation?.leave().catch((error: unknown) => {
      log.warn({ err: (error as Error).message }, 'could not revoke the queen lease; its hives go when it expires');
    });
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
    // Last, so probes see /healthz answer 503 for the whole drain.
    await this.http?.close();
    // Every stream is gone, so nothing changes the catalog any more: the final checkpoint holds everything.
    this.unsubscribeCatalog();
    const flushed = await this.checkpointer.stop();
    await this.catalog.close();
    this.etcd?.close();
    log.info({ catalogFlushed: flushed }, 'stopped');
  }
}
