import { Gauge, type Registry } from 'prom-client';
import { ENGINE_LABELS } from '../common/worker.js';
import type { EngineCounts } from '../registry/types.js';

/** The engine figures of the fleet, read at scrape time. */
export interface EngineMetricsSources {
  engineCounts(): EngineCounts;
}

/**
 * Fleet-wide gauges of what the workers' inference engines report, registered on the queen's registry and computed
 * at scrape time from online hives (an offline hive's figures are stale). No label names a hive, a worker or a
 * model; the engine label is one of ENGINE_LABELS whatever names hives send (any name outside the known engines is
 * `other`), so the number of series is fixed. The gauges share one reading per scrape (Metrics hands them a
 * memoised `engineCounts`).
 */
export function engineMetrics(registry: Registry, sources: EngineMetricsSources): void {
  const registers = [registry];
  new Gauge({
    name: 'hive_registry_engine_requests_running',
    help: 'Requests the inference engines of online hives report running now, summed over the workers that report it.',
    registers,
    collect() {
      this.set(sources.engineCounts().requestsRunning);
    },
  });
  new Gauge({
    name: 'hive_registry_engine_requests_waiting',
    help: 'Requests queued inside the inference engines of online hives, summed over the workers that report it.',
    registers,
    collect() {
      this.set(sources.engineCounts().requestsWaiting);
    },
  });
  new Gauge({
    name: 'hive_registry_engine_kv_cache_usage_ratio',
    help:
      'Mean fraction (0-1) of KV cache in use, over the workers of online hives that report it; ' +
      '0 when none does (hive_registry_engine_kv_cache_reporting_workers says how many do).',
    registers,
    collect() {
      const { kvCacheReporting, kvCacheUsageSum } = sources.engineCounts();
      this.set(kvCacheReporting === 0 ? 0 : kvCacheUsageSum / kvCacheReporting);
    },
  });
  new Gauge({
    name: 'hive_registry_engine_kv_cache_reporting_workers',
    help: 'Workers of online hives that report their KV cache usage: the ones hive_registry_engine_kv_cache_usage_ratio is the mean of.',
    registers,
    collect() {
      this.set(sources.engineCounts().kvCacheReporting);
    },
  });
  new Gauge({
    name: 'hive_registry_workers_by_engine',
    help: 'Workers of online hives by the engine they report: vllm, llama.cpp, ollama, sglang, tgi, simulated, other (any other name) or none (not reported).',
    labelNames: ['engine'] as const,
    registers,
    collect() {
      const { workersByEngine } = sources.engineCounts();
      for (const engine of ENGINE_LABELS) this.set({ engine }, workersByEngine[engine]);
    },
  });
}
