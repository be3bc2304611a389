import { status } from '@grpc/grpc-js';
import { HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { expectRpcError, expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

const MODEL = 'org/llama-3-8b';

describe('FindBestWorkerForModel', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  /** The pick as "hive/worker" plus model_loaded. */
  async function best(modelId = MODEL): Promise<{ picked: string; modelLoaded: boolean; hiveOnline: boolean }> {
    const { entry, modelLoaded } = await q.rpc.findBestWorkerForModel({ modelId });
    return {
      picked: `${entry?.hiveId}/${entry?.worker?.workerId}`,
      modelLoaded,
      hiveOnline: entry?.hiveOnline ?? false,
    };
  }

  it('prefers an idle worker with the model loaded over a less loaded one without it', async () => {
    await q.connectHive('hive-a', [wireWorker('w-free', { gpuPercent: 0 })]);
    await q.connectHive('hive-b', [wireWorker('w-model', { modelId: MODEL, gpuPercent: 90 })]);
    expect(await best()).toEqual({ picked: 'hive-b/w-model', modelLoaded: true, hiveOnline: true });
  });

  it('returns the full worker entry of the pick', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL, gpuPercent: 12.5 })]);
    const { entry } = await q.rpc.findBestWorkerForModel({ modelId: MODEL });
    expect(entry?.worker).toMatchObject({
      workerId: 'w-1',
      url: 'http://10.0.0.1:9300/w-1',
      modelId: MODEL,
      gpuPercent: 12.5,
      state: WorkerStatus.IDLE,
    });
  });

  it('among workers with the model, picks the lowest gpu_percent', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, gpuPercent: 70 }),
      wireWorker('w-2', { modelId: MODEL, gpuPercent: 20 }),
    ]);
    await q.connectHive('hive-b', [wireWorker('w-3', { modelId: MODEL, gpuPercent: 45 })]);
    expect(await best()).toEqual({ picked: 'hive-a/w-2', modelLoaded: true, hiveOnline: true });
  });

  it('counts an absent gpu_percent as 100', async () => {
    await q.connectHive('hive-a', [wireWorker('w-unknown-load', { modelId: MODEL })]);
    await q.connectHive('hive-b', [wireWorker('w-99', { modelId: MODEL, gpuPercent: 99 })]);
    expect(await best()).toEqual({ picked: 'hive-b/w-99', modelLoaded: true, hiveOnline: true });
  });

  it('an absent gpu_percent ties with 100, broken by hive_id', async () => {
    await q.connectHive('hive-b', [wireWorker('w-100', { modelId: MODEL, gpuPercent: 100 })]);
    await q.connectHive('hive-a', [wireWorker('w-absent', { modelId: MODEL })]);
    expect(await best()).toEqual({ picked: 'hive-a/w-absent', modelLoaded: true, hiveOnline: true });
  });

  it('falls back to the least loaded idle worker (model_loaded=false) when no idle worker has the model', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-busy-model', { modelId: MODEL, state: WorkerStatus.BUSY, gpuPercent: 0 }),
      wireWorker('w-other-30', { modelId: 'org/other', gpuPercent: 30 }),
    ]);
    await q.connectHive('hive-b', [wireWorker('w-empty-10', { gpuPercent: 10 })]);
    expect(await best()).toEqual({ picked: 'hive-b/w-empty-10', modelLoaded: false, hiveOnline: true });
  });

  it('never picks a DEGRADED worker, even with the model and the lowest load', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-degraded', { modelId: MODEL, gpuPercent: 0, health: HealthStatus.DEGRADED }),
      wireWorker('w-healthy', { modelId: MODEL, gpuPercent: 80 }),
    ]);
    expect(await best()).toEqual({ picked: 'hive-a/w-healthy', modelLoaded: true, hiveOnline: true });
  });

  it('counts UNSPECIFIED health as healthy', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL, health: HealthStatus.UNSPECIFIED })]);
    expect(await best()).toEqual({ picked: 'hive-a/w-1', modelLoaded: true, hiveOnline: true });
  });

  it('never picks a worker of a hive whose stream ended', async () => {
    const gone = await q.connectHive('hive-a', [wireWorker('w-gone', { modelId: MODEL, gpuPercent: 0 })]);
    await q.connectHive('hive-b', [wireWorker('w-here', { gpuPercent: 50 })]);
    gone.end();
    expectStatus(await gone.status, status.OK);
    expect(await best()).toEqual({ picked: 'hive-b/w-here', modelLoaded: false, hiveOnline: true });
  });

  it('never picks a worker of a hive past the offline threshold (stream still open)', async () => {
    await q.connectHive('hive-stale', [wireWorker('w-stale', { modelId: MODEL, gpuPercent: 0 })]);
    q.clock.advance(10_000);
    const fresh = await q.connectHive('hive-fresh', [wireWorker('w-fresh', { gpuPercent: 50 })]);
    q.clock.advance(5_000); // hive-stale is 15 s old: offline; hive-fresh is 5 s old
    expect(await best()).toEqual({ picked: 'hive-fresh/w-fresh', modelLoaded: false, hiveOnline: true });
    expect(fresh.ended).toBe(false);
  });

  it('never picks a worker that is not IDLE (UNSPECIFIED, ERROR, STOPPING)', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, gpuPercent: 0, state: WorkerStatus.UNSPECIFIED }),
      wireWorker('w-2', { modelId: MODEL, gpuPercent: 0, state: WorkerStatus.ERROR }),
      wireWorker('w-3', { modelId: MODEL, gpuPercent: 0, state: WorkerStatus.STOPPING }),
      wireWorker('w-4', { gpuPercent: 60 }),
    ]);
    expect(await best()).toEqual({ picked: 'hive-a/w-4', modelLoaded: false, hiveOnline: true });
  });

  it('breaks ties on hive_id, then worker_id, whatever the order hives connected in', async () => {
    await q.connectHive('hive-c', [wireWorker('w-a', { modelId: MODEL, gpuPercent: 25 })]);
    await q.connectHive('hive-b', [
      wireWorker('w-z', { modelId: MODEL, gpuPercent: 25 }),
      wireWorker('w-y', { modelId: MODEL, gpuPercent: 25 }),
    ]);
    await q.connectHive('hive-d', [wireWorker('w-0', { modelId: MODEL, gpuPercent: 25 })]);
    expect(await best()).toEqual({ picked: 'hive-b/w-y', modelLoaded: true, hiveOnline: true });
    // Asking again gives the same answer: the pick is deterministic.
    expect(await best()).toEqual({ picked: 'hive-b/w-y', modelLoaded: true, hiveOnline: true });
  });

  it('follows the latest snapshot: a worker that became busy is no longer picked', async () => {
    const stream = await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, gpuPercent: 10 }),
      wireWorker('w-2', { modelId: MODEL, gpuPercent: 20 }),
    ]);
    expect((await best()).picked).toBe('hive-a/w-1');
    await stream.send(
      snapshotPayload('hive-a', 2, [
        wireWorker('w-1', { modelId: MODEL, gpuPercent: 10, state: WorkerStatus.BUSY }),
        wireWorker('w-2', { modelId: MODEL, gpuPercent: 20 }),
      ]),
    );
    expect((await best()).picked).toBe('hive-a/w-2');
  });

  it.each([
    ['empty', '', /^model_id: must not be empty/],
    ['257 characters', 'm'.repeat(257), /^model_id: must be at most 256 characters/],
    ['whitespace', 'org/llama 3', /^model_id: must not contain whitespace/],
  ])('rejects a model_id that is %s: INVALID_ARGUMENT naming model_id', async (_label, modelId, details) => {
    await expectRpcError(q.rpc.findBestWorkerForModel({ modelId }), status.INVALID_ARGUMENT, details);
  });

  it('answers RESOURCE_EXHAUSTED when every eligible worker is busy or loading', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, state: WorkerStatus.BUSY }),
      wireWorker('w-2', { state: WorkerStatus.LOADING }),
    ]);
    // Idle but not eligible: degraded, or on an offline hive.
    await q.connectHive('hive-b', [wireWorker('w-3', { modelId: MODEL, health: HealthStatus.DEGRADED })]);
    const offline = await q.connectHive('hive-c', [wireWorker('w-4', { modelId: MODEL })]);
    offline.end();
    expectStatus(await offline.status, status.OK);
    await expectRpcError(
      q.rpc.findBestWorkerForModel({ modelId: MODEL }),
      status.RESOURCE_EXHAUSTED,
      /no idle worker for model "org\/llama-3-8b"/,
    );
  });

  it('answers UNAVAILABLE for an empty registry', async () => {
    await expectRpcError(q.rpc.findBestWorkerForModel({ modelId: MODEL }), status.UNAVAILABLE, /org\/llama-3-8b/);
  });

  it('answers UNAVAILABLE when the only workers are degraded or on offline hives (busy ones included)', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, health: HealthStatus.DEGRADED }),
      wireWorker('w-2', { state: WorkerStatus.BUSY, health: HealthStatus.DEGRADED }),
    ]);
    await q.connectHive('hive-b', [wireWorker('w-3', { modelId: MODEL, state: WorkerStatus.BUSY })]);
    q.clock.advance(15_000); // both hives are now offline by the threshold
    await expectRpcError(q.rpc.findBestWorkerForModel({ modelId: MODEL }), status.UNAVAILABLE, /no eligible worker/);
  });
});
