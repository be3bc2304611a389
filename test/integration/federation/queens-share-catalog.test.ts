// Two queens serving one catalog in a real etcd (each given its EtcdCatalog through QueenOptions): a catalog RPC on
// one changes scheduling and admission on the other within 1 s, as it does on the queen that answered it.
import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { EtcdCatalog } from '../../../src/catalog/etcd-catalog';
import { Etcd3Store } from '../../../src/federation/etcd3-store';
import type { Caller } from '../../../src/server/callers';
import { eventually, expectRpcError, expectStatus } from '../../helpers/client';
import { EtcdProcess } from '../../helpers/etcd-process';
import { TestQueen, TEST_CONFIG } from '../../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../../helpers/wire-builders';

jest.setTimeout(30_000);

const MODEL = 'org/llama-3-8b';
const ADMIN_TOKEN = 'admin-token-for-tests';
const CALLERS: Caller[] = [{ name: 'ops', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest() }];

let etcd: EtcdProcess;
let store: Etcd3Store;
const queens: TestQueen[] = [];

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: 2_000 });
});
afterAll(async () => {
  store.close();
  await etcd.stop();
});
afterEach(async () => {
  for (const q of queens.splice(0)) await q.stop();
});

async function queenOn(prefix: string, callers?: readonly Caller[]): Promise<TestQueen> {
  const catalog = await EtcdCatalog.open(store, {
    prefix,
    registration: 'open',
    maxHives: TEST_CONFIG.maxHives,
    wallNow: () => Date.now(),
  });
  const q = await TestQueen.start(callers === undefined ? {} : { callers }, undefined, { catalog });
  queens.push(q);
  return q;
}

test('cordon, labels, token revocation and deregistration on one queen reach the other within 1 s', async () => {
  const a = await queenOn('/share-1/', CALLERS);
  const b = await queenOn('/share-1/', CALLERS);
  expect(b.queen.catalog.location).toBe(`etcd ${etcd.endpoint} /share-1/`);
  const adminA = a.newClient(ADMIN_TOKEN);
  const adminB = b.newClient(ADMIN_TOKEN);

  await adminA.catalog.registerHive({ hiveId: 'hive-a', labels: { zone: 'eu' } });
  const { token, tokenId } = await adminA.catalog.issueHiveToken({ hiveId: 'hive-a' });
  const stream = b.newClient(token).heartbeat();
  // The token and the hive are known on b within 1 s.
  const admitted = await eventually(async () => b.queen.catalog.tokens.verify(token) !== undefined, 1_000);
  expect(admitted).toBe(true);
  expect((await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w', { modelId: MODEL })]))).accepted).toBe(true);
  const pick = (selector: Record<string, string> = {}) => adminB.rpc.findBestWorkerForModel({ modelId: MODEL, selector });
  expect((await pick({ zone: 'eu' })).entry?.worker?.workerId).toBe('w');

  await adminA.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { zone: 'us' } }, updateMask: { paths: ['labels'] } });
  expect(await eventually(async () => (await pick({ zone: 'us' }).catch(() => undefined))?.entry !== undefined, 1_000)).toBe(true);

  await adminA.catalog.cordonHive({ hiveId: 'hive-a' });
  expect(await eventually(async () => (await pick().catch(() => undefined)) === undefined, 1_000)).toBe(true);
  await expectRpcError(pick(), status.UNAVAILABLE, /not cordoned/);

  expect((await adminA.catalog.revokeHiveToken({ hiveId: 'hive-a', tokenId })).revoked).toBe(true);
  expectStatus(await stream.status, status.UNAUTHENTICATED, /was revoked/);

  const second = await adminA.catalog.issueHiveToken({ hiveId: 'hive-a' });
  expect(await eventually(async () => b.queen.catalog.tokens.verify(second.token) !== undefined, 1_000)).toBe(true);
  const again = b.newClient(second.token).heartbeat();
  expect((await again.send(snapshotPayload('hive-a', 1, [wireWorker('w', { modelId: MODEL })]))).accepted).toBe(true);
  expect((await adminA.catalog.deregisterHive({ hiveId: 'hive-a' })).removed).toBe(true);
  expectStatus(await again.status, status.ABORTED, /was deregistered from the catalog/);
  await expectRpcError(adminB.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
});

test("a hive's last_seen reaches etcd when its stream ends, throttled before; a stopped queen leaves the store open", async () => {
  const a = await queenOn('/share-2/');
  const reader = await EtcdCatalog.open(store, { prefix: '/share-2/', registration: 'open', wallNow: () => Date.now() });
  try {
    const stream = await a.connectHive('hive-b');
    const firstMs = a.queen.catalog.get('hive-b')?.lastSeenMs;
    // Its first sighting is written by the next checkpoint (within the 1 s flush interval).
    expect(await eventually(async () => reader.get('hive-b')?.lastSeenMs === firstMs, 3_000)).toBe(true);

    a.clock.advance(5_000);
    expect((await stream.send(tickPayload('hive-b', 2))).accepted).toBe(true);
    const lastMs = a.queen.catalog.get('hive-b')?.lastSeenMs;
    expect(lastMs).toBe((firstMs ?? 0) + 5_000);
    // While the hive streams, later sightings wait for the 30 s pace (the queen's clock does not move on its own).
    expect(await eventually(async () => reader.get('hive-b')?.lastSeenMs === lastMs, 1_500)).toBe(false);

    stream.end();
    expect((await stream.status).code).toBe(status.OK);
    expect(await eventually(async () => reader.get('hive-b')?.lastSeenMs === lastMs, 3_000)).toBe(true);

    await a.stop();
    queens.splice(queens.indexOf(a), 1);
    expect(await reader.register('hive-c', {}, '')).toMatchObject({ hiveId: 'hive-c' });
  } finally {
    await reader.close();
  }
});
