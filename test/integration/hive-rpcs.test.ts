import { create } from '@bufbuild/protobuf';
import { DurationSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { Backend, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { expectRpcError, expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireDevice, wireWorker } from '../helpers/wire-builders';

const GiB = 1n << 30n;

/** Malformed hive ids, each with what the message must say about it. */
const BAD_HIVE_IDS: readonly (readonly [label: string, hiveId: string, details: RegExp])[] = [
  ['empty', '', /^hive_id: must not be empty/],
  ['129 characters', 'h'.repeat(129), /^hive_id: must be at most 128 characters, got 129/],
  ['a space', 'hive 1', /^hive_id: must contain only the characters \[A-Za-z0-9._:-\]/],
  ['a slash', 'hive/1', /^hive_id: must contain only the characters/],
  ['non-ASCII', 'hivé', /^hive_id: must contain only the characters/],
];

const seconds = (s: number) => create(DurationSchema, { seconds: BigInt(s) });

describe('hive RPCs', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  describe('GetHiveState', () => {
    it('returns the last accepted snapshot: sorted workers and devices, queen receive time, sender time, resources', async () => {
      q.clock.advance(2_500);
      const receivedWallMs = q.clock.wallNow();
      const senderTimestamp = timestampFromMs(Date.UTC(2025, 11, 31, 23, 59, 58, 250));
      await q.connectHive(
        'hive-a',
        [
          wireWorker('w-2', {
            modelId: 'org/model',
            deviceId: 1,
            vramBytes: 3n * GiB,
            ramBytes: 1n * GiB,
            gpuPercent: 40,
          }),
          wireWorker('w-1', { state: WorkerStatus.BUSY, deviceId: 0, vramBytes: 2n * GiB, ramBytes: 2n * GiB }),
        ],
        {
          sequence: 7n,
          timestamp: senderTimestamp,
          devices: [wireDevice(1, 8n * GiB), wireDevice(0, 16n * GiB)],
          ramTotalBytes: 64n * GiB,
        },
      );

      const { hive } = await q.rpc.getHiveState({ hiveId: 'hive-a' });

      expect(hive?.hiveId).toBe('hive-a');
      expect(hive?.workers.map((w) => w.workerId)).toEqual(['w-1', 'w-2']);
      expect(hive?.workers[0]?.state).toBe(WorkerStatus.BUSY);
      expect(hive?.workers[1]).toMatchObject({
        workerId: 'w-2',
        state: WorkerStatus.IDLE,
        url: 'http://10.0.0.1:9300/w-2',
        modelId: 'org/model',
        backend: Backend.CUDA,
        deviceId: 1,
        vramBytes: 3n * GiB,
        ramBytes: 1n * GiB,
        gpuPercent: 40,
      });
      expect(hive?.workerCount).toBe(2);
      expect(hive?.online).toBe(true);
      expect(hive?.sequence).toBe(7n);
      expect(hive?.lastHeartbeat).toEqual(timestampFromMs(receivedWallMs));
      expect(hive?.senderTimestamp).toEqual(senderTimestamp);
      expect(hive?.devices.map((d) => d.deviceId)).toEqual([0, 1]);
      expect(hive?.resources).toMatchObject({
        workerCount: 2,
        vramUsedBytes: 5n * GiB,
        ramUsedBytes: 3n * GiB,
        vramTotalBytes: 24n * GiB,
        vramFreeBytes: (16n - 2n + 8n - 3n) * GiB,
        ramTotalBytes: 64n * GiB,
      });
    });

    it('accepts a 128-character id (the limit) and answers NOT_FOUND for it when unknown', async () => {
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'h'.repeat(128) }), status.NOT_FOUND, /hive_id/);
    });

    it.each(BAD_HIVE_IDS)('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_label, hiveId, details) => {
      await expectRpcError(q.rpc.getHiveState({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it('answers NOT_FOUND for an unknown hive', async () => {
      await q.connectHive('hive-a');
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-b' }), status.NOT_FOUND, /"hive-b"/);
    });

    it('still returns an offline hive (stream ended), flagged online=false', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      stream.end();
      expectStatus(await stream.status, status.OK);
      const { hive } = await q.rpc.getHiveState({ hiveId: 'hive-a' });
      expect({ online: hive?.online, workers: hive?.workers.map((w) => w.workerId) }).toEqual({
        online: false,
        workers: ['w-1'],
      });
    });
  });

  describe('ListActiveHives', () => {
    it('lists online hives sorted by id, leaving out offline ones', async () => {
      await q.connectHive('hive-c');
      await q.connectHive('hive-a');
      const leaving = await q.connectHive('hive-b');
      expect((await q.rpc.listActiveHives()).hiveIds).toEqual(['hive-a', 'hive-b', 'hive-c']);

      leaving.end();
      expectStatus(await leaving.status, status.OK);
      expect((await q.rpc.listActiveHives()).hiveIds).toEqual(['hive-a', 'hive-c']);
    });

    it('uses max_age instead of the offline threshold when given', async () => {
      const old = await q.connectHive('hive-old');
      q.clock.advance(10_000);
      await q.connectHive('hive-new');
      expect((await q.rpc.listActiveHives({ maxAge: seconds(5) })).hiveIds).toEqual(['hive-new']);
      expect((await q.rpc.listActiveHives({ maxAge: seconds(11) })).hiveIds).toEqual(['hive-new', 'hive-old']);
      q.clock.advance(10_000); // hive-old is 20 s old: past the default threshold, within max_age 30 s
      expect((await q.rpc.listActiveHives()).hiveIds).toEqual(['hive-new']);
      expect((await q.rpc.listActiveHives({ maxAge: seconds(30) })).hiveIds).toEqual(['hive-new', 'hive-old']);
      expect(old.ended).toBe(false);
    });

    it.each([
      ['zero', create(DurationSchema, {}), /^max_age: must be positive/],
      ['negative', create(DurationSchema, { seconds: -1n }), /^max_age: must be positive/],
      ['malformed (mixed signs)', create(DurationSchema, { seconds: 1n, nanos: -5 }), /^max_age: not a valid Duration/],
    ])('rejects a %s max_age: INVALID_ARGUMENT naming max_age', async (_label, maxAge, details) => {
      await expectRpcError(q.rpc.listActiveHives({ maxAge }), status.INVALID_ARGUMENT, details);
    });

    it('returns an empty list when no hive is online', async () => {
      expect((await q.rpc.listActiveHives()).hiveIds).toEqual([]);
      await q.connectHive('hive-a');
      q.clock.advance(15_000);
      expect((await q.rpc.listActiveHives()).hiveIds).toEqual([]);
    });
  });

  describe('ListAllHives', () => {
    it('lists every hive sorted, offline ones not yet evicted included', async () => {
      await q.connectHive('hive-b');
      const gone = await q.connectHive('hive-c');
      await q.connectHive('hive-a');
      gone.cancel();
      q.clock.advance(20_000);
      expect((await q.rpc.listAllHives()).hiveIds).toEqual(['hive-a', 'hive-b', 'hive-c']);
    });

    it('returns an empty list for an empty registry, and again once hives are evicted', async () => {
      expect((await q.rpc.listAllHives()).hiveIds).toEqual([]);
      const stream = await q.connectHive('hive-a');
      q.clock.advance(600_000);
      q.queen.evictExpired();
      expectStatus(await stream.status, status.ABORTED, /evicted/);
      expect((await q.rpc.listAllHives()).hiveIds).toEqual([]);
    });
  });

  describe('GetAvailableResources', () => {
    it('sums the workers figures and computes free VRAM per device, floored at 0', async () => {
      await q.connectHive(
        'hive-a',
        [
          wireWorker('w-1', { deviceId: 0, vramBytes: 10n * GiB, ramBytes: 1n * GiB }),
          // Device 1 is over-committed: 6 + 4 GiB on an 8 GiB card counts as 0 free, not -2.
          wireWorker('w-2', { deviceId: 1, vramBytes: 6n * GiB, ramBytes: 2n * GiB }),
          wireWorker('w-3', { deviceId: 1, vramBytes: 4n * GiB }),
          // No device_id: counts in vram_used_bytes but against no device.
          wireWorker('w-4', { vramBytes: 1n * GiB, ramBytes: 3n * GiB }),
          // Reports nothing: adds nothing.
          wireWorker('w-5'),
          // On a device the hive did not report: used, but taken from no device's free VRAM.
          wireWorker('w-6', { deviceId: 7, vramBytes: 1n * GiB }),
        ],
        { devices: [wireDevice(0, 24n * GiB), wireDevice(1, 8n * GiB)], ramTotalBytes: 128n * GiB },
      );

      const { resources } = await q.rpc.getAvailableResources({ hiveId: 'hive-a' });

      expect(resources).toMatchObject({
        workerCount: 6,
        vramUsedBytes: 22n * GiB,
        ramUsedBytes: 6n * GiB,
        vramTotalBytes: 32n * GiB,
        vramFreeBytes: 14n * GiB,
        ramTotalBytes: 128n * GiB,
      });
    });

    it('reports 0 total and free VRAM (and 0 RAM total) when the hive reported no capacity', async () => {
      await q.connectHive('hive-a', [wireWorker('w-1', { vramBytes: 2n * GiB, ramBytes: 1n * GiB })]);
      const { resources } = await q.rpc.getAvailableResources({ hiveId: 'hive-a' });
      expect(resources).toMatchObject({
        workerCount: 1,
        vramUsedBytes: 2n * GiB,
        ramUsedBytes: 1n * GiB,
        vramTotalBytes: 0n,
        vramFreeBytes: 0n,
        ramTotalBytes: 0n,
      });
    });

    it.each(BAD_HIVE_IDS)('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_label, hiveId, details) => {
      await expectRpcError(q.rpc.getAvailableResources({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it('answers NOT_FOUND for an unknown hive', async () => {
      await expectRpcError(q.rpc.getAvailableResources({ hiveId: 'hive-x' }), status.NOT_FOUND, /"hive-x"/);
    });
  });

  describe('RemoveHive', () => {
    it('removes the hive and ends its open stream with ABORTED, saying it was removed', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      await q.connectHive('hive-b');

      expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);

      expectStatus(await stream.status, status.ABORTED, /hive "hive-a" was removed/);
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
      await expectRpcError(q.rpc.getWorker({ workerId: 'w-1' }), status.NOT_FOUND, /w-1/);
      expect((await q.rpc.listAllHives()).hiveIds).toEqual(['hive-b']);
      expect((await q.rpc.hiveCount()).count).toBe(1);
    });

    it('removes an offline hive whose stream already ended', async () => {
      const stream = await q.connectHive('hive-a');
      stream.end();
      expectStatus(await stream.status, status.OK);
      expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);
      expect((await q.rpc.hiveCount()).count).toBe(0);
    });

    it('lets the removed hive come back on a new stream', async () => {
      const first = await q.connectHive('hive-a', [wireWorker('w-1')]);
      await q.rpc.removeHive({ hiveId: 'hive-a' });
      expectStatus(await first.status, status.ABORTED, /removed/);
      await q.connectHive('hive-a', [wireWorker('w-2')]);
      expect((await q.rpc.getWorkersOnHive({ hiveId: 'hive-a' })).workers.map((w) => w.workerId)).toEqual(['w-2']);
    });

    it.each(BAD_HIVE_IDS)('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_label, hiveId, details) => {
      await expectRpcError(q.rpc.removeHive({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it('answers removed=false for an unknown hive, twice in a row for a removed one', async () => {
      expect((await q.rpc.removeHive({ hiveId: 'hive-x' })).removed).toBe(false);
      await q.connectHive('hive-a');
      expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);
      expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(false);
    });
  });

  describe('GetWorkerCount', () => {
    it('counts the workers of the last snapshot, also for an offline hive', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1'), wireWorker('w-2'), wireWorker('w-3')]);
      expect((await q.rpc.getWorkerCount({ hiveId: 'hive-a' })).count).toBe(3);
      await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w-1')]));
      expect((await q.rpc.getWorkerCount({ hiveId: 'hive-a' })).count).toBe(1);
      q.clock.advance(20_000);
      expect((await q.rpc.getWorkerCount({ hiveId: 'hive-a' })).count).toBe(1);
    });

    it('counts 0 for a hive that reports no workers', async () => {
      await q.connectHive('hive-a', []);
      expect((await q.rpc.getWorkerCount({ hiveId: 'hive-a' })).count).toBe(0);
    });

    it.each(BAD_HIVE_IDS)('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_label, hiveId, details) => {
      await expectRpcError(q.rpc.getWorkerCount({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it('answers NOT_FOUND for an unknown hive', async () => {
      await expectRpcError(q.rpc.getWorkerCount({ hiveId: 'hive-x' }), status.NOT_FOUND, /"hive-x"/);
    });
  });

  describe('IsHiveOnline', () => {
    it('is true for a hive streaming within the threshold, false once its stream ended', async () => {
      const stream = await q.connectHive('hive-a');
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(true);
      stream.end();
      expectStatus(await stream.status, status.OK);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(false);
    });

    it('uses max_age instead of the offline threshold', async () => {
      await q.connectHive('hive-a');
      q.clock.advance(3_000);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: seconds(3) })).online).toBe(false);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: seconds(4) })).online).toBe(true);
      expect(
        (await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: create(DurationSchema, { nanos: 1_000_000 }) })).online,
      ).toBe(false);
    });

    it.each(BAD_HIVE_IDS)('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_label, hiveId, details) => {
      await expectRpcError(q.rpc.isHiveOnline({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it.each([
      ['zero', create(DurationSchema, {})],
      ['negative', create(DurationSchema, { seconds: -5n })],
      ['negative nanos', create(DurationSchema, { nanos: -1 })],
    ])('rejects a %s max_age: INVALID_ARGUMENT naming max_age', async (_label, maxAge) => {
      await q.connectHive('hive-a');
      await expectRpcError(q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge }), status.INVALID_ARGUMENT, /^max_age: /);
    });

    it('answers false (not NOT_FOUND) for an unknown hive', async () => {
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-x' })).online).toBe(false);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-x', maxAge: seconds(60) })).online).toBe(false);
    });
  });

  describe('HiveCount', () => {
    it('is 0 for an empty registry', async () => {
      expect((await q.rpc.hiveCount()).count).toBe(0);
    });

    it('counts online and offline-not-evicted hives, and drops evicted ones', async () => {
      await q.connectHive('hive-a');
      const b = await q.connectHive('hive-b');
      b.end();
      expectStatus(await b.status, status.OK);
      q.clock.advance(20_000);
      expect((await q.rpc.hiveCount()).count).toBe(2);
      q.clock.advance(580_000); // both are now exactly evictAfterMs old
      q.queen.evictExpired();
      expect((await q.rpc.hiveCount()).count).toBe(0);
    });
  });
});
