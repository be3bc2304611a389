import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../common/clock.js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { HiveRegistry as HiveRegistryService } from '../../gen/hive/v1/registry_pb.js';
import { HiveRegistry } from '../registry/hive-registry.js';
import { quote } from '../registry/ids.js';
import { SchedulingIndex } from '../scheduler/scheduling-index.js';
import { grpcServiceDefinition } from './grpc-service.js';
import { HeartbeatStreams } from './heartbeat-streams.js';
import { addReflection } from './reflection.js';
import { registryService } from './registry-service.js';

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
  /** Largest request message accepted, in bytes. */
  readonly maxMessageBytes: number;
}

/** The health service names we report: '' (the whole server) and our own service. */
const HEALTH_NAMES = ['', HiveRegistryService.typeName] as const;

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
    private readonly sweepTimer: NodeJS.Timeout,
    private readonly logger: Logger,
    private readonly config: ServerConfig,
    /** The registry, for embedding and tests. */
    readonly registry: HiveRegistry,
    /** The port actually bound (useful with port 0). */
    readonly port: number,
  ) {}

  /** Binds `config.listen` and starts serving. Rejects if the address cannot be bound. */
  static async start(config: ServerConfig, logger: Logger, clock: Clock = systemClock): Promise<QueenServer> {
    const scheduling = new SchedulingIndex();
    const registry = new HiveRegistry(
      clock,
      { offlineAfterMs: config.offlineAfterMs, evictAfterMs: config.evictAfterMs },
      scheduling,
    );
    const streams = new HeartbeatStreams(registry, clock, logger.child({ component: 'heartbeat' }), {
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      maxStreams: config.maxStreams,
      limits: { maxWorkersPerHive: config.maxWorkersPerHive, maxDevicesPerHive: config.maxDevicesPerHive },
    });
    const server = new Server({
      'grpc.max_receive_message_length': config.maxMessageBytes,
      // Ping idle connections so a hive whose machine vanished (no FIN) loses its stream, not just its liveness.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    server.addService(
      grpcServiceDefinition(HiveRegistryService),
      registryService(registry, scheduling, streams, logger.child({ component: 'rpc' })),
    );
    const health = new HealthImplementation(Object.fromEntries(HEALTH_NAMES.map((name) => [name, 'SERVING'])));
    health.addToServer(server);
    addReflection(server, [HiveRegistryService, Health]);

    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(config.listen, ServerCredentials.createInsecure(), (error, boundPort) =>
        error ? reject(error) : resolve(boundPort),
      );
    });

    // Lapses and evictions are detected by the registry and acted on by sweep(); a sweep a second (or faster for
    // tiny thresholds) keeps a departed hive's stream open at most that much longer than its threshold.
    const sweepTimer = setInterval(() => queen.sweep(), Math.min(1_000, config.offlineAfterMs));
    sweepTimer.unref();
    const queen = new QueenServer(server, health, streams, sweepTimer, logger, config, registry, port);
    logger.info({ component: 'server', listen: config.listen, port }, 'hive-registry serving');
    return queen;
  }

  /** Runs every second: reports hives that went silent, then evicts the expired ones. */
  sweep(): void {
    for (const hiveId of this.registry.lapsedLeases()) {
      this.logger.warn(
        { component: 'liveness', hiveId, offlineAfterMs: this.config.offlineAfterMs },
        'hive offline: no accepted heartbeat within the offline threshold, though its stream is open',
      );
    }
    this.evictExpired();
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
    log.info('stopped');
  }
}
