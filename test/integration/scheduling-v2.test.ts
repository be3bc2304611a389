// Scheduling v2 over a real server: reservations, ReleaseWorker, ReportWorkerFailure, VRAM fit, selectors and
// cordon, each RPC with good input, bad input and not found.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durationFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { accepted, ackSummary, rejected } from '../helpers/acks';
import { expectRpcError } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireDevice, wireWorker } from '../helpers/wire-builders';

const MODEL = 'org/llama-3-8b';
const GiB = 1n << 30n;

let q: TestQueen;

beforeEach(async () => {
  q = await TestQueen.start();
});

afterEach(async () => {
  await q.stop();
});

async function best(init: Parameters<TestQueen['rpc']['findBestWorkerForModel']>[0] = {}) {
  const response = await q.rpc.findBestWorkerForModel({ modelId: MODEL, ...init });
  return { picked: `${response.entry?.hiveId}/${response.entry?.worker?.workerId}`, reservationId: response.reservationId };
}

describe('reservations', () => {
  it('reserve holds a slot named by a reservation_id until ReleaseWorker; a plain pick carries none', async () => {
    await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL, maxConcurrency: 2 })]);
    expect((await best()).reservationId).toBe('');
    const first = await best({ reserve: true });
    expect(first.reservationId).toMatch(/^[0-9a-f-]{36}$/);
    const second = await best({ reserve: true });
    expect(second.reservationId).not.toBe(first.reservationId);
    await expectRpcError(best({ reserve: true }), status.RESOURCE_EXHAUSTED, /fully reserved/);
    await expectRpcError(best(), status.RESOURCE_EXHAUSTED, /1 of 1 eligible workers/);

    expect(await q.rpc.releaseWorker({ reservationId: first.reservationId, success: true })).toMatchObject({ released: true });
    expect(await q.rpc.releaseWorker({ reservationId: first.reservationId, success: true })).toMatchObject({ released: false });
    expect((await best({ reserve: true })).picked).toBe('hive-a/w');
  });

  it('a reservation ends by itself after reservation_ttl (the queen clock), and cannot be released then', async () => {
    await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL })]);
    const { reservationId } = await best({ reserve: true, reservationTtl: durationFromMs(2_000) });
    q.clock.advance(1_999);
    await expectRpcError(best(), status.RESOURCE_EXHAUSTED, /no idle worker/);
    q.clock.advance(1);
    expect((await best()).picked).toBe('hive-a/w');
    expect(await q.rpc.releaseWorker({ reservationId, success: true })).toMatchObject({ released: false });
  });

  it.each([
    ['zero', durationFromMs(0)],
    ['negative', { seconds: -1n, nanos: 0 }],
    ['over 10 min', durationFromMs(600_001)],
  ])('reservation_ttl %s is INVALID_ARGUMENT naming the field and the limit', async (_what, reservationTtl) => {
    await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL })]);
    await expectRpcError(best({ reserve: true, reservationTtl }), status.INVALID_ARGUMENT, /^reservation_ttl: must be more than 0 and at most 10 min/);
  });

  it('a reservation_ttl that is not a valid Duration is INVALID_ARGUMENT naming it', async () => {
    await expectRpcError(
      best({ reserve: true, reservationTtl: { seconds: 1n, nanos: -5 } }),
      status.INVALID_ARGUMENT,
      /^reservation_ttl: not a valid Duration/,
    );
  });

  it('ReleaseWorker: an empty reservation_id is INVALID_ARGUMENT; an unknown one is released: false', async () => {
    await expectRpcError(q.rpc.releaseWorker({ reservationId: '' }), status.INVALID_ARGUMENT, /^reservation_id:/);
    expect(await q.rpc.releaseWorker({ reservationId: 'no-such-reservation' })).toMatchObject({ released: false });
  });

  it('max_concurrency travels with the worker, and out of range is refused naming the field', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL, maxConcurrency: 16 })]);
    expect((await q.rpc.getWorker({ workerId: 'w' })).entry?.worker?.maxConcurrency).toBe(16);
    const ack = await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w', { maxConcurrency: 0 })]));
    expect(ackSummary(ack)).toEqual(rejected(2, /workers\[0\]\.max_concurrency: must be from 1 to 4096/));
    expect(ackSummary(await stream.send(snapshotPayload('hive-a', 3, [wireWorker('w', { maxConcurrency: 4096 })])))).toEqual(accepted(3));
  });
});

describe('ReportWorkerFailure', () => {
  it('excludes the worker until excluded_until (1 s, then doubling); a successful release clears it', async () => {
    await q.connectHive('hive-a', [
      wireWorker('bad', { modelId: MODEL, gpuPercent: 0, maxConcurrency: 4 }),
      wireWorker('ok', { modelId: MODEL, gpuPercent: 50 }),
    ]);
    const { reservationId } = await best({ reserve: true });
    const wallBefore = q.clock.wallNow();
    const first = await q.rpc.reportWorkerFailure({ workerId: 'bad', reason: 'connection refused' });
    expect(timestampMs(first.excludedUntil!)).toBe(wallBefore + 1_000);
    expect((await best()).picked).toBe('hive-a/ok');
    const second = await q.rpc.reportWorkerFailure({ workerId: 'bad', reason: 'HTTP 503' });
    expect(timestampMs(second.excludedUntil!)).toBe(wallBefore + 2_000);

    await q.rpc.releaseWorker({ reservationId, success: true });
    expect((await best()).picked).toBe('hive-a/bad');
  });

  it('an empty worker_id or an over-long reason is INVALID_ARGUMENT; an unknown worker NOT_FOUND', async () => {
    await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL })]);
    await expectRpcError(q.rpc.reportWorkerFailure({ workerId: '' }), status.INVALID_ARGUMENT, /^worker_id:/);
    await expectRpcError(q.rpc.reportWorkerFailure({ workerId: 'w', reason: 'x'.repeat(1_025) }), status.INVALID_ARGUMENT, /^reason: must be at most 1024/);
    await expectRpcError(q.rpc.reportWorkerFailure({ workerId: 'ghost' }), status.NOT_FOUND, /no worker "ghost"/);
  });
});

describe('VRAM fit', () => {
  it('the fallback needs min_vram_bytes free on its device; none fits: RESOURCE_EXHAUSTED in plain integers', async () => {
    await q.connectHive('hive-a', [wireWorker('w', { deviceId: 0, vramBytes: 4n * GiB })], { devices: [wireDevice(0, 24n * GiB)] });
    expect((await best({ minVramBytes: 20n * GiB })).picked).toBe('hive-a/w');
    await expectRpcError(
      best({ minVramBytes: 20n * GiB + 1n }),
      status.RESOURCE_EXHAUSTED,
      new RegExp(`^min_vram_bytes: .*none without it has ${20n * GiB + 1n} bytes of VRAM free on its device; the most free is ${20n * GiB} bytes$`),
    );
  });

  it('min_vram_bytes beyond 2^53 - 1 is INVALID_ARGUMENT', async () => {
    await expectRpcError(best({ minVramBytes: 1n << 60n }), status.INVALID_ARGUMENT, /^min_vram_bytes: must be at most 9007199254740991/);
  });
});

describe('selectors and cordon', () => {
  it("a selector picks among hives whose catalog labels match; none online matching: UNAVAILABLE naming the selector", async () => {
    await q.catalog.registerHive({ hiveId: 'hive-eu', labels: { zone: 'eu' } });
    await q.catalog.registerHive({ hiveId: 'hive-us', labels: { zone: 'us' } });
    await q.connectHive('hive-eu', [wireWorker('w-eu', { modelId: MODEL, gpuPercent: 60 })]);
    await q.connectHive('hive-us', [wireWorker('w-us', { modelId: MODEL, gpuPercent: 10 })]);
    expect((await best()).picked).toBe('hive-us/w-us');
    expect((await best({ selector: { zone: 'eu' } })).picked).toBe('hive-eu/w-eu');
    await expectRpcError(best({ selector: { zone: 'ap' } }), status.UNAVAILABLE, /^selector: no online hive with workers has the labels zone=ap$/);

    // Labels changed by UpdateHive apply at once.
    await q.catalog.updateHive({ hive: { hiveId: 'hive-eu', labels: { zone: 'ap' } }, updateMask: { paths: ['labels'] } });
    expect((await best({ selector: { zone: 'ap' } })).picked).toBe('hive-eu/w-eu');
  });

  it('a bad selector is INVALID_ARGUMENT naming it', async () => {
    await expectRpcError(best({ selector: { 'bad key': 'x' } }), status.INVALID_ARGUMENT, /^selector: key "bad key"/);
  });

  it('a cordoned hive stays listed, flagged, and is never picked; uncordoned, it is again', async () => {
    await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL })]);
    expect((await q.catalog.cordonHive({ hiveId: 'hive-a' })).hive?.cordoned).toBe(true);
    await expectRpcError(best(), status.UNAVAILABLE, /not degraded, not cordoned/);
    await expectRpcError(best({ reserve: true }), status.UNAVAILABLE, /no eligible worker/);
    expect((await q.rpc.listAllWorkers({})).workers.map((e) => e.worker?.workerId)).toEqual(['w']);
    await q.catalog.uncordonHive({ hiveId: 'hive-a' });
    expect((await best()).picked).toBe('hive-a/w');
  });
});

describe('cordon and labels survive a restart', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'scheduling-restart-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('the scheduler of a restarted queen knows the cordon and labels from the catalog file', async () => {
    const db = join(dir, 'catalog.db');
    const first = await TestQueen.start({ db });
    try {
      await first.catalog.registerHive({ hiveId: 'hive-a', labels: { zone: 'eu' } });
      await first.catalog.registerHive({ hiveId: 'hive-b', labels: { zone: 'eu' } });
      await first.catalog.cordonHive({ hiveId: 'hive-a' });
    } finally {
      await first.stop();
    }
    const second = await TestQueen.start({ db });
    try {
      await second.connectHive('hive-a', [wireWorker('w-a', { modelId: MODEL, gpuPercent: 0 })]);
      await second.connectHive('hive-b', [wireWorker('w-b', { modelId: MODEL, gpuPercent: 90 })]);
      const { entry } = await second.rpc.findBestWorkerForModel({ modelId: MODEL, selector: { zone: 'eu' } });
      expect(entry?.worker?.workerId).toBe('w-b');
    } finally {
      await second.stop();
    }
  });
});
