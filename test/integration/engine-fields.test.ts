// The engine fields of WorkerState (requests running and waiting, KV cache usage, engine and version, context
// length, status message) through a real grpc-js server: a heartbeat carrying them reaches GetWorker and Watch
// exactly, a bad one is refused naming the field, and the worker keeps its last good values.
import { Command } from 'commander';
import { WorkerStatus, type WorkerState } from '../../gen/hive/v1/registry_pb';
import type { CommandIo } from '../../src/cli/operator-commands';
import { addOperatorCommands } from '../../src/cli/operator-program';
import { accepted, ackSummary, rejected } from '../helpers/acks';
import { TestQueen } from '../helpers/queen';
import { RawWatches, summaries } from '../helpers/watch-events';
import { snapshotPayload, wireWorker, type WorkerInit } from '../helpers/wire-builders';

/** Field overrides of a wire worker. */
type Fields = NonNullable<Parameters<typeof wireWorker>[1]>;

/** Every engine field, with values a float32 carries exactly. */
const REPORTED = {
  requestsRunning: 3,
  requestsWaiting: 1,
  kvCacheUsage: 0.375,
  engine: 'vllm',
  engineVersion: '0.6.3.post1',
  contextLength: 131_072,
  statusMessage: 'serving meta/llama-3-8b',
} as const;

function engineFields(w: WorkerState | undefined) {
  return {
    requestsRunning: w?.requestsRunning,
    requestsWaiting: w?.requestsWaiting,
    kvCacheUsage: w?.kvCacheUsage,
    engine: w?.engine,
    engineVersion: w?.engineVersion,
    contextLength: w?.contextLength,
    statusMessage: w?.statusMessage,
  };
}

describe('WorkerState engine fields over a real server', () => {
  let q: TestQueen;
  let watches: RawWatches;

  beforeEach(async () => {
    q = await TestQueen.start();
    watches = new RawWatches(() => q.address);
  });

  afterEach(async () => {
    watches.closeAll();
    await q.stop();
  });

  const worker = (fields: Fields = {}): WorkerInit[] => [
    wireWorker('w-1', { modelId: 'meta/llama-3-8b', maxConcurrency: 8, ...REPORTED, ...fields }),
  ];

  it('all seven round-trip to GetWorker, GetHiveState and a Watch event', async () => {
    const w = watches.watch({});
    await w.takeSynced();
    await q.connectHive('hive-a', worker());

    const entry = (await q.rpc.getWorker({ workerId: 'w-1' })).entry;
    expect(engineFields(entry?.worker)).toEqual(REPORTED);
    const hive = (await q.rpc.getHiveState({ hiveId: 'hive-a' })).hive;
    expect(engineFields(hive?.workers[0])).toEqual(REPORTED);
    const events = await w.take(2);
    expect(summaries(events)).toEqual(['HIVE_ONLINE hive-a online @1', 'WORKER_UPSERTED hive-a/w-1 online @2']);
    expect(engineFields(events[1]?.worker)).toEqual(REPORTED);
  });

  it('absent fields stay absent on the way out', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1')]);
    const reported = (await q.rpc.getWorker({ workerId: 'w-1' })).entry?.worker;
    expect(engineFields(reported)).toEqual({
      requestsRunning: undefined,
      requestsWaiting: undefined,
      kvCacheUsage: undefined,
      engine: undefined,
      engineVersion: undefined,
      contextLength: undefined,
      statusMessage: undefined,
    });
  });

  it('a change of requests running, waiting or KV cache alone makes an event even under a load threshold', async () => {
    const stream = await q.connectHive('hive-a', worker({ gpuPercent: 40 })); // 1-2
    const w = watches.watch({ loadChangeThreshold: 50 });
    await w.takeSynced();
    let sequence = 1;
    const send = async (fields: Fields) =>
      expect(ackSummary(await stream.send(snapshotPayload('hive-a', ++sequence, worker({ gpuPercent: 40, ...fields }))))).toEqual(
        accepted(sequence),
      );
    await send({ gpuPercent: 41 }); // 3: a 1-point load change, held back by the threshold
    await send({ requestsRunning: 4 }); // 4 (gpu back to 40: 1 point, but running changed)
    await send({ requestsRunning: 4, requestsWaiting: 0 }); // 5
    await send({ requestsRunning: 4, requestsWaiting: 0, kvCacheUsage: 0.5 }); // 6
    await send({ requestsRunning: 4, requestsWaiting: 0, kvCacheUsage: 0.5 }); // unchanged: no event
    await send({ requestsRunning: 4, requestsWaiting: 0, kvCacheUsage: 0.5, statusMessage: 'draining' }); // 7
    const events = await w.take(4);
    expect(events.map((e) => [Number(e.revision), e.worker?.requestsRunning, e.worker?.requestsWaiting, e.worker?.kvCacheUsage, e.worker?.statusMessage])).toEqual([
      [4, 4, 1, 0.375, REPORTED.statusMessage],
      [5, 4, 0, 0.375, REPORTED.statusMessage],
      [6, 4, 0, 0.5, REPORTED.statusMessage],
      [7, 4, 0, 0.5, 'draining'],
    ]);
    expect(q.queen.registry.revision).toBe(7);
  });

  it.each<[string, Fields, RegExp]>([
    ['kv_cache_usage 1.5', { kvCacheUsage: 1.5 }, /^workers\[1\]\.kv_cache_usage: must be a number from 0 to 1, got 1\.5$/],
    ['kv_cache_usage NaN', { kvCacheUsage: Number.NaN }, /^workers\[1\]\.kv_cache_usage: must be a number from 0 to 1, got NaN$/],
    ['requests_running 1,000,001', { requestsRunning: 1_000_001 }, /^workers\[1\]\.requests_running: must be at most 1000000 requests, got 1000001$/],
    ['requests_waiting 5,000,000', { requestsWaiting: 5_000_000 }, /^workers\[1\]\.requests_waiting: must be at most 1000000 requests, got 5000000$/],
    ['an empty engine', { engine: '' }, /^workers\[1\]\.engine: must not be empty/],
    ['an engine of 33 characters', { engine: 'x'.repeat(33) }, /^workers\[1\]\.engine: must be at most 32 characters, got 33$/],
    ['an engine outside [a-z0-9.-]', { engine: 'vLLM' }, /^workers\[1\]\.engine: must contain only the characters \[a-z0-9\.-\], got "vLLM"$/],
    ['an engine_version of 65 characters', { engineVersion: '1'.repeat(65) }, /^workers\[1\]\.engine_version: must be at most 64 characters, got 65$/],
    ['a status_message of 257 characters', { statusMessage: 'm'.repeat(257) }, /^workers\[1\]\.status_message: must be at most 256 characters, got 257$/],
  ])('%s is refused naming the field; GetWorker still shows the old values', async (_name, bad, error) => {
    const stream = await q.connectHive('hive-a', worker());
    const payload = snapshotPayload('hive-a', 2, [wireWorker('w-0'), ...worker({ ...bad, state: WorkerStatus.BUSY })]);
    expect(ackSummary(await stream.send(payload))).toEqual(rejected(2, error));

    const kept = (await q.rpc.getWorker({ workerId: 'w-1' })).entry?.worker;
    expect({ state: kept?.state, ...engineFields(kept) }).toEqual({ state: WorkerStatus.IDLE, ...REPORTED });
    expect((await q.rpc.getWorkersOnHive({ hiveId: 'hive-a' })).workers.map((x) => x.workerId)).toEqual(['w-1']);
    expect(stream.ended).toBe(false);
  });

  /** Runs `hive-registry ARGS --queen <the test queen>` in process. */
  const cli = async (...args: string[]) => {
    const stdout: string[] = [];
    const io: CommandIo = { out: (t) => void stdout.push(t), err: () => undefined, nowMs: () => q.clock.wallNow() };
    let code = -1;
    const root = new Command('hive-registry').exitOverride();
    addOperatorCommands(root, {}, io, (c) => (code = c));
    await root.parseAsync([...args, '--queen', q.address], { from: 'user' });
    return { code, stdout: stdout.join('') };
  };

  it('the CLI: --json carries every field in the protobuf JSON form; the tables show them', async () => {
    await q.connectHive('hive-a', worker({ deviceId: 0 }));
    const json = {
      requestsRunning: 3,
      requestsWaiting: 1,
      kvCacheUsage: 0.375,
      engine: 'vllm',
      engineVersion: '0.6.3.post1',
      contextLength: 131072,
      statusMessage: 'serving meta/llama-3-8b',
    };
    // `workers` goes through the typed client's domain types and back: both conversions must carry the fields.
    const workers = await cli('workers', '--json');
    expect(workers.code).toBe(0);
    expect((JSON.parse(workers.stdout) as { workers: { worker: object }[] }).workers[0]?.worker).toMatchObject(json);
    const hive = await cli('hive', 'hive-a', '--json');
    expect((JSON.parse(hive.stdout) as { hive: { workers: object[] } }).hive.workers[0]).toMatchObject(json);
    const best = await cli('best', '--model', 'meta/llama-3-8b', '--json');
    expect((JSON.parse(best.stdout) as { entry: { worker: object } }).entry.worker).toMatchObject(json);

    const table = (await cli('workers')).stdout.split('\n');
    expect(table[0]).toMatch(/^HIVE\s+WORKER\s+STATE\s+MODEL\s+ENGINE\s+DEVICE\s+GPU\s+VRAM\s+RUN\/WAIT\s+KV\s+HEALTH\s+URL$/);
    expect(table[1]?.split(/\s+/)).toEqual(['hive-a', 'w-1', 'idle', 'meta/llama-3-8b', 'vllm', 'cuda:0', '-', '-', '3/1', '38%', 'healthy', 'http://10.0.0.1:9300/w-1']);
    const report = (await cli('hive', 'hive-a')).stdout;
    expect(report).toContain('\nWORKER  ENGINE            CONTEXT  STATUS\nw-1     vllm 0.6.3.post1  131072   serving meta/llama-3-8b\n');
    const picked = (await cli('best', '--model', 'meta/llama-3-8b')).stdout;
    expect(picked).toContain('  requests: 3 running, 1 waiting\n');
    expect(picked).toContain('  engine:   vllm 0.6.3.post1, context 131072 tokens\n  status:   serving meta/llama-3-8b\n');
  });
});
