import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { HiveCatalog as HiveCatalogService } from '../../gen/hive/v1/catalog_pb.js';
import { HiveRegistry as HiveRegistryService } from '../../gen/hive/v1/registry_pb.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../common/clock.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';
import { guardService, type AccessControl } from './access.js';
import { catalogService } from './catalog-service.js';
import { grpcServiceDefinition } from './grpc-service.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';
import type { QueenIdentity } from './queen-identity.js';
import { addReflection } from './reflection.js';
import { registryService, type FleetMembership } from './registry-service.js';
import { timeService, type RpcObserver } from './rpc-timing.js';
import type { WatchStreams } from './watch-streams.js';

/** The health service names we report: '' (the whole server) and our own services. */
export const HEALTH_NAMES = ['', HiveRegistryService.typeName, HiveCatalogService.typeName] as const;

/** TLS material for the server, PEM-encoded. */
export interface ServerTls {
  readonly certChain: Buffer;
  readonly privateKey: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  readonly clientCa?: Buffer;
}

/** Plaintext, TLS, or mutual TLS (client certificates required and verified against `clientCa`). */
export function serverCredentials(tls: ServerTls | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    tls.clientCa ?? null,
    [{ cert_chain: tls.certChain, private_key: tls.privateKey }],
    tls.clientCa !== undefined,
  );
}

/** What the services are served from. */
export interface ServedParts {
  readonly registry: HiveRegistry;
  readonly scheduling: SchedulingIndex;
  readonly catalog: Catalog;
  readonly streams: HeartbeatStreams;
  readonly watches: WatchStreams;
  /** The queen's clock: reservation and exclusion times are on it. */
  readonly clock: Clock;
  /** This queen's identity; read only once calls are served (it depends on the bound port). */
  readonly self: () => QueenIdentity;
  /** This queen's federation once joined; undefined for a single queen (or before joining). */
  readonly federation?: () => FleetMembership | undefined;
  /** With auth on: who may call what. Undefined: every call is let in (the loopback default). */
  readonly access?: AccessControl;
  /** Told of every unary call's code and duration (metrics), refused calls included. */
  readonly rpcObserver?: RpcObserver;
}

/** grpc-js server options we set. */
export interface GrpcServerOptions {
  readonly maxMessageBytes: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
}

/**
 * A grpc-js server with hive.v1.HiveRegistry and hive.v1.HiveCatalog (behind the access layer when auth is on),
 * grpc.health.v1.Health and server reflection (always open: probes and tools need no token). Not bound yet.
 */
export function buildGrpcServer(
  parts: ServedParts,
  options: GrpcServerOptions,
  logger: Logger,
): { server: Server; health: HealthImplementation } {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    // Ping idle connections so a hive whose machine vanished (no FIN) loses its stream, not just its liveness.
    'grpc.keepalive_time_ms': options.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
    // No channelz: we serve no channelz service and read none of its figures, yet with it on grpc-js keeps, for
    // every connection, a registered socket entry with its tracker, counters, a trace line and eight per-call
    // closures, and takes the channelz path for every call: about 1 KiB per connected hive (BENCHMARKS.md, section
    // 11).
    'grpc.enable_channelz': 0,
    // Left unset on purpose: 'grpc-node.max_session_memory' and 'grpc.max_concurrent_streams', the only HTTP/2
    // settings grpc-js 1.14 passes to Node, are limits, not allocations (no change at rest), and a low session
    // memory limit refuses streams under load. The per-connection floor is nghttp2's own state (its 16 KiB
    // outbound frame buffer comes with every session), which no option reaches.
  });
  const rpcLogger = logger.child({ component: 'rpc' });
  const authLogger = logger.child({ component: 'auth' });
  const services = [
    [
      HiveRegistryService,
      registryService(
        parts.registry,
        parts.scheduling,
        parts.streams,
        parts.watches,
        rpcLogger,
        parts.clock,
        parts.self,
        parts.federation,
      ),
    ],
    [
      HiveCatalogService,
      // Labels and cordon reach the scheduler with every catalog write (selectors and cordon are its to apply).
      catalogService(parts.catalog, parts.registry, parts.streams, rpcLogger, {
        hiveChanged: (hiveId, record) =>
          parts.scheduling.setPolicy(hiveId, record && { labels: record.labels, cordoned: record.cordoned }),
      }),
    ],
  ] as const;
  for (const [service, implementation] of services) {
    const guarded =
      parts.access === undefined ? implementation : guardService(service, implementation, parts.access, authLogger);
    // Timing wraps the access layer, so refused calls are measured with the code their caller gets.
    const observer = parts.rpcObserver;
    server.addService(
      grpcServiceDefinition(service),
      observer === undefined ? guarded : timeService(service, guarded, observer, () => parts.clock.now()),
    );
  }
  const health = new HealthImplementation(Object.fromEntries(HEALTH_NAMES.map((name) => [name, 'SERVING'])));
  health.addToServer(server);
  addReflection(server, [HiveRegistryService, HiveCatalogService, Health]);
  return { server, health };
}
