import { status } from '@grpc/grpc-js';
import type { RemoteCatalogChange } from '../../../src/catalog/catalog';
import { IN_MEMORY } from '../../../src/catalog/catalog-store';
import { SqliteCatalog } from '../../../src/catalog/sqlite-catalog';
import { expectRpcError, expectStatus, healthClient } from '../../helpers/client';
import { EtcdProcess, freePort } from '../../helpers/etcd-process';
import { etcdSettings, FederatedQueen, until } from '../../helpers/federation';
import { httpFetch } from '../../helpers/http';
import { wireWorker } from '../../helpers/wire-builders';

jest.setTimeout(60_000);

let etcd: EtcdProcess;
let queens: FederatedQueen[] = [];
let prefixCount = 0;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd.stop();
});
afterEach(async () => {
  await Promise.all(queens.splice(0).map((q) => q.stop().catch(() => undefined)));
});

async function federation(ids: string[]): Promise<FederatedQueen[]> {
  prefixCount += 1;
  const settings = etcdSettings(etcd, `/test-${prefixCount}/`);
  for (const id of ids) {
    queens.push(await FederatedQueen.start(id, settings));
  }
  return queens;
}

async function ownerOn(queen: FederatedQueen, hiveId: string): Promise<string | undefined> {
  try {
    const { hive } = await queen.rpc.getHiveState({ hiveId });
    return hive?.online === true ? hive.queenId : undefined;
  } catch {
    return undefined;
  }
}

test('every queen lists the federation, and a hive connected to one is seen by all, with its owner', async () => {
  const [a, b, c] = await federation(['queen-a', 'queen-b', 'queen-c']);
  for (const queen of [a!, b!, c!]) {
    const { queens: listed } = await queen.rpc.listQueens({});
    expect(listed.map((q) => [q.queenId, q.address, q.self])).toEqual([
      ['queen-a', a!.address, queen === a],
      ['queen-b', b!.address, queen === b],
      ['queen-c', c!.address, queen === c],
    ]);
  }
  const stream = await a!.connectHive('hive-1', [wireWorker('w1', { modelId: 'llama-3-8b' })]);
  for (const queen of [b!, c!]) await until(`hive-1 on ${queen.id}`, async () => (await ownerOn(queen, 'hive-1')) === 'queen-a', 2_000);
  const { workers: entries } = await c!.rpc.findWorkersByModel({ modelId: 'llama-3-8b' });
  expect(entries.map((e) => [e.hiveId, e.worker?.workerId, e.queenId, e.hiveOnline])).toEqual([['hive-1', 'w1', 'queen-a', true]]);
  const { queens: listed } = await b!.rpc.listQueens({});
  expect(listed.map((q) => q.hives)).toEqual([1, 0, 0]);
  const best = await b!.rpc.findBestWorkerForModel({ modelId: 'llama-3-8b' });
  expect(best.entry?.worker?.workerId).toBe('w1');
  expect(best.entry?.queenId).toBe('queen-a');

  // A change on queen-a reaches the others.
  await stream.send({ hiveId: 'hive-1', sequence: 2n, workers: [wireWorker('w1', { modelId: 'llama-3-8b', state: 2 }), wireWorker('w2')] });
  await until('w2 on queen-c', async () => (await c!.rpc.getHiveState({ hiveId: 'hive-1' })).hive?.workers.length === 2, 2_000);
  // A worker id an online hive holds anywhere is refused.
  const other = b!.client.heartbeat();
  const refused = await other.send({ hiveId: 'hive-2', sequence: 1n, workers: [wireWorker('w2')] });
  expect(refused.accepted).toBe(false);
  expect(refused.error).toMatch(/w2/);
});

test('a hive moving to another queen: the old stream ends ABORTED, every queen names the new owner', async () => {
  const [a, b, c] = await federation(['queen-a', 'queen-b', 'queen-c']);
  const first = await a!.connectHive('hive-1', [wireWorker('w1')]);
  await until('hive-1 on queen-c', async () => (await ownerOn(c!, 'hive-1')) === 'queen-a');
  await b!.connectHive('hive-1', [wireWorker('w1')], 1);
  expectStatus(await first.status, status.ABORTED, /queen-b/);
  for (const queen of [a!, b!, c!]) await until(`owner on ${queen.id}`, async () => (await ownerOn(queen, 'hive-1')) === 'queen-b');
});

test('RemoveHive on any queen removes the hive everywhere; its owner ends the stream', async () => {
  const [a, b, c] = await federation(['queen-a', 'queen-b', 'queen-c']);
  const stream = await a!.connectHive('hive-1', [wireWorker('w1')]);
  await until('hive-1 on queen-c', async () => (await ownerOn(c!, 'hive-1')) === 'queen-a');
  expect(await c!.rpc.removeHive({ hiveId: 'hive-1' })).toMatchObject({ removed: true });
  expectStatus(await stream.status, status.ABORTED, /removed/);
  for (const queen of [a!, b!, c!]) {
    await until(`hive-1 gone from ${queen.id}`, async () => (await queen.rpc.listAllHives({})).hiveIds.length === 0);
  }
  await expectRpcError(b!.rpc.getHiveState({ hiveId: 'hive-1' }), status.NOT_FOUND, /hive-1/);
});

test('a queen that stops revokes its lease: its hives go offline elsewhere at once, and it leaves ListQueens', async () => {
  const [a, b] = await federation(['queen-a', 'queen-b']);
  await a!.connectHive('hive-1', [wireWorker('w1')]);
  await until('hive-1 on queen-b', async () => (await ownerOn(b!, 'hive-1')) === 'queen-a');
  await a!.stop();
  queens = queens.filter((q) => q !== a);
  const ms = await until('hive-1 offline on queen-b', async () => (await b!.rpc.getHiveState({ hiveId: 'hive-1' })).hive?.online === false);
  expect(ms).toBeLessThan(2_000);
  await until('queen-a gone', async () => (await b!.rpc.listQueens({})).queens.length === 1);
});

test('a second queen with a taken id waits one lease TTL, then fails naming it', async () => {
  await federation(['queen-a']);
  const settings = etcdSettings(etcd, `/test-${prefixCount}/`);
  const started = Date.now();
  await expect(FederatedQueen.start('queen-a', settings)).rejects.toThrow(/queen id "queen-a" is held by a live queen/);
  expect(Date.now() - started).toBeGreaterThanOrEqual(settings.leaseTtlMs - 100);
});

test('a queen joining reports NOT_SERVING on gRPC health and /healthz until it holds its id, then SERVING on both', async () => {
  const [first] = await federation(['queen-a']);
  const settings = etcdSettings(etcd, `/test-${prefixCount}/`);
  // Fixed ports: the second queen's listeners are up while it waits for its id, before start resolves.
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const joining = FederatedQueen.start('queen-a', settings, { listen: `127.0.0.1:${grpcPort}`, httpListen: `127.0.0.1:${httpPort}` });
  joining.then((queen) => queens.push(queen), () => undefined);
  const health = async (): Promise<number> => {
    const client = healthClient(`127.0.0.1:${grpcPort}`);
    try {
      return (await client.health.check({ service: 'hive.v1.HiveRegistry' })).status;
    } finally {
      client.close();
    }
  };
  await until('/healthz answers while joining', async () => (await httpFetch(httpPort, '/healthz')).status !== 0, 2_000);
  const whileJoining = await httpFetch(httpPort, '/healthz');
  expect(whileJoining.status).toBe(503);
  expect(await health()).toBe(2); // NOT_SERVING
  // The first queen leaves (revoking its lease): the id is free, the second queen joins.
  await first!.stop();
  queens = queens.filter((q) => q !== first);
  const second = await joining;
  expect(second.queen.httpPort).toBe(httpPort);
  expect([(await httpFetch(httpPort, '/healthz')).status, await health()]).toEqual([200, 1]); // SERVING
});

/** A catalog given to a queen, counting who listens to its remote changes. */
class ListenedCatalog extends SqliteCatalog {
  subscribers = 0;

  override onRemoteChange(listener: (change: RemoteCatalogChange) => void): () => void {
    const unsubscribe = super.onRemoteChange(listener);
    this.subscribers += 1;
    return () => {
      this.subscribers -= 1;
      unsubscribe();
    };
  }
}

test('a queen that fails to join stops listening to the catalog it was given and closes its ports', async () => {
  await federation(['queen-a']);
  const settings = etcdSettings(etcd, `/test-${prefixCount}/`);
  const catalog = new ListenedCatalog(SqliteCatalog.open(IN_MEMORY, () => Date.now(), 'open').hives);
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const overrides = { listen: `127.0.0.1:${grpcPort}`, httpListen: `127.0.0.1:${httpPort}` };
  const joining = FederatedQueen.start('queen-a', settings, overrides, { catalog });
  await until('the joining queen listens to its catalog', () => catalog.subscribers === 1, 2_000);
  await expect(joining).rejects.toThrow(/queen id "queen-a" is held by a live queen/);
  expect(catalog.subscribers).toBe(0);
  await expect(httpFetch(httpPort, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  // Still the caller's: open.
  expect(await catalog.register('hive-a', {}, '')).toMatchObject({ hiveId: 'hive-a' });
  await catalog.close();
});

test('two queens claiming one hive at once: the etcd transaction decides, the loser ends its stream with ABORTED', async () => {
  const [a, b, c] = await federation(['queen-a', 'queen-b', 'queen-c']);
  for (let round = 1; round <= 3; round += 1) {
    const hiveId = `hive-race-${round}`;
    const [onA, onB] = await Promise.all([a!.connectHive(hiveId, [wireWorker(`w-${round}`)]), b!.connectHive(hiveId, [wireWorker(`w-${round}`)])]);
    // Exactly one stream survives; every queen names its queen.
    await until(`one of the two ends (${hiveId})`, () => onA.ended !== onB.ended);
    const winner = onA.ended ? 'queen-b' : 'queen-a';
    expectStatus(await (onA.ended ? onA : onB).status, status.ABORTED, /queen/);
    for (const queen of [a!, b!, c!]) await until(`${hiveId} owner on ${queen.id}`, async () => (await ownerOn(queen, hiveId)) === winner);
  }
});
