import { credentials, status } from '@grpc/grpc-js';
import { ClientError } from '../../src/client/client-error';
import { createRegistryClient, DEFAULT_DEADLINE_MS, type RegistryClient } from '../../src/client/registry-client';
import type { Worker, WorkerEntry } from '../../src/common/worker';
import { expectStatus } from '../helpers/client';
import {
  connectFleet,
  countingProxy,
  deadPort,
  expectClientError,
  GiB,
  GiBn,
  rejection,
  silentServer,
  type Fleet,
} from '../helpers/client-fixtures';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireDevice, wireWorker } from '../helpers/wire-builders';
import { HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb';

const REGISTRY = 'hive.v1.HiveRegistry';
const CATALOG = 'hive.v1.HiveCatalog';
/** The queen's id: every entry the client returns names it. */
const QUEEN_ID = 'queen-1';

/** wireWorker's default URL. */
const url = (workerId: string) => `http://10.0.0.1:9300/${workerId}`;

/** The fleet's workers as the domain types must read them (see connectFleet). */
const W_A1: Worker = {
  workerId: 'w-a1',
  state: 'busy',
  url: url('w-a1'),
  modelId: 'org/llama',
  backend: 'cuda',
  deviceId: 0,
  vramBytes: 2 * GiB,
  ramBytes: 2 * GiB,
  cpuPercent: 12.5,
  health: 'healthy',
};
const W_A2: Worker = {
  workerId: 'w-a2',
  state: 'idle',
  url: url('w-a2'),
  modelId: 'org/mistral',
  backend: 'cuda',
  deviceId: 1,
  vramBytes: 3 * GiB,
  ramBytes: 1 * GiB,
  gpuPercent: 40,
  health: 'healthy',
  // 2025-12-31T23:59:57.125Z
  lastHeartbeat: { seconds: 1_767_225_597, nanos: 125_000_000 },
};
const W_B1: Worker = {
  workerId: 'w-b1',
  state: 'idle',
  url: url('w-b1'),
  modelId: 'org/llama',
  backend: 'metal',
  gpuPercent: 50,
  health: 'healthy',
};
const W_B2: Worker = { workerId: 'w-b2', state: 'loading', url: url('w-b2'), backend: 'rocm', health: 'degraded' };
const W_B3: Worker = { workerId: 'w-b3', state: 'error', url: url('w-b3'), backend: 'cpu', health: 'healthy' };
const W_B4: Worker = { workerId: 'w-b4', state: 'stopping', url: url('w-b4'), backend: 'cpu', health: 'unspecified' };

/** Entries as "hive/worker" strings with the online flag: easy to compare as a whole list. */
const ids = (entries: readonly WorkerEntry[]) =>
  entries.map((e) => `${e.hiveId}/${e.worker.workerId}${e.hiveOnline ? '' : ' (offline)'}`);

/** Malformed hive ids with what the message must say, for a field named `field`. */
function badIds(field: string): (readonly [id: string, details: RegExp])[] {
  const f = field.replace(/\./g, '\\.');
  return [
    ['', new RegExp(`^${f}: must not be empty`)],
    ['hive 1', new RegExp(`^${f}: must contain only the characters \\[A-Za-z0-9._:-\\]`)],
  ];
}

/** Every client method that takes a hive id or worker id, the RPC it calls, and the field the server names. */
type IdCall = readonly [
  method: string,
  rpc: string,
  field: string,
  call: (c: RegistryClient, id: string) => Promise<unknown>,
];
const ID_CALLS: readonly IdCall[] = [
  ['getHiveState', `${REGISTRY}/GetHiveState`, 'hive_id', (c, id) => c.getHiveState(id)],
  ['getAvailableResources', `${REGISTRY}/GetAvailableResources`, 'hive_id', (c, id) => c.getAvailableResources(id)],
  ['removeHive', `${REGISTRY}/RemoveHive`, 'hive_id', (c, id) => c.removeHive(id)],
  ['getWorkerCount', `${REGISTRY}/GetWorkerCount`, 'hive_id', (c, id) => c.getWorkerCount(id)],
  ['isHiveOnline', `${REGISTRY}/IsHiveOnline`, 'hive_id', (c, id) => c.isHiveOnline(id)],
  ['isHiveOnline (maxAgeMs)', `${REGISTRY}/IsHiveOnline`, 'hive_id', (c, id) => c.isHiveOnline(id, 60_000)],
  ['getWorkersOnHive', `${REGISTRY}/GetWorkersOnHive`, 'hive_id', (c, id) => c.getWorkersOnHive(id)],
  ['getWorker', `${REGISTRY}/GetWorker`, 'worker_id', (c, id) => c.getWorker(id)],
  ['getWorkerUrl', `${REGISTRY}/GetWorkerUrl`, 'worker_id', (c, id) => c.getWorkerUrl(id)],
  ['registerHive', `${CATALOG}/RegisterHive`, 'hive_id', (c, id) => c.registerHive(id)],
  ['getCatalogHive', `${CATALOG}/GetCatalogHive`, 'hive_id', (c, id) => c.getCatalogHive(id)],
  ['updateHive', `${CATALOG}/UpdateHive`, 'hive.hive_id', (c, id) => c.updateHive(id, { description: 'x' })],
  ['deregisterHive', `${CATALOG}/DeregisterHive`, 'hive_id', (c, id) => c.deregisterHive(id)],
];

const BAD_ID_CASES = ID_CALLS.flatMap(([method, rpc, field, call]) =>
  badIds(field).map(([id, details]) => [method, JSON.stringify(id), rpc, field, call, id, details] as const),
);

describe('RegistryClient: bad ids', () => {
  let q: TestQueen;
  let client: RegistryClient;

  beforeAll(async () => {
    q = await TestQueen.start();
    client = createRegistryClient(q.address);
    await q.connectHive('hive-a', [wireWorker('w-1')]);
  });

  afterAll(async () => {
    client.close();
    await q.stop();
  });

  it.each(BAD_ID_CASES)(
    '%s(%s) rejects with ClientError INVALID_ARGUMENT from %s naming %s',
    async (_m, _l, rpc, _f, call, id, details) => {
      await expectClientError(call(client, id), status.INVALID_ARGUMENT, rpc, details);
    },
  );

  it('no bad-id call changed anything', async () => {
    const catalog = (await client.listCatalogHives()).map((h) => h.hiveId);
    expect({ hives: await client.listAllHives(), catalog }).toEqual({ hives: ['hive-a'], catalog: ['hive-a'] });
  });
});

describe('RegistryClient: hive reads', () => {
  let q: TestQueen;
  let client: RegistryClient;
  let fleet: Fleet;

  beforeEach(async () => {
    q = await TestQueen.start({ queenId: QUEEN_ID });
    client = createRegistryClient(q.address);
    fleet = await connectFleet(q);
  });

  afterEach(async () => {
    client.close();
    await q.stop();
  });

  async function takeHiveBOffline(): Promise<void> {
    fleet.hiveB.end();
    expectStatus(await fleet.hiveB.status, status.OK);
  }

  describe('getHiveState', () => {
    it('returns the snapshot as domain values: numbers, bigints, sorted lists, receive time', async () => {
      const hive = await client.getHiveState('hive-a');
      expect(hive).toEqual({
        hiveId: 'hive-a',
        workers: [W_A1, W_A2],
        devices: [
          { deviceId: 0, backend: 'cuda', name: 'H100 80GB', vramTotalBytes: 16 * GiB },
          { deviceId: 1, backend: 'cuda', name: 'gpu-1', vramTotalBytes: 8 * GiB },
        ],
        online: true,
        lastHeartbeatWallMs: Date.UTC(2026, 0, 1) + 2_500,
        // 2025-12-31T23:59:58.250Z
        senderTime: { seconds: 1_767_225_598, nanos: 250_000_000 },
        sequence: 7n,
        resources: {
          workerCount: 2,
          vramUsedBytes: 5n * GiBn,
          ramUsedBytes: 3n * GiBn,
          vramTotalBytes: 24n * GiBn,
          vramFreeBytes: (16n - 2n + 8n - 3n) * GiBn,
          ramTotalBytes: 64n * GiBn,
        },
        queenId: QUEEN_ID,
      });
      expect(hive.lastHeartbeatWallMs).toBe(fleet.hiveAReceivedMs);
      expect({
        vramBytes: typeof hive.workers[0]?.vramBytes,
        gpuPercent: typeof hive.workers[1]?.gpuPercent,
        vramTotalBytes: typeof hive.devices[0]?.vramTotalBytes,
        sequence: typeof hive.sequence,
        vramFreeBytes: typeof hive.resources.vramFreeBytes,
      }).toEqual({
        vramBytes: 'number',
        gpuPercent: 'number',
        vramTotalBytes: 'number',
        sequence: 'bigint',
        vramFreeBytes: 'bigint',
      });
    });

    it('reads every state, backend and health, and leaves unreported fields out', async () => {
      const hive = await client.getHiveState('hive-b');
      expect(hive.workers).toEqual([W_B1, W_B2, W_B3, W_B4]);
      const keys = Object.keys(hive.workers[2] ?? {}).sort();
      expect({ devices: hive.devices, senderTime: 'senderTime' in hive, keys }).toEqual({
        devices: [],
        senderTime: false,
        keys: ['backend', 'health', 'state', 'url', 'workerId'],
      });
      expect(hive.resources).toEqual({
        workerCount: 4,
        vramUsedBytes: 0n,
        ramUsedBytes: 0n,
        vramTotalBytes: 0n,
        vramFreeBytes: 0n,
        ramTotalBytes: 0n,
      });
    });

    it('returns an offline hive flagged online: false', async () => {
      await takeHiveBOffline();
      const hive = await client.getHiveState('hive-b');
      expect({ online: hive.online, workers: hive.workers.map((w) => w.workerId) }).toEqual({
        online: false,
        workers: ['w-b1', 'w-b2', 'w-b3', 'w-b4'],
      });
    });

    it('rejects an unknown hive with ClientError NOT_FOUND naming it', async () => {
      await expectClientError(
        client.getHiveState('hive-x'),
        status.NOT_FOUND,
        `${REGISTRY}/GetHiveState`,
        /^hive_id: no hive "hive-x"/,
      );
    });
  });

  describe('listActiveHives', () => {
    it('lists online hives sorted; maxAgeMs replaces the threshold, to the millisecond', async () => {
      // hive-b's snapshot is 2,500 ms older than hive-a's.
      expect(await client.listActiveHives()).toEqual(['hive-a', 'hive-b']);
      q.clock.advance(10_000);
      expect(await client.listActiveHives(12_500)).toEqual(['hive-a']);
      expect(await client.listActiveHives(12_501)).toEqual(['hive-a', 'hive-b']);
      expect(await client.listActiveHives(10_000)).toEqual([]);
      q.clock.advance(4_000); // hive-a is 14 s old, hive-b 16.5 s: past the default 15 s
      expect(await client.listActiveHives()).toEqual(['hive-a']);
      expect(await client.listActiveHives(60_000)).toEqual(['hive-a', 'hive-b']);
    });

    it('leaves out a hive whose stream ended', async () => {
      await takeHiveBOffline();
      expect(await client.listActiveHives()).toEqual(['hive-a']);
      expect(await client.listActiveHives(60_000)).toEqual(['hive-a']);
    });

    it.each([
      ['0', 0],
      ['-5000', -5_000],
    ])('maxAgeMs %s rejects with ClientError INVALID_ARGUMENT naming max_age', async (_l, maxAgeMs) => {
      await expectClientError(
        client.listActiveHives(maxAgeMs),
        status.INVALID_ARGUMENT,
        `${REGISTRY}/ListActiveHives`,
        /^max_age: must be positive/,
      );
    });
  });

  describe('listAllHives', () => {
    it('lists every hive sorted, offline ones included', async () => {
      await takeHiveBOffline();
      expect(await client.listAllHives()).toEqual(['hive-a', 'hive-b']);
      await client.removeHive('hive-a');
      expect(await client.listAllHives()).toEqual(['hive-b']);
    });
    // ListAllHives takes no input, so there is no bad-input case.
  });

  describe('getAvailableResources', () => {
    it('returns the hive resources as bigints', async () => {
      expect(await client.getAvailableResources('hive-a')).toEqual({
        workerCount: 2,
        vramUsedBytes: 5n * GiBn,
        ramUsedBytes: 3n * GiBn,
        vramTotalBytes: 24n * GiBn,
        vramFreeBytes: 19n * GiBn,
        ramTotalBytes: 64n * GiBn,
      });
    });

    it('rejects an unknown hive with ClientError NOT_FOUND', async () => {
      await expectClientError(
        client.getAvailableResources('hive-x'),
        status.NOT_FOUND,
        `${REGISTRY}/GetAvailableResources`,
        /"hive-x"/,
      );
    });
  });

  describe('removeHive', () => {
    it('answers true, ends the stream with ABORTED and forgets the hive; then false', async () => {
      expect(await client.removeHive('hive-a')).toBe(true);
      expectStatus(await fleet.hiveA.status, status.ABORTED, /removed/);
      expect(await client.listAllHives()).toEqual(['hive-b']);
      expect(await client.removeHive('hive-a')).toBe(false);
    });

    it('answers false for an unknown hive', async () => {
      expect(await client.removeHive('hive-x')).toBe(false);
      expect(await client.hiveCount()).toBe(2);
    });
  });

  describe('getWorkerCount', () => {
    it('counts the workers of the last snapshot', async () => {
      const counts = { a: await client.getWorkerCount('hive-a'), b: await client.getWorkerCount('hive-b') };
      expect(counts).toEqual({ a: 2, b: 4 });
      await fleet.hiveA.send(snapshotPayload('hive-a', 8, [wireWorker('w-a1')]));
      expect(await client.getWorkerCount('hive-a')).toBe(1);
    });

    it('rejects an unknown hive with ClientError NOT_FOUND', async () => {
      await expectClientError(
        client.getWorkerCount('hive-x'),
        status.NOT_FOUND,
        `${REGISTRY}/GetWorkerCount`,
        /"hive-x"/,
      );
    });
  });

  describe('isHiveOnline', () => {
    it('is true while streaming, false once the stream ended', async () => {
      expect(await client.isHiveOnline('hive-b')).toBe(true);
      await takeHiveBOffline();
      expect(await client.isHiveOnline('hive-b')).toBe(false);
      expect(await client.isHiveOnline('hive-b', 600_000)).toBe(false);
    });

    it('maxAgeMs replaces the threshold, to the millisecond', async () => {
      q.clock.advance(3_000);
      expect(await client.isHiveOnline('hive-a', 3_000)).toBe(false);
      expect(await client.isHiveOnline('hive-a', 3_001)).toBe(true);
      q.clock.advance(13_000); // 16 s: past the default threshold
      expect(await client.isHiveOnline('hive-a')).toBe(false);
      expect(await client.isHiveOnline('hive-a', 16_001)).toBe(true);
    });

    it('answers false (not NOT_FOUND) for an unknown hive', async () => {
      expect(await client.isHiveOnline('hive-x')).toBe(false);
      expect(await client.isHiveOnline('hive-x', 60_000)).toBe(false);
    });

    it('maxAgeMs 0 rejects with ClientError INVALID_ARGUMENT naming max_age', async () => {
      await expectClientError(
        client.isHiveOnline('hive-a', 0),
        status.INVALID_ARGUMENT,
        `${REGISTRY}/IsHiveOnline`,
        /^max_age: must be positive/,
      );
    });
  });

  describe('hiveCount', () => {
    it('counts online and offline hives', async () => {
      expect(await client.hiveCount()).toBe(2);
      await takeHiveBOffline();
      expect(await client.hiveCount()).toBe(2);
      await client.removeHive('hive-b');
      expect(await client.hiveCount()).toBe(1);
    });
    // HiveCount takes no input, so there is no bad-input case.
  });
});

describe('RegistryClient: worker reads', () => {
  let q: TestQueen;
  let client: RegistryClient;
  let fleet: Fleet;

  beforeEach(async () => {
    q = await TestQueen.start({ queenId: QUEEN_ID });
    client = createRegistryClient(q.address);
    fleet = await connectFleet(q);
  });

  afterEach(async () => {
    client.close();
    await q.stop();
  });

  async function takeHiveBOffline(): Promise<void> {
    fleet.hiveB.end();
    expectStatus(await fleet.hiveB.status, status.OK);
  }

  describe('getWorker', () => {
    it('returns the entry: hive, full worker, hive liveness', async () => {
      expect(await client.getWorker('w-a2')).toEqual({ hiveId: 'hive-a', worker: W_A2, hiveOnline: true, queenId: QUEEN_ID });
      await takeHiveBOffline();
      expect(await client.getWorker('w-b2')).toEqual({ hiveId: 'hive-b', worker: W_B2, hiveOnline: false, queenId: QUEEN_ID });
    });

    it('rejects an unknown worker with ClientError NOT_FOUND naming it', async () => {
      await expectClientError(
        client.getWorker('w-x'),
        status.NOT_FOUND,
        `${REGISTRY}/GetWorker`,
        /^worker_id: no worker "w-x"/,
      );
    });
  });

  describe('getWorkerUrl', () => {
    it('returns the URL and the hive, nothing else', async () => {
      expect(await client.getWorkerUrl('w-b1')).toStrictEqual({ url: url('w-b1'), hiveId: 'hive-b' });
    });

    it('rejects an unknown worker with ClientError NOT_FOUND', async () => {
      await expectClientError(client.getWorkerUrl('w-x'), status.NOT_FOUND, `${REGISTRY}/GetWorkerUrl`, /"w-x"/);
    });
  });

  describe('listAllWorkers', () => {
    it('lists every worker as full entries, sorted by hive then worker, offline hives flagged', async () => {
      await takeHiveBOffline();
      expect(await client.listAllWorkers()).toEqual([
        { hiveId: 'hive-a', worker: W_A1, hiveOnline: true, queenId: QUEEN_ID },
        { hiveId: 'hive-a', worker: W_A2, hiveOnline: true, queenId: QUEEN_ID },
        { hiveId: 'hive-b', worker: W_B1, hiveOnline: false, queenId: QUEEN_ID },
        { hiveId: 'hive-b', worker: W_B2, hiveOnline: false, queenId: QUEEN_ID },
        { hiveId: 'hive-b', worker: W_B3, hiveOnline: false, queenId: QUEEN_ID },
        { hiveId: 'hive-b', worker: W_B4, hiveOnline: false, queenId: QUEEN_ID },
      ]);
    });
    // ListAllWorkers takes no input, so there is no bad-input case.
  });

  describe('findIdleWorkers', () => {
    it('lists idle workers of online hives; includeOffline adds those of offline hives', async () => {
      expect(ids(await client.findIdleWorkers())).toEqual(['hive-a/w-a2', 'hive-b/w-b1']);
      await takeHiveBOffline();
      expect(ids(await client.findIdleWorkers())).toEqual(['hive-a/w-a2']);
      expect(ids(await client.findIdleWorkers({ includeOffline: false }))).toEqual(['hive-a/w-a2']);
      expect(await client.findIdleWorkers({ includeOffline: true })).toEqual([
        { hiveId: 'hive-a', worker: W_A2, hiveOnline: true, queenId: QUEEN_ID },
        { hiveId: 'hive-b', worker: W_B1, hiveOnline: false, queenId: QUEEN_ID },
      ]);
    });

    it('returns [] when no worker is idle', async () => {
      await fleet.hiveA.send(snapshotPayload('hive-a', 8, [wireWorker('w-a2', { state: WorkerStatus.BUSY })]));
      await fleet.hiveB.send(snapshotPayload('hive-b', 2, []));
      expect(await client.findIdleWorkers({ includeOffline: true })).toEqual([]);
    });
    // FindIdleWorkers takes only a boolean, so there is no bad-input case.
  });

  describe('findWorkersByModel', () => {
    it('lists exact model matches; includeOffline adds those of offline hives', async () => {
      expect(ids(await client.findWorkersByModel('org/llama'))).toEqual(['hive-a/w-a1', 'hive-b/w-b1']);
      expect(ids(await client.findWorkersByModel('org/llam'))).toEqual([]);
      await takeHiveBOffline();
      expect(ids(await client.findWorkersByModel('org/llama'))).toEqual(['hive-a/w-a1']);
      expect(ids(await client.findWorkersByModel('org/llama', { includeOffline: false }))).toEqual(['hive-a/w-a1']);
      expect(ids(await client.findWorkersByModel('org/llama', { includeOffline: true }))).toEqual([
        'hive-a/w-a1',
        'hive-b/w-b1 (offline)',
      ]);
    });

    it('returns [] for a model no worker has', async () => {
      expect(await client.findWorkersByModel('org/unknown', { includeOffline: true })).toEqual([]);
    });

    it('rejects a model id with whitespace: ClientError INVALID_ARGUMENT naming model_id', async () => {
      await expectClientError(
        client.findWorkersByModel('org/ llama'),
        status.INVALID_ARGUMENT,
        `${REGISTRY}/FindWorkersByModel`,
        /^model_id: must not contain whitespace/,
      );
    });
  });

  describe('findWorkersByBackend', () => {
    it("findWorkersByBackend('cuda') returns hive-a's workers as full entries", async () => {
      expect(await client.findWorkersByBackend('cuda')).toEqual([
        { hiveId: 'hive-a', worker: W_A1, hiveOnline: true, queenId: QUEEN_ID },
        { hiveId: 'hive-a', worker: W_A2, hiveOnline: true, queenId: QUEEN_ID },
      ]);
    });

    it.each([
      ['cpu', ['hive-b/w-b3', 'hive-b/w-b4']],
      ['metal', ['hive-b/w-b1']],
      ['rocm', ['hive-b/w-b2']],
    ] as const)('maps %s to the right wire backend', async (backend, expected) => {
      expect(ids(await client.findWorkersByBackend(backend))).toEqual(expected);
    });

    it('leaves out offline hives unless includeOffline', async () => {
      await takeHiveBOffline();
      expect(await client.findWorkersByBackend('cpu')).toEqual([]);
      expect(await client.findWorkersByBackend('cpu', { includeOffline: false })).toEqual([]);
      expect(ids(await client.findWorkersByBackend('cpu', { includeOffline: true }))).toEqual([
        'hive-b/w-b3 (offline)',
        'hive-b/w-b4 (offline)',
      ]);
    });

    it("'unspecified' rejects with ClientError INVALID_ARGUMENT naming backend", async () => {
      await expectClientError(
        client.findWorkersByBackend('unspecified'),
        status.INVALID_ARGUMENT,
        `${REGISTRY}/FindWorkersByBackend`,
        /^backend: must be set/,
      );
    });
  });

  describe('totalWorkerCount', () => {
    it('counts the workers of every hive, offline ones included', async () => {
      expect(await client.totalWorkerCount()).toBe(6);
      await takeHiveBOffline();
      expect(await client.totalWorkerCount()).toBe(6);
      await client.removeHive('hive-a');
      expect(await client.totalWorkerCount()).toBe(4);
    });
    // TotalWorkerCount takes no input, so there is no bad-input case.
  });

  describe('getWorkersOnHive', () => {
    it("returns the hive's workers, sorted, as domain values", async () => {
      expect(await client.getWorkersOnHive('hive-a')).toEqual([W_A1, W_A2]);
      expect(await client.getWorkersOnHive('hive-b')).toEqual([W_B1, W_B2, W_B3, W_B4]);
    });

    it('returns [] (not NOT_FOUND) for an unknown hive', async () => {
      expect(await client.getWorkersOnHive('hive-x')).toEqual([]);
    });
  });
});

describe('RegistryClient: findBestWorkerForModel', () => {
  let q: TestQueen;
  let client: RegistryClient;

  beforeEach(async () => {
    q = await TestQueen.start({ queenId: QUEEN_ID });
    client = createRegistryClient(q.address);
  });

  afterEach(async () => {
    client.close();
    await q.stop();
  });

  it('picks the least loaded idle worker with the model: modelLoaded true', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: 'org/llama', gpuPercent: 70 }),
      wireWorker('w-2', { gpuPercent: 10 }),
    ]);
    await q.connectHive('hive-b', [
      wireWorker('w-3', { modelId: 'org/llama', gpuPercent: 30 }),
      wireWorker('w-4', { modelId: 'org/llama', state: WorkerStatus.BUSY, gpuPercent: 0 }),
    ]);
    expect(await client.findBestWorkerForModel('org/llama')).toEqual({
      entry: {
        hiveId: 'hive-b',
        worker: {
          workerId: 'w-3',
          state: 'idle',
          url: 'http://10.0.0.1:9300/w-3',
          modelId: 'org/llama',
          backend: 'cuda',
          gpuPercent: 30,
          health: 'healthy',
        },
        hiveOnline: true,
        queenId: QUEEN_ID,
      },
      modelLoaded: true,
    });
  });

  it('falls back to the least loaded idle worker without the model: modelLoaded false', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: 'org/llama', gpuPercent: 70 }),
      wireWorker('w-2', { gpuPercent: 10 }),
    ]);
    const best = await client.findBestWorkerForModel('org/mistral');
    expect({ picked: `${best.entry.hiveId}/${best.entry.worker.workerId}`, modelLoaded: best.modelLoaded }).toEqual({
      picked: 'hive-a/w-2',
      modelLoaded: false,
    });
  });

  it('rejects with ClientError RESOURCE_EXHAUSTED when every eligible worker is busy', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: 'org/llama', state: WorkerStatus.BUSY })]);
    await expectClientError(
      client.findBestWorkerForModel('org/llama'),
      status.RESOURCE_EXHAUSTED,
      `${REGISTRY}/FindBestWorkerForModel`,
      /no idle worker for model "org\/llama"/,
    );
  });

  it('rejects with ClientError UNAVAILABLE when no worker is eligible', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: 'org/llama', health: HealthStatus.DEGRADED })]);
    await expectClientError(
      client.findBestWorkerForModel('org/llama'),
      status.UNAVAILABLE,
      `${REGISTRY}/FindBestWorkerForModel`,
      /no eligible worker for model "org\/llama"/,
    );
  });

  it('rejects an empty model id with ClientError INVALID_ARGUMENT naming model_id', async () => {
    await expectClientError(
      client.findBestWorkerForModel(''),
      status.INVALID_ARGUMENT,
      `${REGISTRY}/FindBestWorkerForModel`,
      /^model_id: must not be empty/,
    );
  });
});

describe('RegistryClient: reservations, VRAM and selector, failure reports', () => {
  let q: TestQueen;
  let client: RegistryClient;
  const MODEL = 'org/llama';
  const picked = (best: { entry: WorkerEntry }) => `${best.entry.hiveId}/${best.entry.worker.workerId}`;

  beforeEach(async () => {
    q = await TestQueen.start();
    client = createRegistryClient(q.address);
  });

  afterEach(async () => {
    client.close();
    await q.stop();
  });

  it('reserve answers a reservation id and holds the slot; releaseWorker frees it once (true, then false)', async () => {
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, gpuPercent: 10 }),
      wireWorker('w-2', { modelId: MODEL, gpuPercent: 60 }),
    ]);
    const first = await client.findBestWorkerForModel(MODEL, { reserve: true });
    expect({ picked: picked(first), modelLoaded: first.modelLoaded }).toEqual({ picked: 'hive-a/w-1', modelLoaded: true });
    expect(first.reservationId).toMatch(/^[\x21-\x7e]{1,128}$/);
    // w-1 has one slot, now reserved: every call, reserving or not, picks w-2.
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-2');
    const second = await client.findBestWorkerForModel(MODEL, { reserve: true });
    expect(picked(second)).toBe('hive-a/w-2');
    expect(second.reservationId).not.toBe(first.reservationId);
    await expectClientError(
      client.findBestWorkerForModel(MODEL),
      status.RESOURCE_EXHAUSTED,
      `${REGISTRY}/FindBestWorkerForModel`,
      /fully reserved/,
    );

    expect(await client.releaseWorker(first.reservationId ?? '', true)).toBe(true);
    expect(await client.releaseWorker(first.reservationId ?? '', true)).toBe(false);
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-1');
    expect(await client.releaseWorker(second.reservationId ?? '', false)).toBe(true);
  });

  it('a plain pick has no reservationId property at all', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL })]);
    expect(await client.findBestWorkerForModel(MODEL, {})).not.toHaveProperty('reservationId');
    expect(await client.findBestWorkerForModel(MODEL, { reserve: false, minVramBytes: 0, selector: {} })).not.toHaveProperty(
      'reservationId',
    );
  });

  it('maxConcurrency round-trips, and a worker takes that many reservations', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL, maxConcurrency: 2 })]);
    const one = await client.findBestWorkerForModel(MODEL, { reserve: true });
    expect(one.entry.worker).toEqual({
      workerId: 'w-1',
      state: 'idle',
      url: url('w-1'),
      modelId: MODEL,
      backend: 'cuda',
      health: 'healthy',
      maxConcurrency: 2,
    });
    expect((await client.getWorker('w-1')).worker.maxConcurrency).toBe(2);
    expect(picked(await client.findBestWorkerForModel(MODEL, { reserve: true }))).toBe('hive-a/w-1');
    await expectClientError(
      client.findBestWorkerForModel(MODEL, { reserve: true }),
      status.RESOURCE_EXHAUSTED,
      `${REGISTRY}/FindBestWorkerForModel`,
      /no idle worker for model "org\/llama"/,
    );
  });

  it('reservationTtlMs: the reservation lapses after it (releaseWorker then answers false)', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL })]);
    const { reservationId = '' } = await client.findBestWorkerForModel(MODEL, { reserve: true, reservationTtlMs: 2_000 });
    q.clock.advance(1_999);
    await expectClientError(
      client.findBestWorkerForModel(MODEL),
      status.RESOURCE_EXHAUSTED,
      `${REGISTRY}/FindBestWorkerForModel`,
      /fully reserved/,
    );
    q.clock.advance(1);
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-1');
    expect(await client.releaseWorker(reservationId, true)).toBe(false);
  });

  it('reservationTtlMs out of the queen\'s range: ClientError INVALID_ARGUMENT naming reservation_ttl', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL })]);
    for (const reservationTtlMs of [0, -1_000, 600_001]) {
      await expectClientError(
        client.findBestWorkerForModel(MODEL, { reserve: true, reservationTtlMs }),
        status.INVALID_ARGUMENT,
        `${REGISTRY}/FindBestWorkerForModel`,
        /^reservation_ttl: must be more than 0 and at most 10 min/,
      );
    }
    // The longest TTL is fine.
    expect((await client.findBestWorkerForModel(MODEL, { reserve: true, reservationTtlMs: 600_000 })).reservationId).toBeDefined();
  });

  it.each([
    [{ reservationTtlMs: Number.NaN }, /^reservationTtlMs: must be a finite number of milliseconds, got NaN$/],
    [{ reservationTtlMs: Number.POSITIVE_INFINITY }, /^reservationTtlMs: must be a finite number of milliseconds, got Infinity$/],
    [{ reservationTtlMs: 1e300 }, /^reservationTtlMs: must be a finite number of milliseconds/],
    [{ minVramBytes: -1 }, /^minVramBytes: must be a whole number of bytes from 0 to 9007199254740991, got -1$/],
    [{ minVramBytes: 1.5 }, /^minVramBytes: must be a whole number of bytes .*, got 1\.5$/],
    [{ minVramBytes: Number.NaN }, /^minVramBytes: must be a whole number of bytes .*, got NaN$/],
    [{ minVramBytes: 2 ** 53 }, /^minVramBytes: must be a whole number of bytes .*, got 9007199254740992$/],
  ])('option %p: RangeError naming it, before any call', async (options, message) => {
    const error = await rejection(client.findBestWorkerForModel(MODEL, { reserve: true, ...options }));
    expect({ isRangeError: error instanceof RangeError, message: (error as Error).message }).toEqual({
      isRangeError: true,
      message: expect.stringMatching(message),
    });
  });

  it('minVramBytes: a worker without the model only when its device has that much free; else RESOURCE_EXHAUSTED with the figures', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { deviceId: 0, vramBytes: 2n * GiBn, gpuPercent: 10 })], {
      devices: [wireDevice(0, 8n * GiBn)],
    });
    const free = 6 * GiB;
    const fits = await client.findBestWorkerForModel('org/mistral', { minVramBytes: free });
    expect({ picked: picked(fits), modelLoaded: fits.modelLoaded }).toEqual({ picked: 'hive-a/w-1', modelLoaded: false });
    await expectClientError(
      client.findBestWorkerForModel('org/mistral', { minVramBytes: free + 1 }),
      status.RESOURCE_EXHAUSTED,
      `${REGISTRY}/FindBestWorkerForModel`,
      new RegExp(`^min_vram_bytes: .* ${free + 1} bytes .* the most free is ${free} bytes$`),
    );
  });

  it('selector: only hives whose catalog labels include it; none matching is UNAVAILABLE naming the labels', async () => {
    await q.connectHive('hive-a', [wireWorker('w-a', { modelId: MODEL, gpuPercent: 0 })]);
    await q.connectHive('hive-b', [wireWorker('w-b', { modelId: MODEL, gpuPercent: 90 })]);
    await client.updateHive('hive-b', { labels: { zone: 'eu-1', gpu: 'h100' } });
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-a');
    expect(picked(await client.findBestWorkerForModel(MODEL, { selector: { zone: 'eu-1' } }))).toBe('hive-b/w-b');
    await expectClientError(
      client.findBestWorkerForModel(MODEL, { selector: { zone: 'eu-1', gpu: 'a100' } }),
      status.UNAVAILABLE,
      `${REGISTRY}/FindBestWorkerForModel`,
      /^selector: no online hive with workers has the labels gpu=a100,zone=eu-1$/,
    );
  });

  it('reportWorkerFailure: excluded for 1 s, then 2 s; not picked meanwhile; a successful release clears it', async () => {
    // w-2 lacks the model, so w-1 (reserved or not) wins whenever it is not excluded.
    await q.connectHive('hive-a', [
      wireWorker('w-1', { modelId: MODEL, gpuPercent: 10, maxConcurrency: 2 }),
      wireWorker('w-2', { gpuPercent: 0 }),
    ]);
    const { reservationId = '' } = await client.findBestWorkerForModel(MODEL, { reserve: true });
    expect(await client.reportWorkerFailure('w-1', 'connection refused')).toEqual({ excludedUntilMs: q.clock.wallNow() + 1_000 });
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-2');
    q.clock.advance(1_000);
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-1');
    // The second failure in a row doubles the exclusion; the reason is optional.
    expect(await client.reportWorkerFailure('w-1')).toEqual({ excludedUntilMs: q.clock.wallNow() + 2_000 });
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-2');
    expect(await client.releaseWorker(reservationId, true)).toBe(true);
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-1');
    // Cleared: the next failure starts again at 1 s.
    expect(await client.reportWorkerFailure('w-1')).toEqual({ excludedUntilMs: q.clock.wallNow() + 1_000 });
  });

  it('releaseWorker with success false keeps the failure record', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL, maxConcurrency: 2 })]);
    const { reservationId = '' } = await client.findBestWorkerForModel(MODEL, { reserve: true });
    await client.reportWorkerFailure('w-1');
    expect(await client.releaseWorker(reservationId, false)).toBe(true);
    await expectClientError(
      client.findBestWorkerForModel(MODEL),
      status.RESOURCE_EXHAUSTED,
      `${REGISTRY}/FindBestWorkerForModel`,
      /excluded after failures/,
    );
    q.clock.advance(1_000);
    expect(await client.reportWorkerFailure('w-1')).toEqual({ excludedUntilMs: q.clock.wallNow() + 2_000 });
  });

  it('bad input: ClientError NOT_FOUND for an unknown worker, INVALID_ARGUMENT naming the field', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1', { modelId: MODEL })]);
    await expectClientError(
      client.reportWorkerFailure('w-nope'),
      status.NOT_FOUND,
      `${REGISTRY}/ReportWorkerFailure`,
      /^worker_id: no worker "w-nope"/,
    );
    await expectClientError(client.reportWorkerFailure(''), status.INVALID_ARGUMENT, `${REGISTRY}/ReportWorkerFailure`, /^worker_id: /);
    await expectClientError(
      client.reportWorkerFailure('w-1', 'x'.repeat(1_025)),
      status.INVALID_ARGUMENT,
      `${REGISTRY}/ReportWorkerFailure`,
      /^reason: must be at most 1024 characters, got 1025$/,
    );
    await expectClientError(client.releaseWorker('', true), status.INVALID_ARGUMENT, `${REGISTRY}/ReleaseWorker`, /^reservation_id: /);
    // None of that excluded w-1.
    expect(picked(await client.findBestWorkerForModel(MODEL))).toBe('hive-a/w-1');
  });
});

describe('RegistryClient: catalog', () => {
  let q: TestQueen;
  let client: RegistryClient;

  beforeEach(async () => {
    q = await TestQueen.start({ catalogFlushIntervalMs: 3_600_000 });
    client = createRegistryClient(q.address);
  });

  afterEach(async () => {
    client.close();
    await q.stop();
  });

  describe('registerHive', () => {
    it('returns the record: sorted labels, description, created = updated = queen wall clock, never seen', async () => {
      q.clock.advance(12_345);
      const nowMs = q.clock.wallNow();
      const hive = await client.registerHive('hive-a', { zone: 'eu', gpu: 'a100', empty: '' }, 'rack 3');
      expect(hive).toEqual({
        hiveId: 'hive-a',
        labels: { empty: '', gpu: 'a100', zone: 'eu' },
        description: 'rack 3',
        createdAtMs: Date.UTC(2026, 0, 1) + 12_345,
        updatedAtMs: nowMs,
        lastPeer: '',
        cordoned: false,
        online: false,
      });
      expect({ keys: Object.keys(hive.labels), lastSeen: 'lastSeenMs' in hive }).toEqual({
        keys: ['empty', 'gpu', 'zone'],
        lastSeen: false,
      });
    });

    it('defaults to no labels and no description', async () => {
      const hive = await client.registerHive('hive-b');
      expect({ labels: hive.labels, description: hive.description }).toEqual({ labels: {}, description: '' });
    });

    it('rejects a second register with ClientError ALREADY_EXISTS and keeps the first', async () => {
      await client.registerHive('hive-a', { gpu: 'a100' }, 'first');
      await expectClientError(
        client.registerHive('hive-a', { gpu: 'h100' }, 'second'),
        status.ALREADY_EXISTS,
        `${CATALOG}/RegisterHive`,
        /^hive_id: hive "hive-a" is already in the catalog/,
      );
      expect((await client.getCatalogHive('hive-a')).description).toBe('first');
    });

    it.each([
      ['labels with a bad key', () => ({ labels: { 'gpu kind': 'a100' }, description: '' }), /^labels: key "gpu kind"/],
      [
        'a description over 1024 characters',
        () => ({ labels: {}, description: 'd'.repeat(1025) }),
        /^description: must be at most 1024 characters, got 1025/,
      ],
    ])('rejects %s with ClientError INVALID_ARGUMENT naming the field', async (_l, input, details) => {
      const { labels, description } = input();
      await expectClientError(
        client.registerHive('hive-a', labels, description),
        status.INVALID_ARGUMENT,
        `${CATALOG}/RegisterHive`,
        details,
      );
      expect(await client.listCatalogHives()).toEqual([]);
    });
  });

  describe('getCatalogHive', () => {
    it('a connected hive: online, lastSeenMs = receive time, its peer; offline once its stream ends', async () => {
      const registered = await client.registerHive('hive-a', { gpu: 'a100' }, 'x');
      q.clock.advance(7_000);
      const seenMs = q.clock.wallNow();
      const stream = await q.connectHive('hive-a');

      const online = await client.getCatalogHive('hive-a');
      expect(online).toEqual({
        ...registered,
        online: true,
        lastSeenMs: seenMs,
        lastPeer: expect.stringMatching(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d{1,5}$/),
      });

      stream.end();
      expectStatus(await stream.status, status.OK);
      expect(await client.getCatalogHive('hive-a')).toEqual({ ...online, online: false });
    });

    it('rejects an unknown hive with ClientError NOT_FOUND naming it', async () => {
      await expectClientError(
        client.getCatalogHive('hive-x'),
        status.NOT_FOUND,
        `${CATALOG}/GetCatalogHive`,
        /^hive_id: no hive "hive-x" in the catalog/,
      );
    });
  });

  describe('listCatalogHives', () => {
    beforeEach(async () => {
      await client.registerHive('hive-c', { gpu: 'a100', zone: 'eu' });
      await client.registerHive('hive-a', { gpu: 'a100', zone: 'us' }, 'primary');
      await client.registerHive('hive-b', { gpu: 'h100', zone: 'eu' });
    });

    const hiveIds = (hives: readonly { hiveId: string }[]) => hives.map((h) => h.hiveId);

    it('lists every hive sorted without a selector; with one, those matching every entry', async () => {
      expect(hiveIds(await client.listCatalogHives())).toEqual(['hive-a', 'hive-b', 'hive-c']);
      expect(hiveIds(await client.listCatalogHives({}))).toEqual(['hive-a', 'hive-b', 'hive-c']);
      expect(hiveIds(await client.listCatalogHives({ zone: 'eu' }))).toEqual(['hive-b', 'hive-c']);
      expect(hiveIds(await client.listCatalogHives({ gpu: 'a100', zone: 'eu' }))).toEqual(['hive-c']);
      expect(await client.listCatalogHives({ gpu: 'a100', zone: 'asia' })).toEqual([]);
    });

    it('returns full records', async () => {
      const [hive] = await client.listCatalogHives({ zone: 'us' });
      expect(hive).toEqual(await client.getCatalogHive('hive-a'));
      expect({ labels: hive?.labels, description: hive?.description }).toEqual({
        labels: { gpu: 'a100', zone: 'us' },
        description: 'primary',
      });
    });

    it('rejects a bad selector with ClientError INVALID_ARGUMENT naming selector', async () => {
      await expectClientError(
        client.listCatalogHives({ 'bad key': 'x' }),
        status.INVALID_ARGUMENT,
        `${CATALOG}/ListCatalogHives`,
        /^selector: key "bad key"/,
      );
    });
  });

  describe('updateHive', () => {
    beforeEach(async () => {
      await client.registerHive('hive-a', { gpu: 'a100', zone: 'eu' }, 'old');
    });

    const current = async () => {
      const hive = await client.getCatalogHive('hive-a');
      return { labels: hive.labels, description: hive.description };
    };

    it('{labels} replaces the whole map and keeps the description; updatedAtMs moves', async () => {
      const createdMs = q.clock.wallNow();
      q.clock.advance(60_000);
      const hive = await client.updateHive('hive-a', { labels: { gpu: 'h100' } });
      expect(hive).toEqual({
        hiveId: 'hive-a',
        labels: { gpu: 'h100' },
        description: 'old',
        createdAtMs: createdMs,
        updatedAtMs: createdMs + 60_000,
        lastPeer: '',
        cordoned: false,
        online: false,
      });
      expect(await current()).toEqual({ labels: { gpu: 'h100' }, description: 'old' });
    });

    it("{description: ''} clears the description, keeps the labels (update mask [description])", async () => {
      const spy = jest.spyOn(client.catalog, 'updateHive');
      const hive = await client.updateHive('hive-a', { description: '' });
      expect({ labels: hive.labels, description: hive.description }).toEqual({
        labels: { gpu: 'a100', zone: 'eu' },
        description: '',
      });
      expect(await current()).toEqual({ labels: { gpu: 'a100', zone: 'eu' }, description: '' });
      const request = spy.mock.calls[0]?.[0] as { updateMask?: { paths?: string[] } } | undefined;
      expect({ calls: spy.mock.calls.length, paths: request?.updateMask?.paths }).toEqual({
        calls: 1,
        paths: ['description'],
      });
    });

    it('{labels: {}} clears the labels and keeps the description', async () => {
      const hive = await client.updateHive('hive-a', { labels: {} });
      expect({ labels: hive.labels, description: hive.description }).toEqual({ labels: {}, description: 'old' });
      expect(await current()).toEqual({ labels: {}, description: 'old' });
    });

    it('{labels, description} sets both', async () => {
      const hive = await client.updateHive('hive-a', { labels: { rack: 'r7' }, description: 'new' });
      expect({ labels: hive.labels, description: hive.description }).toEqual({
        labels: { rack: 'r7' },
        description: 'new',
      });
    });

    it('an empty patch throws RangeError without calling the queen', async () => {
      const spy = jest.spyOn(client.catalog, 'updateHive');
      const error = await rejection(client.updateHive('hive-a', {}));
      const undefinedFields = await rejection(
        client.updateHive('hive-a', { labels: undefined, description: undefined }),
      );
      expect({
        rangeError: error instanceof RangeError,
        clientError: error instanceof ClientError,
        undefinedFields: undefinedFields instanceof RangeError,
        calls: spy.mock.calls.length,
      }).toEqual({ rangeError: true, clientError: false, undefinedFields: true, calls: 0 });
      expect(await current()).toEqual({ labels: { gpu: 'a100', zone: 'eu' }, description: 'old' });
    });

    it('rejects an unknown hive with ClientError NOT_FOUND', async () => {
      await expectClientError(
        client.updateHive('hive-x', { description: 'x' }),
        status.NOT_FOUND,
        `${CATALOG}/UpdateHive`,
        /"hive-x"/,
      );
    });

    it.each([
      ['bad labels', { labels: { gpu: 'nvidia/a100' } }, /^hive\.labels\["gpu"\]: value must contain only/],
      ['a long description', { description: 'd'.repeat(1025) }, /^hive\.description: must be at most 1024 characters/],
    ])('rejects %s with ClientError INVALID_ARGUMENT naming the field, nothing changed', async (_l, patch, details) => {
      await expectClientError(
        client.updateHive('hive-a', patch),
        status.INVALID_ARGUMENT,
        `${CATALOG}/UpdateHive`,
        details,
      );
      expect(await current()).toEqual({ labels: { gpu: 'a100', zone: 'eu' }, description: 'old' });
    });
  });

  describe('deregisterHive', () => {
    it('answers true, removes the hive from catalog and registry, ends its stream (ABORTED); then false', async () => {
      await client.registerHive('hive-a');
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      expect(await client.deregisterHive('hive-a')).toBe(true);
      expectStatus(await stream.status, status.ABORTED, /deregistered/);
      const after = { catalog: await client.listCatalogHives(), registry: await client.listAllHives() };
      expect(after).toEqual({ catalog: [], registry: [] });
      expect(await client.deregisterHive('hive-a')).toBe(false);
    });

    it('answers false for an unknown hive', async () => {
      expect(await client.deregisterHive('hive-x')).toBe(false);
    });
  });
});

describe('RegistryClient: errors, deadlines, connection', () => {
  let q: TestQueen;

  beforeAll(async () => {
    q = await TestQueen.start();
  });

  afterAll(async () => {
    await q.stop();
  });

  it('ClientError is an Error whose message is "Service/Method: CODE_NAME: details"', async () => {
    const client = createRegistryClient(q.address);
    try {
      const error = await rejection(client.getHiveState('hive-x'));
      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(ClientError);
      const e = error as ClientError;
      const { message, code, codeName, details, rpc, name } = e;
      expect({ message, code, codeName, details, rpc, name }).toEqual({
        message: 'hive.v1.HiveRegistry/GetHiveState: NOT_FOUND: hive_id: no hive "hive-x" in the registry',
        code: status.NOT_FOUND,
        codeName: 'NOT_FOUND',
        details: 'hive_id: no hive "hive-x" in the registry',
        rpc: 'hive.v1.HiveRegistry/GetHiveState',
        name: 'ClientError',
      });
    } finally {
      client.close();
    }
  });

  it('client.registry and client.catalog give the protobuf messages; their errors are ClientErrors too', async () => {
    const client = createRegistryClient(q.address);
    const hive = await q.connectHive('hive-proto');
    try {
      const all = await client.registry.listAllHives({});
      expect({ typeName: all.$typeName, hiveIds: all.hiveIds }).toEqual({
        typeName: 'hive.v1.ListAllHivesResponse',
        hiveIds: ['hive-proto'],
      });
      const got = await client.catalog.getCatalogHive({ hiveId: 'hive-proto' });
      expect({ typeName: got.$typeName, hive: got.hive?.$typeName, online: got.hive?.online }).toEqual({
        typeName: 'hive.v1.GetCatalogHiveResponse',
        hive: 'hive.v1.CatalogHive',
        online: true,
      });
      await expectClientError(
        client.catalog.getCatalogHive({ hiveId: 'hive-x' }),
        status.NOT_FOUND,
        `${CATALOG}/GetCatalogHive`,
        /"hive-x"/,
      );
    } finally {
      client.close();
      hive.cancel();
    }
  });

  it('a queen that cannot be reached: ClientError UNAVAILABLE or DEADLINE_EXCEEDED, within the deadline', async () => {
    const deadlineMs = 2_000;
    const client = createRegistryClient(`127.0.0.1:${await deadPort()}`, { deadlineMs });
    try {
      const startedMs = Date.now();
      const error = await rejection(client.hiveCount());
      const elapsedMs = Date.now() - startedMs;
      const e = error as ClientError;
      expect({ isClientError: error instanceof ClientError, rpc: e.rpc, codeName: e.codeName }).toEqual({
        isClientError: true,
        rpc: `${REGISTRY}/HiveCount`,
        codeName: expect.stringMatching(/^(UNAVAILABLE|DEADLINE_EXCEEDED)$/),
      });
      expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(e.code);
      expect(e.message).toContain(`: ${e.codeName}: `);
      expect(elapsedMs).toBeLessThan(deadlineMs + 1_000);
    } finally {
      client.close();
    }
  });

  it('a queen that never answers: deadlineMs ends the call with DEADLINE_EXCEEDED', async () => {
    const hung = await silentServer();
    const client = createRegistryClient(hung.address, { deadlineMs: 300 });
    try {
      const startedMs = Date.now();
      await expectClientError(client.listAllHives(), status.DEADLINE_EXCEEDED, `${REGISTRY}/ListAllHives`, /./);
      const elapsedMs = Date.now() - startedMs;
      expect(elapsedMs).toBeGreaterThanOrEqual(290);
      expect(elapsedMs).toBeLessThan(300 + 2_000);
    } finally {
      client.close();
      await hung.close();
    }
  });

  it(`without deadlineMs the default (${DEFAULT_DEADLINE_MS} ms) applies`, async () => {
    expect(DEFAULT_DEADLINE_MS).toBe(5_000);
    const hung = await silentServer();
    const client = createRegistryClient(hung.address);
    try {
      const startedMs = Date.now();
      await expectClientError(
        client.getCatalogHive('hive-a'),
        status.DEADLINE_EXCEEDED,
        `${CATALOG}/GetCatalogHive`,
        /./,
      );
      const elapsedMs = Date.now() - startedMs;
      expect(elapsedMs).toBeGreaterThanOrEqual(4_990);
      expect(elapsedMs).toBeLessThan(5_000 + 2_000);
    } finally {
      client.close();
      await hung.close();
    }
  }, 15_000);

  it('uses the credentials given: TLS to a plaintext queen is UNAVAILABLE, explicit insecure works', async () => {
    const tls = createRegistryClient(q.address, { credentials: credentials.createSsl(), deadlineMs: 3_000 });
    const plain = createRegistryClient(q.address, { credentials: credentials.createInsecure() });
    try {
      await expectClientError(tls.hiveCount(), status.UNAVAILABLE, `${REGISTRY}/HiveCount`, /./);
      expect(await plain.hiveCount()).toBe(await q.rpc.hiveCount().then((r) => r.count));
    } finally {
      tls.close();
      plain.close();
    }
  });

  it('both services ride one connection', async () => {
    const proxy = await countingProxy(q.address);
    const client = createRegistryClient(proxy.address);
    try {
      const catalog = (await client.listCatalogHives()).map((h) => h.hiveId);
      expect({ registry: await client.listAllHives(), catalog }).toEqual({
        registry: (await q.rpc.listAllHives()).hiveIds,
        catalog: (await q.catalog.listCatalogHives()).hives.map((h) => h.hiveId),
      });
      expect(proxy.connections).toBe(1);
    } finally {
      client.close();
      await proxy.close();
    }
  });

  it('after close(), calls fail with a ClientError (a failed call always rejects with ClientError)', async () => {
    const client = createRegistryClient(q.address);
    expect(await client.hiveCount()).toBe((await q.rpc.hiveCount()).count);
    client.close();
    const error = await rejection(client.hiveCount());
    const e = error as Partial<ClientError>;
    expect({ isClientError: error instanceof ClientError, rpc: e.rpc, message: e.message }).toEqual({
      isClientError: true,
      rpc: `${REGISTRY}/HiveCount`,
      message: expect.stringMatching(/^hive\.v1\.HiveRegistry\/HiveCount: [A-Z_]+: /),
    });
  });
});
