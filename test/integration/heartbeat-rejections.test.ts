import { create } from '@bufbuild/protobuf';
import { TimestampSchema } from '@bufbuild/protobuf/wkt';
import { Backend, HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { accepted, ackSummary, rejected, snapshotOf } from '../helpers/acks';
import type { PayloadInit } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireDevice, wireWorker } from '../helpers/wire-builders';

describe('Heartbeat: rejected payloads', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  interface Case {
    readonly name: string;
    readonly payload: PayloadInit;
    readonly error: RegExp;
    /** Runs after hive-a's first snapshot and before the bad payload. */
    readonly setup?: () => Promise<void>;
  }

  const cases: readonly Case[] = [
    {
      name: 'a worker url that is not an absolute http(s) URL',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { url: 'localhost:9300' })]),
      error: /^workers\[0\]\.url: must be an absolute http\(s\) URL, got "localhost:9300"/,
    },
    {
      name: 'a worker url with another scheme',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2'), wireWorker('w-3', { url: 'ftp://10.0.0.1/x' })]),
      error: /^workers\[1\]\.url: /,
    },
    {
      name: 'an empty worker_id',
      payload: snapshotPayload('hive-a', 2, [wireWorker('')]),
      error: /^workers\[0\]\.worker_id: must not be empty/,
    },
    {
      name: 'a worker_id of 129 characters',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w'.repeat(129))]),
      error: /^workers\[0\]\.worker_id: must be at most 128 characters/,
    },
    {
      name: 'a worker_id with a bad character',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w 2')]),
      error: /^workers\[0\]\.worker_id: must contain only/,
    },
    {
      name: 'a model_id with whitespace',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { modelId: 'org/ model' })]),
      error: /^workers\[0\]\.model_id: must not contain whitespace/,
    },
    {
      name: 'a state outside the WorkerStatus enum (99)',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { state: 99 as WorkerStatus })]),
      error: /^workers\[0\]\.state: 99 is not a WorkerStatus value/,
    },
    {
      name: 'a backend outside the Backend enum',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { backend: 7 as Backend })]),
      error: /^workers\[0\]\.backend: 7 is not a Backend value/,
    },
    {
      name: 'a health outside the HealthStatus enum',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { health: 3 as HealthStatus })]),
      error: /^workers\[0\]\.health: 3 is not a HealthStatus value/,
    },
    {
      name: 'a device backend outside the Backend enum',
      payload: snapshotPayload('hive-a', 2, [], { devices: [wireDevice(0, 1n, { backend: 42 as Backend })] }),
      error: /^devices\[0\]\.backend: 42 is not a Backend value/,
    },
    {
      name: 'a gpu_percent above 100',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { gpuPercent: 150 })]),
      error: /^workers\[0\]\.gpu_percent: /,
    },
    {
      name: 'a negative cpu_percent',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { cpuPercent: -1 })]),
      error: /^workers\[0\]\.cpu_percent: /,
    },
    {
      name: 'a kv_cache_usage above 1',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2'), wireWorker('w-3'), wireWorker('w-4', { kvCacheUsage: 1.5 })]),
      error: /^workers\[2\]\.kv_cache_usage: must be a number from 0 to 1, got 1\.5$/,
    },
    {
      name: 'a requests_running over 1,000,000',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { requestsRunning: 1_000_001 })]),
      error: /^workers\[0\]\.requests_running: must be at most 1000000 requests, got 1000001$/,
    },
    {
      name: 'a requests_waiting over 1,000,000',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { requestsWaiting: 1_000_001 })]),
      error: /^workers\[0\]\.requests_waiting: must be at most 1000000 requests, got 1000001$/,
    },
    {
      name: 'an engine set but empty',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { engine: '' })]),
      error: /^workers\[0\]\.engine: must not be empty/,
    },
    {
      name: 'an engine with a character outside [a-z0-9.-]',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { engine: 'llama_cpp' })]),
      error: /^workers\[0\]\.engine: must contain only the characters \[a-z0-9\.-\], got "llama_cpp"$/,
    },
    {
      name: 'an engine_version over 64 characters',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { engineVersion: 'v'.repeat(65) })]),
      error: /^workers\[0\]\.engine_version: must be at most 64 characters, got 65$/,
    },
    {
      name: 'a status_message over 256 characters',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2', { statusMessage: 'é'.repeat(257) })]),
      error: /^workers\[0\]\.status_message: must be at most 256 characters, got 257$/,
    },
    {
      name: 'a sequence equal to the last accepted one',
      payload: snapshotPayload('hive-a', 1, [wireWorker('w-2')]),
      error: /^sequence: must be greater than 1 .*got 1/,
    },
    {
      name: 'a sequence below the last accepted one',
      payload: tickPayload('hive-a', 0),
      error: /^sequence: must be greater than 1 .*got 0/,
    },
    {
      name: 'a hive_id different from the stream hive',
      payload: snapshotPayload('hive-b', 2, [wireWorker('w-2')]),
      error: /^hive_id: this stream belongs to hive "hive-a", got "hive-b"/,
    },
    {
      name: 'an empty hive_id',
      payload: snapshotPayload('', 2, [wireWorker('w-2')]),
      error: /^hive_id: must not be empty/,
    },
    {
      name: 'duplicate worker ids',
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2'), wireWorker('w-3'), wireWorker('w-2')]),
      error: /^workers\[2\]\.worker_id: "w-2" duplicates workers\[0\]/,
    },
    {
      name: 'duplicate device ids',
      payload: snapshotPayload('hive-a', 2, [], { devices: [wireDevice(3, 1n), wireDevice(3, 2n)] }),
      error: /^devices\[1\]\.device_id: 3 duplicates devices\[0\]/,
    },
    {
      name: 'a tick that lists workers',
      payload: tickPayload('hive-a', 2, { workers: [wireWorker('w-2')] }),
      error: /^workers: must be empty when unchanged is set/,
    },
    {
      name: 'a tick that lists devices',
      payload: tickPayload('hive-a', 2, { devices: [wireDevice(0, 1n)] }),
      error: /^devices: must be empty when unchanged is set/,
    },
    {
      name: 'a timestamp with out-of-range nanos',
      payload: snapshotPayload('hive-a', 2, [], { timestamp: create(TimestampSchema, { seconds: 1n, nanos: -1 }) }),
      error: /^timestamp: /,
    },
    {
      name: 'a worker_id held by another online hive',
      setup: async () => {
        await q.connectHive('hive-z', [wireWorker('w-taken')]);
      },
      payload: snapshotPayload('hive-a', 2, [wireWorker('w-2'), wireWorker('w-taken')]),
      error: /^workers\[1\]\.worker_id: "w-taken" is held by online hive "hive-z"/,
    },
  ];

  it.each(cases)('$name: accepted=false naming the field; stream open, last snapshot kept', async (c) => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')], { devices: [wireDevice(0, 1n << 30n)] });
    await c.setup?.();

    const ack = await stream.send(c.payload);

    expect(ackSummary(ack)).toEqual(rejected(c.payload.sequence ?? 0n, c.error));
    expect(await snapshotOf(q.rpc, 'hive-a')).toEqual({ workers: ['w-1'], devices: [0], sequence: 1n, online: true });
    // The stream is still open and still hive-a's: a later good payload is accepted on it.
    expect(ackSummary(await stream.send(snapshotPayload('hive-a', 5, [wireWorker('w-5')])))).toEqual(accepted(5));
    expect(await snapshotOf(q.rpc, 'hive-a')).toEqual({ workers: ['w-5'], devices: [], sequence: 5n, online: true });
    expect(stream.ended).toBe(false);
  });
});
