import { status } from '@grpc/grpc-js';
import { expectRpcError, healthClient } from '../../helpers/client';
import { EtcdProcess } from '../../helpers/etcd-process';
import { etcdSettings, FederatedQueen, TEST_LEASE_TTL_MS, until } from '../../helpers/federation';
import { httpFetch } from '../../helpers/http';
import { TcpProxy } from '../../helpers/tcp-proxy';
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
    // The HTTP listener too: /healthz follows what gRPC health says.
    queens.push(await FederatedQueen.start(id, settings, { httpListen: '127.0.0.1:0' }));
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
  const cutOff = await httpFetch(a!.queen.httpPort!, '/healthz');
  expect([cutOff.status, cutOff.body]).toEqual([503, 'not serving: this queen does not see the whole fleet (joining its federation, or cut off from etcd)\n']);
  // Own hives stay online (heartbeats go on), the other queen's hive is shown offline.
  await streamA.send({ hiveId: 'hive-a', sequence: 2n, unchanged: true });
  await streamB.send({ hiveId: 'hive-b', sequence: 2n, unchanged: true });
  expect(await online(a!, 'hive-a')).toBe(true);
  expect(await online(a!, 'hive-b')).toBe(false);
  expect(await online(b!, 'hive-a')).toBe(false);
  // What must go through etcd answers UNAVAILABLE, naming it: another queen's hive's removal, a catalog write.
  await expectRpcError(a!.rpc.removeHive({ hiveId: 'hive-b' }), status.UNAVAILABLE, /hive_id: the removal of hive "hive-b" must go through etcd/);
  await expectRpcError(a!.catalog.registerHive({ hiveId: 'hive-c' }), status.UNAVAILABLE, /etcd/);

  etcd.resume();
  await until('both SERVING', async () => (await health(a!)) === 'SERVING' && (await health(b!)) === 'SERVING', 15_000);
  expect((await httpFetch(a!.queen.httpPort!, '/healthz')).status).toBe(200);
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

test('a queen cut off from etcd while its hive moves to another queen does not claim it again when it comes back', async () => {
  prefixCount += 1;
  const proxy = await TcpProxy.start('127.0.0.1', etcd.clientPort);
  try {
    const prefix = `/faults-${prefixCount}/`;
    const a = await FederatedQueen.start('queen-a', { ...etcdSettings(etcd, prefix), endpoints: [proxy.endpoint] });
    queens.push(a);
    const b = await FederatedQueen.start('queen-b', etcdSettings(etcd, prefix));
    queens.push(b);
    const onA = await a.connectHive('hive-1', [wireWorker('w1')]);
    await until('hive-1 on queen-b', async () => (await b.rpc.getHiveState({ hiveId: 'hive-1' })).hive?.queenId === 'queen-a');

    proxy.cut();
    // queen-a's lease expires on etcd: queen-b sees hive-1 offline, then the agent moves to queen-b.
    await until('hive-1 offline on queen-b', async () => (await online(b, 'hive-1')) === false, TEST_LEASE_TTL_MS + 5_000);
    const onB = await b.connectHive('hive-1', [wireWorker('w1')], 5);
    await until('hive-1 online on queen-b as its own', async () => (await b.rpc.getHiveState({ hiveId: 'hive-1' })).hive?.queenId === 'queen-b');
    // queen-a still holds its old stream (the agent never told it), and keeps the hive as its own meanwhile.
    await until('queen-a cut off', async () => (await health(a)) === 'NOT_SERVING', TEST_LEASE_TTL_MS + 5_000);

    proxy.heal();
    await until('queen-a SERVING again', async () => (await health(a)) === 'SERVING', 20_000);
    // queen-a gives the hive up: its stale stream ends with ABORTED, and both queens name queen-b.
    const ended = await onA.status;
    expect(ended.code).toBe(10); // ABORTED
    await until('both queens agree on queen-b', async () => {
      const [fromA, fromB] = await Promise.all([a.rpc.getHiveState({ hiveId: 'hive-1' }), b.rpc.getHiveState({ hiveId: 'hive-1' })]);
      return fromA.hive?.queenId === 'queen-b' && fromB.hive?.queenId === 'queen-b' && fromA.hive.online && fromB.hive.online;
    }, 10_000);
    expect(onB.ended).toBe(false);
    expect(await workerLists(a)).toBe(await workerLists(b));
  } finally {
    await proxy.close();
  }
});
