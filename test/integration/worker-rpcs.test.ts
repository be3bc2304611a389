import { status } from '@grpc/grpc-js';
import { Backend, HealthStatus, WorkerStatus, type WorkerEntry } from '../../gen/hive/v1/registry_pb';
import { expectRpcError, expectStatus, type HeartbeatStream } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

const BAD_WORKER_IDS: readonly (readonly [label: string, workerId: string, details: RegExp])[] = [
  ['empty', '', /^worker_id: must not be empty/],
  ['129 characters', 'w'.repeat(129), /^worker_id: must be at most 128 characters, got 129/],
  ['a space', 'worker 1', /^worker_id: must contain only the characters \[A-Za-z0-9._:-\]/],
  ['a slash', 'w/1', /^worker_id: must contain only the characters/],
];

const BAD_HIVE_IDS: readonly (readonly [label: string, hiveId: string, details: RegExp])[] = [
  ['empty', '', /^hive_id: must not be empty/],
  ['129 characters', 'h'.repeat(129), /^hive_id: must be at most 128 characters, got 129/],
  ['a bad character', 'hive#1', /^hive_id: must contain only the characters/],
];

const BAD_MODEL_IDS: readonly (readonly [label: string, modelId: string, details: RegExp])[] = [
  ['empty', '', /^model_id: must not be empty/],
  ['257 characters', 'm'.repeat(257), /^model_id: must be at most 256 characters, got 257/],
  ['a space', 'org/ model', /^model_id: must not contain whitespace/],
  ['a tab', 'org/model\t', /^model_id: must not contain whitespace/],
];

/** Entries as "hive/worker" strings with the online flag: easy to compare as a whole list. */
const ids = (entries: readonly WorkerEntry[]) =>
  entries.map((e) => `${e.hiveId}/${e.worker?.workerId ?? '?'}${e.hiveOnline ? '' : ' (offline)'}`);

describe('worker RPCs', () => {
  let q: TestQueen;
  let hiveA: HeartbeatStream;
  let hiveB: HeartbeatStream;

  /** Takes hive-b offline (clean goodbye), so include_offline matters. */
  async function takeHiveBOffline(): Promise<void> {
    hiveB.end();
    expectStatus(await hiveB.status, status.OK);
  }

  beforeEach(async () => {
    q = await TestQueen.start();
    // hive-b streams first and workers are listed out of order: the answers must still be sorted.
    hiveB = await q.connectHive('hive-b', [
      wireWorker('w-b2', { modelId: 'org/llama', backend: Backend.CUDA, gpuPercent: 50 }),
      wireWorker('w-b1', { state: WorkerStatus.BUSY, modelId: 'org/llama', backend: Backend.METAL }),
    ]);
    hiveA = await q.connectHive('hive-a', [
      wireWorker('w-a2', { modelId: 'org/mistral', backend: Backend.CPU, url: 'https://a.example:8443/v1' }),
      wireWorker('w-a1', {
        state: WorkerStatus.LOADING,
        modelId: 'org/llama',
        backend: Backend.CUDA,
        health: HealthStatus.DEGRADED,
      }),
    ]);
  });

  afterEach(async () => {
    await q.stop();
  });

  describe('ListAllWorkers', () => {
    it('lists every worker sorted by hive_id then worker_id', async () => {
      const { workers } = await q.rpc.listAllWorkers();
      expect(ids(workers)).toEqual(['hive-a/w-a1', 'hive-a/w-a2', 'hive-b/w-b1', 'hive-b/w-b2']);
      expect(workers[0]?.worker?.health).toBe(HealthStatus.DEGRADED);
    });

    it('keeps the workers of an offline hive, flagged hive_online=false', async () => {
      await takeHiveBOffline();
      const { workers } = await q.rpc.listAllWorkers();
      expect(ids(workers)).toEqual(['hive-a/w-a1', 'hive-a/w-a2', 'hive-b/w-b1 (offline)', 'hive-b/w-b2 (offline)']);
    });

    it('is empty once every hive is evicted', async () => {
      q.clock.advance(600_000);
      q.queen.evictExpired();
      expect((await q.rpc.listAllWorkers()).workers).toEqual([]);
    });
  });

  describe('FindIdleWorkers', () => {
    it('lists IDLE workers of online hives, sorted', async () => {
      expect(ids((await q.rpc.findIdleWorkers()).workers)).toEqual(['hive-a/w-a2', 'hive-b/w-b2']);
    });

    it('leaves out offline hives unless include_offline is set', async () => {
      await takeHiveBOffline();
      expect(ids((await q.rpc.findIdleWorkers({ includeOffline: false })).workers)).toEqual(['hive-a/w-a2']);
      expect(ids((await q.rpc.findIdleWorkers({ includeOffline: true })).workers)).toEqual([
        'hive-a/w-a2',
        'hive-b/w-b2 (offline)',
      ]);
    });

    it('returns an empty list when no worker is idle', async () => {
      await hiveA.send(snapshotPayload('hive-a', 2, [wireWorker('w-a2', { state: WorkerStatus.BUSY })]));
      await hiveB.send(snapshotPayload('hive-b', 2, [wireWorker('w-b2', { state: WorkerStatus.UNSPECIFIED })]));
      expect((await q.rpc.findIdleWorkers({ includeOffline: true })).workers).toEqual([]);
    });
  });

  describe('FindWorkersByModel', () => {
    it('lists workers with exactly this model (degraded ones included, flagged by health), sorted', async () => {
      const { workers } = await q.rpc.findWorkersByModel({ modelId: 'org/llama' });
      expect(ids(workers)).toEqual(['hive-a/w-a1', 'hive-b/w-b1', 'hive-b/w-b2']);
      expect(workers.map((e) => e.worker?.health)).toEqual([
        HealthStatus.DEGRADED,
        HealthStatus.HEALTHY,
        HealthStatus.HEALTHY,
      ]);
    });

    it('matches exactly: no prefix or case-insensitive match', async () => {
      expect((await q.rpc.findWorkersByModel({ modelId: 'org/llam' })).workers).toEqual([]);
      expect((await q.rpc.findWorkersByModel({ modelId: 'ORG/LLAMA' })).workers).toEqual([]);
      expect(ids((await q.rpc.findWorkersByModel({ modelId: 'org/mistral' })).workers)).toEqual(['hive-a/w-a2']);
    });

    it('leaves out offline hives unless include_offline is set', async () => {
      await takeHiveBOffline();
      expect(ids((await q.rpc.findWorkersByModel({ modelId: 'org/llama' })).workers)).toEqual(['hive-a/w-a1']);
      expect(ids((await q.rpc.findWorkersByModel({ modelId: 'org/llama', includeOffline: true })).workers)).toEqual([
        'hive-a/w-a1',
        'hive-b/w-b1 (offline)',
        'hive-b/w-b2 (offline)',
      ]);
    });

    it.each(BAD_MODEL_IDS)('rejects a model_id with %s: INVALID_ARGUMENT naming model_id', async (_l, modelId, details) => {
      await expectRpcError(q.rpc.findWorkersByModel({ modelId }), status.INVALID_ARGUMENT, details);
    });

    it('returns an empty list for a model no worker has (a 256-character id is valid)', async () => {
      expect((await q.rpc.findWorkersByModel({ modelId: 'org/unknown' })).workers).toEqual([]);
      expect((await q.rpc.findWorkersByModel({ modelId: 'm'.repeat(256), includeOffline: true })).workers).toEqual([]);
    });
  });

  describe('FindWorkersByBackend', () => {
    it('lists workers on this backend, sorted', async () => {
      expect(ids((await q.rpc.findWorkersByBackend({ backend: Backend.CUDA })).workers)).toEqual([
        'hive-a/w-a1',
        'hive-b/w-b2',
      ]);
      expect(ids((await q.rpc.findWorkersByBackend({ backend: Backend.CPU })).workers)).toEqual(['hive-a/w-a2']);
    });

    it('leaves out offline hives unless include_offline is set', async () => {
      await takeHiveBOffline();
      expect(ids((await q.rpc.findWorkersByBackend({ backend: Backend.METAL })).workers)).toEqual([]);
      expect(
        ids((await q.rpc.findWorkersByBackend({ backend: Backend.METAL, includeOffline: true })).workers),
      ).toEqual(['hive-b/w-b1 (offline)']);
    });

    it('rejects BACKEND_UNSPECIFIED: INVALID_ARGUMENT naming backend', async () => {
      await expectRpcError(
        q.rpc.findWorkersByBackend({ backend: Backend.UNSPECIFIED }),
        status.INVALID_ARGUMENT,
        /^backend: /,
      );
    });

    it('rejects a number outside the Backend enum: INVALID_ARGUMENT naming backend', async () => {
      await expectRpcError(
        q.rpc.findWorkersByBackend({ backend: 99 as Backend }),
        status.INVALID_ARGUMENT,
        /^backend: 99 is not a Backend value/,
      );
    });

    it('returns an empty list for a backend no worker uses', async () => {
      expect((await q.rpc.findWorkersByBackend({ backend: Backend.ROCM, includeOffline: true })).workers).toEqual([]);
    });
  });

  describe('GetWorker', () => {
    it('returns the worker with its hive and the hive liveness', async () => {
      const { entry } = await q.rpc.getWorker({ workerId: 'w-a2' });
      expect(entry?.hiveId).toBe('hive-a');
      expect(entry?.hiveOnline).toBe(true);
      expect(entry?.worker).toMatchObject({
        workerId: 'w-a2',
        state: WorkerStatus.IDLE,
        url: 'https://a.example:8443/v1',
        modelId: 'org/mistral',
        backend: Backend.CPU,
        health: HealthStatus.HEALTHY,
      });
    });

    it('still finds a worker of an offline hive, flagged hive_online=false', async () => {
      await takeHiveBOffline();
      const { entry } = await q.rpc.getWorker({ workerId: 'w-b1' });
      expect({ hiveId: entry?.hiveId, hiveOnline: entry?.hiveOnline }).toEqual({ hiveId: 'hive-b', hiveOnline: false });
    });

    it('prefers the online holder of an id, then the lowest hive_id among offline holders', async () => {
      // hive-a holds "shared", goes offline; hive-c may then claim it.
      await hiveA.send(snapshotPayload('hive-a', 2, [wireWorker('shared')]));
      hiveA.end();
      expectStatus(await hiveA.status, status.OK);
      const hiveC = await q.connectHive('hive-c', [wireWorker('shared', { url: 'http://10.0.0.3:9300/' })]);

      const online = await q.rpc.getWorker({ workerId: 'shared' });
      expect({ hiveId: online.entry?.hiveId, hiveOnline: online.entry?.hiveOnline }).toEqual({
        hiveId: 'hive-c',
        hiveOnline: true,
      });

      hiveC.end();
      expectStatus(await hiveC.status, status.OK);
      const offline = await q.rpc.getWorker({ workerId: 'shared' });
      expect({ hiveId: offline.entry?.hiveId, hiveOnline: offline.entry?.hiveOnline }).toEqual({
        hiveId: 'hive-a',
        hiveOnline: false,
      });
    });

    it.each(BAD_WORKER_IDS)('rejects a worker_id with %s: INVALID_ARGUMENT naming worker_id', async (_l, workerId, details) => {
      await expectRpcError(q.rpc.getWorker({ workerId }), status.INVALID_ARGUMENT, details);
    });

    it('answers NOT_FOUND for an unknown worker, and for one dropped by a newer snapshot', async () => {
      await expectRpcError(q.rpc.getWorker({ workerId: 'w-x' }), status.NOT_FOUND, /^worker_id: .*"w-x"/);
      await hiveB.send(snapshotPayload('hive-b', 2, [wireWorker('w-b2')]));
      await expectRpcError(q.rpc.getWorker({ workerId: 'w-b1' }), status.NOT_FOUND, /"w-b1"/);
    });
  });

  describe('GetWorkerUrl', () => {
    it('returns the worker URL and its hive', async () => {
      const response = await q.rpc.getWorkerUrl({ workerId: 'w-a2' });
      expect({ url: response.url, hiveId: response.hiveId }).toEqual({
        url: 'https://a.example:8443/v1',
        hiveId: 'hive-a',
      });
    });

    it.each(BAD_WORKER_IDS)('rejects a worker_id with %s: INVALID_ARGUMENT naming worker_id', async (_l, workerId, details) => {
      await expectRpcError(q.rpc.getWorkerUrl({ workerId }), status.INVALID_ARGUMENT, details);
    });

    it('answers NOT_FOUND for an unknown worker', async () => {
      await expectRpcError(q.rpc.getWorkerUrl({ workerId: 'w-x' }), status.NOT_FOUND, /"w-x"/);
    });
  });

  describe('TotalWorkerCount', () => {
    it('counts the workers of every hive, offline ones not yet evicted included', async () => {
      expect((await q.rpc.totalWorkerCount()).count).toBe(4);
      await takeHiveBOffline();
      q.clock.advance(20_000);
      expect((await q.rpc.totalWorkerCount()).count).toBe(4);
      await hiveA.send(snapshotPayload('hive-a', 2, [wireWorker('w-a1')]));
      expect((await q.rpc.totalWorkerCount()).count).toBe(3);
    });

    it('is 0 once every hive is gone', async () => {
      await q.rpc.removeHive({ hiveId: 'hive-a' });
      await q.rpc.removeHive({ hiveId: 'hive-b' });
      expect((await q.rpc.totalWorkerCount()).count).toBe(0);
    });
  });

  describe('GetWorkersOnHive', () => {
    it('returns the hive workers sorted by worker_id, also for an offline hive', async () => {
      const { workers } = await q.rpc.getWorkersOnHive({ hiveId: 'hive-b' });
      expect(workers.map((w) => w.workerId)).toEqual(['w-b1', 'w-b2']);
      expect(workers[1]).toMatchObject({ gpuPercent: 50, modelId: 'org/llama', backend: Backend.CUDA });
      await takeHiveBOffline();
      expect((await q.rpc.getWorkersOnHive({ hiveId: 'hive-b' })).workers.map((w) => w.workerId)).toEqual([
        'w-b1',
        'w-b2',
      ]);
    });

    it.each(BAD_HIVE_IDS)('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_l, hiveId, details) => {
      await expectRpcError(q.rpc.getWorkersOnHive({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it('returns an empty list (not NOT_FOUND) for an unknown hive', async () => {
      expect((await q.rpc.getWorkersOnHive({ hiveId: 'hive-x' })).workers).toEqual([]);
    });
  });
});
