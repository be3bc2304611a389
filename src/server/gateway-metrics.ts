import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Endpoint } from '../gateway/gateway-request.js';
import type { GatewayObserver, GatewayOutcome } from '../gateway/inference-gateway.js';
import type { FailureReason } from '../gateway/upstream.js';

/** The gateway's live counts, read at scrape time. */
export interface GatewayMetricsSources {
  gatewayInFlight(): number;
  gatewayWaiting(): number;
}

/** Every value of a closed union, as label values: the compiler checks none is missing. */
function every<T extends string>(values: Record<T, true>): readonly T[] {
  return Object.keys(values) as T[];
}

const ENDPOINTS = every<Endpoint>({ chat_completions: true, completions: true, embeddings: true, models: true });
const OUTCOMES = every<GatewayOutcome>({
  ok: true,
  client_error: true,
  upstream_error: true,
  no_capacity: true,
  model_not_found: true,
  bad_request: true,
  client_closed: true,
});
const RETRY_REASONS = every<FailureReason | 'status_5xx'>({ refused: true, reset: true, timeout: true, not_allowed: true, error: true, status_5xx: true });
/** Inference takes from milliseconds (embeddings, a cached prompt) to minutes (a long answer). */
const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The inference gateway's metrics, registered on the queen's registry. Labels are the endpoint (four values), the
 * outcome and the retry reason: closed sets, never a model or worker id (a fleet serving thousands of models would
 * otherwise grow a series per model).
 */
export function gatewayMetrics(registry: Registry, sources: GatewayMetricsSources): GatewayObserver {
  const registers = [registry];
  const requests = new Counter({
    name: 'hive_registry_gateway_requests_total',
    help: 'Gateway requests answered, by endpoint and outcome.',
    labelNames: ['endpoint', 'outcome'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'hive_registry_gateway_request_duration_seconds',
    help: 'Gateway requests from arrival to the end of the answer (queueing included), by endpoint.',
    labelNames: ['endpoint'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });
  const upstream = new Histogram({
    name: 'hive_registry_gateway_upstream_latency_seconds',
    help: "From a request sent to a worker to the worker's response head, by endpoint.",
    labelNames: ['endpoint'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });
  const queueWait = new Histogram({
    name: 'hive_registry_gateway_queue_wait_seconds',
    help: 'Time gateway requests waited for a free slot of a worker with their model (0 when one was free).',
    buckets: [0, ...LATENCY_BUCKETS_SECONDS],
    registers,
  });
  const retries = new Counter({
    name: 'hive_registry_gateway_retries_total',
    help: 'Gateway requests sent again to another worker, by what the first worker did.',
    labelNames: ['reason'] as const,
    registers,
  });
  const prefixHits = new Counter({
    name: 'hive_registry_gateway_prefix_hits_total',
    help: 'Gateway requests routed to a worker that had served a prefix of their prompt (prefix affinity).',
    registers,
  });
  const prefixMisses = new Counter({
    name: 'hive_registry_gateway_prefix_misses_total',
    help: 'Gateway requests routed to a worker that had served no prefix of their prompt (prefix affinity).',
    registers,
  });
  new Gauge({
    name: 'hive_registry_gateway_requests_in_flight',
    help: 'Gateway requests being served now (waiting for a slot included).',
    registers,
    collect() {
      this.set(sources.gatewayInFlight());
    },
  });
  new Gauge({
    name: 'hive_registry_gateway_requests_waiting',
    help: 'Gateway requests waiting for a free slot now.',
    registers,
    collect() {
      this.set(sources.gatewayWaiting());
    },
  });
  // Every series from the start, at 0. (prom-client's labelled children hash their labels on every call too, so
  // binding them saves nothing measurable: about 1 µs per observation either way.)
  for (const endpoint of ENDPOINTS) for (const outcome of OUTCOMES) requests.inc({ endpoint, outcome }, 0);
  for (const reason of RETRY_REASONS) retries.inc({ reason }, 0);
  const durationOf = new Map(ENDPOINTS.map((endpoint) => [endpoint, duration.labels({ endpoint })]));
  const upstreamOf = new Map(ENDPOINTS.map((endpoint) => [endpoint, upstream.labels({ endpoint })]));
  return {
    requestEnded: (endpoint, outcome, seconds) => {
      requests.inc({ endpoint, outcome });
      if (endpoint !== 'models') durationOf.get(endpoint)?.observe(seconds);
    },
    upstreamResponded: (endpoint, seconds) => upstreamOf.get(endpoint)?.observe(seconds),
    retried: (reason) => retries.inc({ reason }),
    queued: (seconds) => queueWait.observe(seconds),
    prefixLookup: (hit) => (hit ? prefixHits : prefixMisses).inc(),
  };
}
