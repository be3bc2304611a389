import { SqliteCatalog } from '../../../src/catalog/sqlite-catalog';
import { healthClient } from '../../helpers/client';
import { EtcdProcess } from '../../helpers/etcd-process';
import { etcdSettings, FederatedQueen, TEST_LEASE_TTL_MS, until } from '../../helpers/federation';
import { wireWorker } from '../../helpers/wire-builders';

jest.setTimeout(90_000);

let etcd: EtcdProcess;
let queens: FederatedQueen[] = [];
let prefixCount = 0;

beforeEach(async () => {
  etcd = await EtcdProcess.start();
});
afterEach(async () => {
  etcd.resume();
  await Promise.all(queens.splice(0).map((q) => q.stop().catch(() => undefined)));
  await etcd.stop();
});

async function federation(ids: string[]): Promise<FederatedQueen[]> {
  prefixCount += 1;
  const settings = etcdSettings(etcd, `/faults-${prefixCount}/`);
  for (const id of ids) {
    const catalog = SqliteCatalog.open(':memory:', () => Date.now(), 'open', { maxHives: 10_000 });
    queens.push(await FederatedQueen.start(id, settings, {}, { catalog }));
  }
  return queens;
}

async function online(queen: FederatedQueen, hiveId: string): Promise<boolean | undefined> {
  try {
    return (await queen.rpc.getHiveState({ hiveId })).hive?.online;
  } catch {
    return undefined;
  }
}

async function health(queen: FederatedQueen): Promise<string> {
  const client = healthClient(queen.address);
  try {
    const res = await client.health.check({ service: 'hive.v1.HiveRegistry' });
    return res.status === 1 ? 'SERVING' : res.status === 2 ? 'NOT_SERVING' : String(res.status);
  } finally {
    client.close();
  }
}

async function workerLists(queen: FederatedQueen): Promise<string> {
  const { workers } = await queen.rpc.listAllWorkers({});
  return JSON.stringify(workers.map((e) => [e.hiveId, e.worker?.workerId, e.hiveOnline, e.queenId]));
}

test('etcd paused past the lease TTL: each queen serves its own hives, shows the others offline, reports NOT_SERVING, and rejoins', async () => {
  const [a, b] = await federation(['queen-a', 'queen-b']);
  const streamA = await a!.connectHive('hive-a', [wireWorker('wa')]);
  const streamB = await b!.connectHive('hive-b', [wireWorker('wb')]);
  await until('both hives on both queens', async () => (await online(a!, 'hive-b')) === true && (await online(b!, 'hive-a')) === true);

  etcd.pause();
  const ms = await until('queen-a NOT_SERVING', async () => (await health(a!)) === 'NOT_SERVING', TEST_LEASE_TTL_MS + 5_000);
  expect(ms).toBeGreaterThanOrEqual(TEST_LEASE_TTL_MS - 1_500);
  await until('queen-b NOT_SERVING', async () => (await health(b!)) === 'NOT_SERVING');
  // Own hives stay online (heartbeats go on), the other queen's hive is shown offline.
  await streamA.send({ hiveId: 'hive-a', sequence: 2n, unchanged: true });
  await streamB.send({ hiveId: 'hive-b', sequence: 2n, unchanged: true });
  expect(await online(a!, 'hive-a')).toBe(true);
  expect(await online(a!, 'hive-b')).toBe(false);
  expect(await online(b!, 'hive-a')).toBe(false);

  etcd.resume();
  await until('both SERVING', async () => (await health(a!)) === 'SERVING' && (await health(b!)) === 'SERVING', 15_000);
  await until('both hives online everywhere again', async () => (await online(a!, 'hive-b')) === true && (await online(b!, 'hive-a')) === true, 15_000);
  expect(await workerLists(a!)).toBe(await workerLists(b!));
  expect(JSON.parse(await workerLists(a!))).toEqual([
    ['hive-a', 'wa', true, 'queen-a'],
    ['hive-b', 'wb', true, 'queen-b'],
  ]);
});

test('etcd restarted: the queens rejoin by themselves and agree again; changes flow after it', async () => {
  const [a, b] = await federation(['queen-a', 'queen-b']);
  const streamA = await a!.connectHive('hive-a', [wireWorker('wa')]);
  await until('hive-a on queen-b', async () => (await online(b!, 'hive-a')) === true);
  await etcd.restart();
  await streamA.send({ hiveId: 'hive-a', sequence: 2n, workers: [wireWorker('wa'), wireWorker('wa2')] });
  await until('the change on queen-b', async () => (await b!.rpc.getHiveState({ hiveId: 'hive-a' })).hive?.workers.length === 2, 20_000);
  expect(await health(a!)).toBe('SERVING');
  expect(await workerLists(a!)).toBe(await workerLists(b!));
});
