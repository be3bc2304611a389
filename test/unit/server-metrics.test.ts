// The metrics pieces on their own: the registry's rejection reasons and fleet counts (pure domain), the RPC timing
// wrapper, and QueenMetrics' exposition fed by fake sources.
import { HiveRegistry as HiveRegistryService } from '../../gen/hive/v1/registry_pb';
import { ManualClock } from '../../src/common/manual-clock';
import { HiveRegistry } from '../../src/registry/hive-registry';
import type { EngineCounts, FleetCounts, HeartbeatOutcome } from '../../src/registry/types';
import { QueenMetrics } from '../../src/server/metrics';
import { codeName, timeService } from '../../src/server/rpc-timing';
import { makeWorker, snapshot, tick } from '../helpers/domain-builders';
import { parsePrometheusText } from '../helpers/prometheus-text';

function reasonOf(outcome: HeartbeatOutcome): string {
  return outcome.accepted ? 'accepted' : outcome.reason;
}

describe('registry: rejection reasons and fleet counts', () => {
  const setup = (maxHives?: number) => {
    const clock = new ManualClock();
    const options = { offlineAfterMs: 15_000, evictAfterMs: 600_000, ...(maxHives === undefined ? {} : { maxHives }) };
    return { clock, registry: new HiveRegistry(clock, options) };
  };

  test('each rejection carries its reason class', () => {
    const { registry } = setup(2);
    const a = registry.openStream();
    expect(reasonOf(registry.applyHeartbeat(a, tick('hive-a', 1)))).toBe('invalid_payload');
    expect(reasonOf(registry.applyHeartbeat(a, snapshot('hive-a', 1, [makeWorker('w-1')])))).toBe('accepted');
    expect(reasonOf(registry.applyHeartbeat(a, snapshot('hive-a', 1)))).toBe('sequence');
    expect(reasonOf(registry.applyHeartbeat(a, snapshot('hive-b', 2)))).toBe('wrong_hive');
    expect(reasonOf(registry.applyHeartbeat(a, snapshot('hive-a', 2, [makeWorker('x'), makeWorker('x')])))).toBe('invalid_payload');
    expect(reasonOf(registry.applyHeartbeat(a, tick('hive-a', 2, { workers: [makeWorker('x')] })))).toBe('invalid_payload');
    const b = registry.openStream();
    expect(reasonOf(registry.applyHeartbeat(b, snapshot('hive-b', 1, [makeWorker('w-1')])))).toBe('worker_claimed');
    expect(reasonOf(registry.applyHeartbeat(b, snapshot('hive-b', 1)))).toBe('accepted');
    expect(reasonOf(registry.applyHeartbeat(registry.openStream(), snapshot('hive-c', 1)))).toBe('max_hives');
  });

  test('fleetCounts: hives by liveness; workers of online hives only, by state', () => {
    const { clock, registry } = setup();
    const a = registry.openStream();
    registry.applyHeartbeat(a, snapshot('hive-a', 1, [makeWorker('a-0'), makeWorker('a-1', { state: 'busy' })]));
    const b = registry.openStream();
    registry.applyHeartbeat(b, snapshot('hive-b', 1, [makeWorker('b-0', { state: 'loading' })]));
    const idle = { unspecified: 0, idle: 0, busy: 0, loading: 0, error: 0, stopping: 0 };
    expect(registry.fleetCounts()).toEqual<FleetCounts>({
      onlineHives: 2,
      offlineHives: 0,
      workersByState: { ...idle, idle: 1, busy: 1, loading: 1 },
    });
    registry.closeStream(b);
    expect(registry.fleetCounts()).toEqual({ onlineHives: 1, offlineHives: 1, workersByState: { ...idle, idle: 1, busy: 1 } });
    clock.advance(15_000); // hive-a's lease lapses too
    expect(registry.fleetCounts()).toEqual({ onlineHives: 0, offlineHives: 2, workersByState: idle });
  });
});

describe('registry: engine counts', () => {
  const none = { vllm: 0, 'llama.cpp': 0, ollama: 0, sglang: 0, tgi: 0, simulated: 0, other: 0, none: 0 };

  test('online hives only: request sums, KV cache over the workers that report it, workers by engine kind', () => {
    const clock = new ManualClock();
    const registry = new HiveRegistry(clock, { offlineAfterMs: 15_000, evictAfterMs: 600_000 });
    const a = registry.openStream();
    registry.applyHeartbeat(
      a,
      snapshot('hive-a', 1, [
        makeWorker('a-0', { engine: 'vllm', requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.5 }),
        makeWorker('a-1', { engine: 'llama.cpp', requestsRunning: 2 }),
        makeWorker('a-2'),
        makeWorker('a-3', { engine: 'my-engine.2', kvCacheUsage: 0.25, requestsWaiting: 4 }),
        makeWorker('a-4', { engine: 'vllm', requestsRunning: 0, kvCacheUsage: 0 }),
      ]),
    );
    const b = registry.openStream();
    registry.applyHeartbeat(b, snapshot('hive-b', 1, [makeWorker('b-0', { engine: 'simulated', requestsRunning: 10, requestsWaiting: 20, kvCacheUsage: 1 })]));
    expect(registry.engineCounts()).toEqual<EngineCounts>({
      requestsRunning: 15,
      requestsWaiting: 25,
      kvCacheReporting: 4,
      kvCacheUsageSum: 1.75,
      workersByEngine: { ...none, vllm: 2, 'llama.cpp': 1, simulated: 1, other: 1, none: 1 },
    });
    registry.closeStream(b); // hive-b's figures are stale from now on
    expect(registry.engineCounts()).toEqual<EngineCounts>({
      requestsRunning: 5,
      requestsWaiting: 5,
      kvCacheReporting: 3,
      kvCacheUsageSum: 0.75,
      workersByEngine: { ...none, vllm: 2, 'llama.cpp': 1, other: 1, none: 1 },
    });
    clock.advance(15_000);
    expect(registry.engineCounts()).toEqual({ requestsRunning: 0, requestsWaiting: 0, kvCacheReporting: 0, kvCacheUsageSum: 0, workersByEngine: none });
  });
});

describe('rpc timing', () => {
  test.each<[unknown, string]>([
    [null, 'OK'],
    [undefined, 'OK'],
    [{ code: 5 }, 'NOT_FOUND'],
    [{ code: 16 }, 'UNAUTHENTICATED'],
    [{ code: 99 }, 'UNKNOWN'],
    [{ details: 'no code' }, 'UNKNOWN'],
    [new Error('thrown'), 'UNKNOWN'],
  ])('codeName(%j) is %s', (error, name) => {
    expect(codeName(error)).toBe(name);
  });

  test('wraps unary handlers only, measures handler start to callback, and passes the answer through', () => {
    let nowMs = 1_000;
    const seen: [string, string, number][] = [];
    const answers: unknown[][] = [];
    const heartbeat = (): void => undefined;
    const implementation = {
      getHiveState: (_call: unknown, callback: (...args: unknown[]) => void) => {
        nowMs += 250;
        callback({ code: 5, details: 'hive "x" not found' });
      },
      hiveCount: (_call: unknown, callback: (...args: unknown[]) => void) => callback(null, { count: 3 }),
      heartbeat,
    };
    const timed = timeService(
      HiveRegistryService,
      implementation as never,
      { rpcFinished: (method, code, seconds) => seen.push([method, code, seconds]) },
      () => nowMs,
    ) as unknown as Record<string, (call: unknown, callback: (...args: unknown[]) => void) => void>;
    expect(timed['heartbeat']).toBe(heartbeat);
    timed['getHiveState']!({}, (...args) => answers.push(args));
    timed['hiveCount']!({}, (...args) => answers.push(args));
    expect(seen).toEqual([
      ['GetHiveState', 'NOT_FOUND', 0.25],
      ['HiveCount', 'OK', 0],
    ]);
    expect(answers).toEqual([[{ code: 5, details: 'hive "x" not found' }], [null, { count: 3 }]]);
  });
});

describe('QueenMetrics', () => {
  const sources = {
    fleetCounts: (): FleetCounts => ({
      onlineHives: 3,
      offlineHives: 1,
      workersByState: { unspecified: 0, idle: 4, busy: 2, loading: 1, error: 0, stopping: 0 },
    }),
    heartbeatStreams: () => 5,
    watchStreams: () => 2,
    reservations: () => 7,
    ownedHives: () => 2,
    gatewayInFlight: () => 0,
    gatewayWaiting: () => 0,
    engineCounts: (): EngineCounts => ({
      requestsRunning: 42,
      requestsWaiting: 7,
      kvCacheReporting: 4,
      kvCacheUsageSum: 1.5,
      workersByEngine: { vllm: 3, 'llama.cpp': 2, ollama: 0, sglang: 1, tgi: 0, simulated: 8, other: 1, none: 5 },
    }),
  };

  test('gauges read their sources at scrape time; observers move counters and histograms', async () => {
    const metrics = new QueenMetrics(sources);
    metrics.heartbeats.accepted();
    metrics.heartbeats.accepted();
    metrics.heartbeats.rejected('throttled');
    metrics.rpcs.rpcFinished('GetWorker', 'NOT_FOUND', 0.0002);
    metrics.checkpoints.flushed(3, 10);
    metrics.checkpoints.failed();
    const parsed = parsePrometheusText(await metrics.exposition());
    expect({
      online: parsed.value('hive_registry_hives', { state: 'online' }),
      offline: parsed.value('hive_registry_hives', { state: 'offline' }),
      idle: parsed.value('hive_registry_workers', { state: 'idle' }),
      busy: parsed.value('hive_registry_workers', { state: 'busy' }),
      streams: parsed.value('hive_registry_heartbeat_streams'),
      watches: parsed.value('hive_registry_watch_streams'),
      reservations: parsed.value('hive_registry_reservations'),
      owned: parsed.value('hive_registry_owned_hives'),
      accepted: parsed.value('hive_registry_heartbeats_total', { result: 'accepted' }),
      rejected: parsed.value('hive_registry_heartbeats_total', { result: 'rejected' }),
      throttled: parsed.value('hive_registry_heartbeat_rejections_total', { reason: 'throttled' }),
      sequence: parsed.value('hive_registry_heartbeat_rejections_total', { reason: 'sequence' }),
      rpcs: parsed.value('hive_registry_rpc_duration_seconds_count', { method: 'GetWorker', code: 'NOT_FOUND' }),
      fastRpcs: parsed.value('hive_registry_rpc_duration_seconds_bucket', { method: 'GetWorker', code: 'NOT_FOUND', le: '0.00025' }),
      flushSeconds: parsed.value('hive_registry_catalog_flush_duration_seconds_sum'),
      flushFailures: parsed.value('hive_registry_catalog_flush_failures_total'),
    }).toEqual({
      online: 3,
      offline: 1,
      idle: 4,
      busy: 2,
      streams: 5,
      watches: 2,
      reservations: 7,
      owned: 2,
      accepted: 2,
      rejected: 1,
      throttled: 1,
      sequence: 0,
      rpcs: 1,
      fastRpcs: 1,
      flushSeconds: 0.003,
      flushFailures: 1,
    });
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  test('engine gauges: fleet sums, the mean KV cache, workers by a closed set of engine kinds', async () => {
    const parsed = parsePrometheusText(await new QueenMetrics(sources).exposition());
    expect({
      running: parsed.value('hive_registry_engine_requests_running'),
      waiting: parsed.value('hive_registry_engine_requests_waiting'),
      kvMean: parsed.value('hive_registry_engine_kv_cache_usage_ratio'),
      kvReporting: parsed.value('hive_registry_engine_kv_cache_reporting_workers'),
      engines: parsed.labelValues('hive_registry_workers_by_engine', 'engine'),
      vllm: parsed.value('hive_registry_workers_by_engine', { engine: 'vllm' }),
      llamaCpp: parsed.value('hive_registry_workers_by_engine', { engine: 'llama.cpp' }),
      ollama: parsed.value('hive_registry_workers_by_engine', { engine: 'ollama' }),
      other: parsed.value('hive_registry_workers_by_engine', { engine: 'other' }),
      none: parsed.value('hive_registry_workers_by_engine', { engine: 'none' }),
    }).toEqual({
      running: 42,
      waiting: 7,
      kvMean: 0.375,
      kvReporting: 4,
      engines: ['llama.cpp', 'none', 'ollama', 'other', 'sglang', 'simulated', 'tgi', 'vllm'],
      vllm: 3,
      llamaCpp: 2,
      ollama: 0,
      other: 1,
      none: 5,
    });
    expect(parsed.families.get('hive_registry_engine_kv_cache_usage_ratio')?.help).toMatch(/^Mean fraction \(0-1\) of KV cache in use, over the workers/);
    // No worker reports a KV cache: the mean is 0, and the reporting count says why.
    const silent = { ...sources, engineCounts: () => ({ ...sources.engineCounts(), kvCacheReporting: 0, kvCacheUsageSum: 0 }) };
    const quiet = parsePrometheusText(await new QueenMetrics(silent).exposition());
    expect([quiet.value('hive_registry_engine_kv_cache_usage_ratio'), quiet.value('hive_registry_engine_kv_cache_reporting_workers')]).toEqual([0, 0]);
  });

  test('prefix lookups: hits and misses, two counters without labels, at 0 before any request', async () => {
    const metrics = new QueenMetrics(sources);
    const before = parsePrometheusText(await metrics.exposition());
    expect([before.value('hive_registry_gateway_prefix_hits_total'), before.value('hive_registry_gateway_prefix_misses_total')]).toEqual([0, 0]);
    metrics.gateway.prefixLookup(true);
    metrics.gateway.prefixLookup(false);
    metrics.gateway.prefixLookup(true);
    const parsed = parsePrometheusText(await metrics.exposition());
    expect({
      hits: parsed.value('hive_registry_gateway_prefix_hits_total'),
      misses: parsed.value('hive_registry_gateway_prefix_misses_total'),
      hitsHelp: parsed.families.get('hive_registry_gateway_prefix_hits_total')?.help,
      series: ['hive_registry_gateway_prefix_hits_total', 'hive_registry_gateway_prefix_misses_total'].map((name) =>
        parsed.families.get(name)?.samples.map((sample) => [sample.name, sample.labels]),
      ),
    }).toEqual({
      hits: 2,
      misses: 1,
      hitsHelp: 'Gateway requests routed to a worker that had served a prefix of their prompt (prefix affinity).',
      series: [[['hive_registry_gateway_prefix_hits_total', {}]], [['hive_registry_gateway_prefix_misses_total', {}]]],
    });
  });

  test('gateway requests, retries and latencies: every series from the start at 0, each observation counted once', async () => {
    const metrics = new QueenMetrics(sources);
    const before = parsePrometheusText(await metrics.exposition());
    expect({
      endpoints: before.labelValues('hive_registry_gateway_requests_total', 'endpoint'),
      outcomes: before.labelValues('hive_registry_gateway_requests_total', 'outcome'),
      reasons: before.labelValues('hive_registry_gateway_retries_total', 'reason'),
      sum: before.families.get('hive_registry_gateway_requests_total')?.samples.reduce((total, sample) => total + sample.value, 0),
    }).toEqual({
      endpoints: ['chat_completions', 'completions', 'embeddings', 'models'],
      outcomes: ['bad_request', 'client_closed', 'client_error', 'model_not_found', 'no_capacity', 'ok', 'upstream_error'],
      reasons: ['error', 'not_allowed', 'refused', 'reset', 'status_5xx', 'timeout'],
      sum: 0,
    });
    const gateway = metrics.gateway;
    gateway.requestEnded('chat_completions', 'ok', 0.02);
    gateway.requestEnded('chat_completions', 'ok', 0.3);
    gateway.requestEnded('embeddings', 'client_closed', 0.004);
    gateway.requestEnded('models', 'ok', 0);
    gateway.upstreamResponded('chat_completions', 0.015);
    gateway.retried('reset');
    gateway.retried('status_5xx');
    gateway.retried('reset');
    gateway.queued(0);
    gateway.queued(0.2);
    const parsed = parsePrometheusText(await metrics.exposition());
    expect({
      chatOk: parsed.value('hive_registry_gateway_requests_total', { endpoint: 'chat_completions', outcome: 'ok' }),
      embeddingsClosed: parsed.value('hive_registry_gateway_requests_total', { endpoint: 'embeddings', outcome: 'client_closed' }),
      modelsOk: parsed.value('hive_registry_gateway_requests_total', { endpoint: 'models', outcome: 'ok' }),
      requests: parsed.families.get('hive_registry_gateway_requests_total')?.samples.reduce((total, sample) => total + sample.value, 0),
      chatDurations: parsed.value('hive_registry_gateway_request_duration_seconds_count', { endpoint: 'chat_completions' }),
      chatFast: parsed.value('hive_registry_gateway_request_duration_seconds_bucket', { endpoint: 'chat_completions', le: '0.025' }),
      chatSeconds: parsed.value('hive_registry_gateway_request_duration_seconds_sum', { endpoint: 'chat_completions' }),
      embeddingsDurations: parsed.value('hive_registry_gateway_request_duration_seconds_count', { endpoint: 'embeddings' }),
      // /v1/models is counted, but not timed (no series): it never waits for a worker.
      modelsDurations: parsed.value('hive_registry_gateway_request_duration_seconds_count', { endpoint: 'models' }),
      upstream: parsed.value('hive_registry_gateway_upstream_latency_seconds_count', { endpoint: 'chat_completions' }),
      resets: parsed.value('hive_registry_gateway_retries_total', { reason: 'reset' }),
      status5xx: parsed.value('hive_registry_gateway_retries_total', { reason: 'status_5xx' }),
      refused: parsed.value('hive_registry_gateway_retries_total', { reason: 'refused' }),
      queued: parsed.value('hive_registry_gateway_queue_wait_seconds_count'),
      queuedAtOnce: parsed.value('hive_registry_gateway_queue_wait_seconds_bucket', { le: '0' }),
    }).toEqual({
      chatOk: 2,
      embeddingsClosed: 1,
      modelsOk: 1,
      requests: 4,
      chatDurations: 2,
      chatFast: 1,
      chatSeconds: 0.32,
      embeddingsDurations: 1,
      modelsDurations: undefined,
      upstream: 1,
      resets: 2,
      status5xx: 1,
      refused: 0,
      queued: 2,
      queuedAtOnce: 1,
    });
  });

  test('two instances keep separate counts (no global registry)', async () => {
    const first = new QueenMetrics(sources);
    const second = new QueenMetrics(sources);
    first.heartbeats.accepted();
    const [a, b] = await Promise.all([first.exposition(), second.exposition()]);
    expect(parsePrometheusText(a).value('hive_registry_heartbeats_total', { result: 'accepted' })).toBe(1);
    expect(parsePrometheusText(b).value('hive_registry_heartbeats_total', { result: 'accepted' })).toBe(0);
  });
});
