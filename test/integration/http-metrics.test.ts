// GET /metrics over a real queen: the exposition parses strictly, carries the contract's series, and every counter
// and gauge moves by exactly the traffic driven through gRPC (heartbeats accepted and rejected by reason, unary
// calls by method and code, streams, reservations, catalog flushes).
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { ackSummary, accepted, rejected } from '../helpers/acks';
import { expectRpcError } from '../helpers/client';
import { httpFetch } from '../helpers/http';
import { parsePrometheusText, type Exposition } from '../helpers/prometheus-text';
import { TestQueen } from '../helpers/queen';
import { RawWatch } from '../helpers/watch-events';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';
import { status } from '@grpc/grpc-js';

const HTTP = { httpListen: '127.0.0.1:0' } as const;

async function scrape(q: TestQueen): Promise<Exposition> {
  const answer = await httpFetch(q.httpPort, '/metrics');
  expect({ status: answer.status, type: answer.headers['content-type'] }).toEqual({
    status: 200,
    type: expect.stringMatching(/^text\/plain; version=0\.0\.4/) as unknown as string,
  });
  return parsePrometheusText(answer.body);
}

/** Waits (bounded, polling) until `condition` holds on a fresh scrape; returns that scrape. */
async function scrapeUntil(q: TestQueen, condition: (m: Exposition) => boolean, what: string): Promise<Exposition> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const metrics = await scrape(q);
    if (condition(metrics)) return metrics;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const REJECTION = 'hive_registry_heartbeat_rejections_total';
const RPC_COUNT = 'hive_registry_rpc_duration_seconds_count';

describe('GET /metrics', () => {
  let q: TestQueen | undefined;
  let other: TestQueen | undefined;
  afterEach(async () => {
    await q?.stop();
    await other?.stop();
    q = other = undefined;
  });

  test('a strict parse finds every contract series with its type, the process metrics, and no ids as labels', async () => {
    q = await TestQueen.start(HTTP);
    await q.connectHive('hive-a', [wireWorker('a-0', { modelId: 'org/model-x' })]);
    const metrics = await scrape(q);
    const types = Object.fromEntries([...metrics.families.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      hive_registry_hives: 'gauge',
      hive_registry_workers: 'gauge',
      hive_registry_heartbeats_total: 'counter',
      hive_registry_heartbeat_streams: 'gauge',
      hive_registry_rpc_duration_seconds: 'histogram',
      hive_registry_heartbeat_rejections_total: 'counter',
      hive_registry_watch_streams: 'gauge',
      hive_registry_reservations: 'gauge',
      hive_registry_owned_hives: 'gauge',
      hive_registry_catalog_flush_duration_seconds: 'histogram',
      hive_registry_catalog_flush_failures_total: 'counter',
      process_cpu_seconds_total: 'counter',
      nodejs_eventloop_lag_seconds: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
    });
    expect(metrics.labelValues('hive_registry_hives', 'state')).toEqual(['offline', 'online']);
    expect(metrics.labelValues('hive_registry_workers', 'state')).toEqual(
      ['busy', 'error', 'idle', 'loading', 'stopping', 'unspecified'],
    );
    expect(metrics.labelValues('hive_registry_heartbeats_total', 'result')).toEqual(['accepted', 'rejected']);
    // Every rejection class is there from the start, at 0.
    expect(metrics.labelValues(REJECTION, 'reason')).toEqual(
      ['internal', 'invalid_payload', 'max_hives', 'not_admitted', 'sequence', 'throttled', 'worker_claimed', 'wrong_hive'],
    );
    const labelValues = [...metrics.families.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)));
    for (const id of ['hive-a', 'a-0', 'org/model-x']) expect(labelValues).not.toContain(id);
  });

  test('engine gauges over a real queen: sums and mean of online hives, engine names as a closed set of labels', async () => {
    q = await TestQueen.start(HTTP);
    const a = await q.connectHive('hive-a', [
      wireWorker('a-0', { engine: 'vllm', requestsRunning: 6, requestsWaiting: 2, kvCacheUsage: 0.75 }),
      wireWorker('a-1', { engine: 'zz-custom-engine.7', requestsRunning: 1, kvCacheUsage: 0.25 }),
      wireWorker('a-2'),
    ]);
    await q.connectHive('hive-b', [wireWorker('b-0', { engine: 'simulated', requestsRunning: 4, requestsWaiting: 1 })]);
    const metrics = await scrape(q);
    expect({
      running: metrics.value('hive_registry_engine_requests_running'),
      waiting: metrics.value('hive_registry_engine_requests_waiting'),
      kvMean: metrics.value('hive_registry_engine_kv_cache_usage_ratio'),
      kvReporting: metrics.value('hive_registry_engine_kv_cache_reporting_workers'),
      byEngine: Object.fromEntries(
        metrics.labelValues('hive_registry_workers_by_engine', 'engine').map((engine) => [engine, metrics.value('hive_registry_workers_by_engine', { engine })]),
      ),
    }).toEqual({
      running: 11,
      waiting: 3,
      kvMean: 0.5,
      kvReporting: 2,
      byEngine: { 'llama.cpp': 0, none: 1, ollama: 0, other: 1, sglang: 0, simulated: 1, tgi: 0, vllm: 1 },
    });
    const types = Object.fromEntries([...metrics.families.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      hive_registry_engine_requests_running: 'gauge',
      hive_registry_engine_requests_waiting: 'gauge',
      hive_registry_engine_kv_cache_usage_ratio: 'gauge',
      hive_registry_engine_kv_cache_reporting_workers: 'gauge',
      hive_registry_workers_by_engine: 'gauge',
    });
    // hive-a goes offline: its figures are stale and leave the sums.
    a.end();
    const later = await scrapeUntil(q, (m) => m.value('hive_registry_hives', { state: 'offline' }) === 1, 'hive-a to go offline');
    expect([
      later.value('hive_registry_engine_requests_running'),
      later.value('hive_registry_engine_requests_waiting'),
      later.value('hive_registry_engine_kv_cache_reporting_workers'),
      later.value('hive_registry_workers_by_engine', { engine: 'other' }),
    ]).toEqual([4, 1, 0, 0]);
  });

  test('counters and gauges move by exactly the traffic: heartbeats by result and reason, RPCs by method and code', async () => {
    q = await TestQueen.start({ ...HTTP, heartbeatRateLimit: 6 });
    const before = await scrape(q);
    expect(before.value('hive_registry_heartbeats_total', { result: 'accepted' })).toBe(0);

    const a = await q.connectHive('hive-a', [
      wireWorker('a-0', { modelId: 'm1' }),
      wireWorker('a-1', { state: WorkerStatus.BUSY }),
    ]);
    const b = await q.connectHive('hive-b', [
      wireWorker('b-0', { state: WorkerStatus.LOADING }),
      wireWorker('b-1', { state: WorkerStatus.ERROR }),
      wireWorker('b-2', { state: WorkerStatus.STOPPING }),
      wireWorker('b-3', { state: WorkerStatus.UNSPECIFIED }),
    ]);
    // Rejections, one per class the registry and the stream adapter tell apart.
    expect(ackSummary(await a.send(snapshotPayload('hive-a', 1)))).toEqual(rejected(1, /^sequence:/));
    expect(ackSummary(await a.send(snapshotPayload('hive-a', 2, [wireWorker('a-0', { url: 'localhost:9300' })])))).toEqual(
      rejected(2, /^workers\[0\]\.url:/),
    );
    expect(ackSummary(await a.send(snapshotPayload('hive-a', 3, [wireWorker('a-9'), wireWorker('a-9')])))).toEqual(
      rejected(3, /duplicates/),
    );
    expect(ackSummary(await a.send(tickPayload('hive-b', 4)))).toEqual(rejected(4, /^hive_id:/));
    const c = q.client.heartbeat();
    expect(ackSummary(await c.send(snapshotPayload('hive-c', 1, [wireWorker('a-0')])))).toEqual(
      rejected(1, /held by online hive/),
    );
    // The rate limit (6 per interval, and the manual clock does not move): the 7th payload is throttled.
    const t = q.client.heartbeat();
    for (let sequence = 1; sequence <= 6; sequence += 1) {
      expect(ackSummary(await t.send(tickPayload('hive-t', sequence, sequence === 1 ? { unchanged: false } : {})))).toEqual(
        accepted(sequence),
      );
    }
    expect(ackSummary(await t.send(tickPayload('hive-t', 7)))).toEqual(rejected(7, /^throttled:/));

    await q.rpc.getHiveState({ hiveId: 'hive-a' });
    await q.rpc.getHiveState({ hiveId: 'hive-b' });
    await expectRpcError(q.rpc.getHiveState({ hiveId: 'nope' }), status.NOT_FOUND, /nope/);
    await expectRpcError(q.rpc.getHiveState({ hiveId: 'no spaces' }), status.INVALID_ARGUMENT, /hive_id/);
    const reserved = await q.rpc.findBestWorkerForModel({ modelId: 'm1', reserve: true, reservationTtl: { seconds: 1n } });
    expect(reserved.reservationId).not.toBe('');
    const watch = new RawWatch(q.address);
    await watch.takeSynced();

    const after = await scrape(q);
    expect({
      accepted: after.value('hive_registry_heartbeats_total', { result: 'accepted' }),
      rejected: after.value('hive_registry_heartbeats_total', { result: 'rejected' }),
      reasons: Object.fromEntries(after.labelValues(REJECTION, 'reason').map((reason) => [reason, after.value(REJECTION, { reason })])),
    }).toEqual({
      accepted: 8,
      rejected: 6,
      reasons: {
        internal: 0,
        invalid_payload: 2,
        max_hives: 0,
        not_admitted: 0,
        sequence: 1,
        throttled: 1,
        worker_claimed: 1,
        wrong_hive: 1,
      },
    });
    expect({
      ok: after.count(RPC_COUNT, { method: 'GetHiveState', code: 'OK' }),
      notFound: after.count(RPC_COUNT, { method: 'GetHiveState', code: 'NOT_FOUND' }),
      invalid: after.count(RPC_COUNT, { method: 'GetHiveState', code: 'INVALID_ARGUMENT' }),
      best: after.count(RPC_COUNT, { method: 'FindBestWorkerForModel', code: 'OK' }),
      // Streams are not RPC latencies: neither Heartbeat nor Watch is in the histogram.
      methods: after.labelValues(RPC_COUNT, 'method'),
    }).toEqual({ ok: 2, notFound: 1, invalid: 1, best: 1, methods: ['FindBestWorkerForModel', 'GetHiveState'] });
    expect({
      hives: [after.value('hive_registry_hives', { state: 'online' }), after.value('hive_registry_hives', { state: 'offline' })],
      workers: after.labelValues('hive_registry_workers', 'state').map((state) => after.value('hive_registry_workers', { state })),
      streams: after.value('hive_registry_heartbeat_streams'),
      watches: after.value('hive_registry_watch_streams'),
      reservations: after.value('hive_registry_reservations'),
      owned: after.value('hive_registry_owned_hives'),
    }).toEqual({ hives: [3, 0], workers: [1, 1, 1, 1, 1, 1], streams: 4, watches: 1, reservations: 1, owned: 3 });

    // hive-b says goodbye: offline at once, its workers no longer counted; the watch ends; the reservation expires.
    b.end();
    await b.status;
    watch.close();
    await watch.ends();
    q.clock.advance(1_001);
    const later = await scrapeUntil(q, (m) => m.value('hive_registry_watch_streams') === 0, 'the watch to close');
    expect({
      hives: [later.value('hive_registry_hives', { state: 'online' }), later.value('hive_registry_hives', { state: 'offline' })],
      workers: later.labelValues('hive_registry_workers', 'state').map((state) => later.value('hive_registry_workers', { state })),
      streams: later.value('hive_registry_heartbeat_streams'),
      reservations: later.value('hive_registry_reservations'),
      owned: later.value('hive_registry_owned_hives'),
      // Scrapes are not counted as anything.
      accepted: later.value('hive_registry_heartbeats_total', { result: 'accepted' }),
    }).toEqual({ hives: [2, 1], workers: [1, 0, 1, 0, 0, 0], streams: 3, reservations: 0, owned: 2, accepted: 8 });
  });

  test('admission refusals count as not_admitted (registration required) and max_hives (the hive limit)', async () => {
    q = await TestQueen.start({ ...HTTP, registration: 'required' });
    const stranger = q.client.heartbeat();
    expect(ackSummary(await stranger.send(snapshotPayload('hive-x', 1)))).toEqual(rejected(1, /not registered/));
    expect((await stranger.status).code).toBe(status.PERMISSION_DENIED);
    expect((await scrape(q)).value(REJECTION, { reason: 'not_admitted' })).toBe(1);

    other = await TestQueen.start({ ...HTTP, maxHives: 1 });
    await other.connectHive('hive-1');
    const second = other.client.heartbeat();
    expect(ackSummary(await second.send(snapshotPayload('hive-2', 1)))).toEqual(rejected(1, /hive_id:/));
    const metrics = await scrape(other);
    expect([metrics.value(REJECTION, { reason: 'max_hives' }), metrics.value(REJECTION, { reason: 'not_admitted' })]).toEqual([1, 0]);
  });

  test('each queen counts its own traffic: two queens in one process share no series', async () => {
    q = await TestQueen.start(HTTP);
    other = await TestQueen.start(HTTP);
    await q.connectHive('hive-a');
    const [mine, theirs] = await Promise.all([scrape(q), scrape(other)]);
    expect(mine.value('hive_registry_heartbeats_total', { result: 'accepted' })).toBe(1);
    expect(theirs.value('hive_registry_heartbeats_total', { result: 'accepted' })).toBe(0);
    expect(theirs.value('hive_registry_hives', { state: 'online' })).toBe(0);
  });

  test('catalog checkpoints are timed: a new hive is written by the next flush', async () => {
    q = await TestQueen.start({ ...HTTP, catalogFlushIntervalMs: 50 });
    const flushes = 'hive_registry_catalog_flush_duration_seconds_count';
    await q.connectHive('hive-a');
    const metrics = await scrapeUntil(q, (m) => m.count(flushes) >= 1, 'a catalog flush');
    expect(metrics.value('hive_registry_catalog_flush_failures_total')).toBe(0);
    expect(metrics.value('hive_registry_catalog_flush_duration_seconds_sum')).toBeGreaterThanOrEqual(0);
  });
});
