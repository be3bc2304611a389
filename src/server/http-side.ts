import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import type { Catalog } from '../catalog/catalog.js';
import { InferenceGateway, type GatewayOptions } from '../gateway/inference-gateway.js';
import { UpstreamAllowList } from '../gateway/upstream-allow.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';
import type { AccessControl } from './access.js';
import { defaultAssetsDir, loadAssets } from './dashboard-assets.js';
import { bestWorker } from './dashboard-best.js';
import { DashboardFeed } from './dashboard-feed.js';
import { DashboardRoutes } from './dashboard-routes.js';
import { fleetDetails } from './fleet-details.js';
import { gatewayScheduler } from './gateway-scheduler.js';
import { tokenAuthorizer, HttpListener } from './http-listener.js';
import type { QueenMetrics } from './metrics.js';
import { MAX_RESERVATION_TTL_MS } from './registry-service.js';
import type { ServerConfig } from './server-config.js';

/** What the HTTP side is built from: the queen's parts, shared with its gRPC side. */
export interface HttpSideParts {
  readonly config: ServerConfig;
  readonly listen: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly registry: HiveRegistry;
  readonly scheduling: SchedulingIndex;
  readonly catalog: Catalog;
  readonly metrics: QueenMetrics;
  /** The Watch epoch: the dashboard's feed resumes with the same ids as Watch. */
  readonly epoch: string;
  /** Auth on: the caller tokens the listener takes (read role). */
  readonly access?: AccessControl;
  readonly dashboardAssetsDir?: string;
}

export interface HttpSide {
  readonly http: HttpListener;
  readonly gateway: InferenceGateway;
}

/** The gateway's options from the queen's configuration; prefix affinity only when it is on. */
export function gatewayOptions(config: ServerConfig): GatewayOptions {
  return {
    queueTimeoutMs: config.gatewayQueueTimeoutMs,
    connectTimeoutMs: config.gatewayConnectTimeoutMs,
    responseTimeoutMs: config.gatewayResponseTimeoutMs,
    maxBodyBytes: config.gatewayMaxBodyBytes,
    reservationTtlMs: MAX_RESERVATION_TTL_MS,
    allowUpstream: UpstreamAllowList.parse(config.gatewayAllowUpstream),
    ...(config.gatewayPrefixAffinity
      ? {
          prefixAffinity: {
            blockBytes: config.gatewayPrefixBlockBytes,
            cacheKeys: config.gatewayPrefixCacheKeys,
            slack: config.gatewayAffinitySlack,
          },
        }
      : {}),
  };
}

/**
 * The queen's HTTP listener with what it serves: metrics, the dashboard (its feed and best-worker answer) and the
 * inference gateway, all reading the same registry and scheduling index as the gRPC services. Rejects, with nothing
 * left open, if the address cannot be bound.
 */
export async function startHttpSide(parts: HttpSideParts): Promise<HttpSide> {
  const { config, logger, clock, registry, scheduling, catalog, metrics } = parts;
  const sources = { registry, scheduling, catalog, clock };
  const feed = new DashboardFeed(
    registry,
    () => fleetDetails(sources),
    () => clock.wallNow(),
    { epoch: parts.epoch, maxQueuedEvents: config.watchQueueEvents },
    logger.child({ component: 'dashboard' }),
  );
  const options = gatewayOptions(config);
  const gateway = new InferenceGateway(
    gatewayScheduler(registry, scheduling),
    options,
    logger.child({ component: 'gateway' }),
    metrics.gateway,
  );
  const dashboard = new DashboardRoutes({
    assets: loadAssets(parts.dashboardAssetsDir ?? defaultAssetsDir()),
    feed,
    best: (model) => {
      const affinity = options.prefixAffinity;
      return bestWorker(
        sources,
        model,
        affinity === undefined ? undefined : { blockBytes: affinity.blockBytes, slack: affinity.slack, keys: gateway.prefixKeysHeld() ?? 0 },
      );
    },
  });
  try {
    const http = await HttpListener.start(
      {
        listen: parts.listen,
        metrics,
        dashboard,
        gateway,
        maxConnections: config.httpMaxConnections,
        ...(config.tls === undefined ? {} : { tls: config.tls }),
        ...(parts.access === undefined ? {} : { authorize: tokenAuthorizer(parts.access) }),
      },
      logger.child({ component: 'http' }),
    );
    return { http, gateway };
  } catch (error) {
    gateway.destroy();
    throw error;
  }
}
