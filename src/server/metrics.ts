import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CheckpointObserver } from '../catalog/checkpointer.js';
import type { WorkerStatus } from '../common/worker.js';
import type { GatewayObserver } from '../gateway/inference-gateway.js';
import type { FleetCounts } from '../registry/types.js';
import { engineMetrics, type EngineMetricsSources } from './engine-metrics.js';
import { gatewayMetrics, type GatewayMetricsSources } from './gateway-metrics.js';
import { HEARTBEAT_REJECTION_CLASSES, type HeartbeatObserver } from './heartbeat-outcomes.js';
import type { RpcObserver } from './rpc-timing.js';

/** What the gauges read at scrape time: the queen's live state, never a copy kept up to date on the hot paths. */
export interface MetricsSources extends GatewayMetricsSources, EngineMetricsSources {
  fleetCounts(): FleetCounts;
  heartbeatStreams(): number;
  watchStreams(): number;
  reservations(): number;
  /** Online hives whose stream this queen holds (in a federation, its own share of the fleet). */
  ownedHives(): number;
}

const WORKER_STATES: readonly WorkerStatus[] = ['idle', 'busy', 'loading', 'error', 'stopping', 'unspecified'];

/** Unary RPCs answer from memory in well under a millisecond; the top buckets catch a stalled event loop. */
const RPC_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
/** One write per flush interval (a SQLite transaction, or a few etcd ones): milliseconds normally, seconds when the store struggles. */
const FLUSH_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

let processRegistry: Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event-loop delay, GC, handles), in one registry per process shared by every
 * queen in it. collectDefaultMetrics starts an event-loop delay monitor and a GC observer at each call and never
 * stops them, and these figures describe the process, not a queen: one set, merged into each queen's scrape.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The queen's Prometheus metrics, in a registry of its own (not prom-client's global one, so several queens can
 * run in one process). Label values come from closed sets (states, results, reason classes, RPC names, gRPC
 * codes): never a hive, worker or model id, so the number of series does not grow with the fleet.
 */
export class QueenMetrics {
  readonly registry = new Registry();
  /** Told of every heartbeat payload's outcome. */
  readonly heartbeats: HeartbeatObserver;
  /** Told of every finished unary RPC. */
  readonly rpcs: RpcObserver;
  /** Told of every catalog flush. */
  readonly checkpoints: CheckpointObserver;
  /** Told of every gateway request, retry and wait. */
  readonly gateway: GatewayObserver;

  constructor(given: MetricsSources) {
    // Several gauges read the same fleet-wide figures: one pass over the fleet per scrape, not one per gauge.
    const sources: MetricsSources = {
      ...given,
      fleetCounts: perScrape(() => given.fleetCounts()),
      engineCounts: perScrape(() => given.engineCounts()),
    };
    const registers = [this.registry];
    new Gauge({
      name: 'hive_registry_hives',
      help: 'Hives in the registry, by liveness (offline ones stay until evicted).',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const { onlineHives, offlineHives } = sources.fleetCounts();
        this.set({ state: 'online' }, onlineHives);
        this.set({ state: 'offline' }, offlineHives);
      },
    });
    new Gauge({
      name: 'hive_registry_workers',
      help: 'Workers of online hives, by the state their hive last reported.',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const { workersByState } = sources.fleetCounts();
        for (const state of WORKER_STATES) this.set({ state }, workersByState[state]);
      },
    });
    engineMetrics(this.registry, sources);
    new Gauge({
      name: 'hive_registry_heartbeat_streams',
      help: 'Heartbeat streams open now (bound to a hive or not yet).',
      registers,
      collect() {
        this.set(sources.heartbeatStreams());
      },
    });
    new Gauge({
      name: 'hive_registry_watch_streams',
      help: 'Watch streams open now.',
      registers,
      collect() {
        this.set(sources.watchStreams());
      },
    });
    new Gauge({
      name: 'hive_registry_owned_hives',
      help: 'Online hives this queen owns (holds their heartbeat stream). In a federation the fleet gauges count every queen\'s hives; sum this one over the queens.',
      registers,
      collect() {
        this.set(sources.ownedHives());
      },
    });
    new Gauge({
      name: 'hive_registry_reservations',
      help: 'Live worker reservations (FindBestWorkerForModel with reserve), each holding one slot.',
      registers,
      collect() {
        this.set(sources.reservations());
      },
    });

    const heartbeats = new Counter({
      name: 'hive_registry_heartbeats_total',
      help: 'Heartbeat payloads answered, by result.',
      labelNames: ['result'] as const,
      registers,
    });
    const rejections = new Counter({
      name: 'hive_registry_heartbeat_rejections_total',
      help: 'Heartbeat payloads rejected, by reason class (the ack says the detail).',
      labelNames: ['reason'] as const,
      registers,
    });
    // Every series from the start, at 0: rate() over a series that appears with its first increment misses it.
    // The children are bound once: every payload of the fleet goes through them.
    const acceptedCount = heartbeats.labels({ result: 'accepted' });
    const rejectedCount = heartbeats.labels({ result: 'rejected' });
    acceptedCount.inc(0);
    rejectedCount.inc(0);
    for (const reason of HEARTBEAT_REJECTION_CLASSES) rejections.inc({ reason }, 0);
    this.heartbeats = {
      accepted: () => acceptedCount.inc(),
      rejected: (reason) => {
        rejectedCount.inc();
        rejections.inc({ reason });
      },
    };

    const rpcDuration = new Histogram({
      name: 'hive_registry_rpc_duration_seconds',
      help: 'Unary RPCs from arrival to answer (refused calls included), by method and gRPC code.',
      labelNames: ['method', 'code'] as const,
      buckets: RPC_BUCKETS_SECONDS,
      registers,
    });
    this.rpcs = { rpcFinished: (method, code, seconds) => rpcDuration.observe({ method, code }, seconds) };

    const flushDuration = new Histogram({
      name: 'hive_registry_catalog_flush_duration_seconds',
      help: 'Catalog checkpoints that wrote something: one SQLite transaction each, or a few etcd transactions in a federation.',
      buckets: FLUSH_BUCKETS_SECONDS,
      registers,
    });
    const flushFailures = new Counter({
      name: 'hive_registry_catalog_flush_failures_total',
      help: 'Catalog checkpoints that failed (retried with backoff; heartbeats go on from memory meanwhile).',
      registers,
    });
    this.checkpoints = {
      flushed: (durationMs) => flushDuration.observe(durationMs / 1000),
      failed: () => flushFailures.inc(),
    };
    this.gateway = gatewayMetrics(this.registry, sources);
  }

  /** The content type of `exposition()`: Prometheus text format 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric of this queen and of the process, in the Prometheus text format. */
  exposition(): Promise<string> {
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }
}

/**
 * `read`, computed at most once per turn of the event loop: a scrape collects every gauge in one turn, so the
 * gauges of one scrape share one reading and the next scrape reads afresh.
 */
function perScrape<T>(read: () => T): () => T {
  let cached: { readonly value: T } | undefined;
  return () => {
    if (cached === undefined) {
      cached = { value: read() };
      setImmediate(() => (cached = undefined));
    }
    return cached.value;
  };
}
