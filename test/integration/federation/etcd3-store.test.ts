import { Etcd3Store } from '../../../src/federation/etcd3-store';
import { EtcdUnavailableError, type EtcdEvent } from '../../../src/federation/etcd-store';
import { EtcdProcess } from '../../helpers/etcd-process';

jest.setTimeout(60_000);

let etcd: EtcdProcess;
let store: Etcd3Store;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd.stop();
});
beforeEach(() => {
  store = new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: 1_000 });
});
afterEach(() => store.close());

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('put, get, list and transactions', async () => {
  const rev = await store.put('/t1/a', 'one');
  await store.put('/t1/b', 'two');
  const a = await store.get('/t1/a');
  expect(a?.value.toString()).toBe('one');
  expect(a?.modRevision).toBe(rev);
  const listing = await store.list('/t1/');
  expect(listing.entries.map((e) => e.key)).toEqual(['/t1/a', '/t1/b']);
  expect(listing.revision).toBeGreaterThanOrEqual(rev);
  const lost = await store.txn([{ key: '/t1/a', target: 'create', op: '=', revision: 0n }], [{ put: '/t1/a', value: 'x' }], [
    { get: '/t1/a' },
  ]);
  expect(lost.succeeded).toBe(false);
  expect(lost.gets[0]?.value.toString()).toBe('one');
  const won = await store.txn([{ key: '/t1/a', target: 'mod', op: '=', revision: rev }], [{ put: '/t1/a', value: 'y' }]);
  expect(won.succeeded).toBe(true);
  expect((await store.get('/t1/a'))?.modRevision).toBe(won.revision);
  expect(await store.delete('/t1/b')).toBe(1);
  expect(await store.get('/t1/b')).toBeUndefined();
});

test('a watch sees every event in order, from a revision, and resumes after etcd restarts without loss', async () => {
  const start = (await store.put('/t2/x', '0')) + 1n;
  const seen: EtcdEvent[] = [];
  store.watch('/t2/', start, { events: (events) => seen.push(...events), compacted: () => undefined });
  for (let i = 1; i <= 5; i += 1) await store.put('/t2/x', String(i));
  await until(() => seen.length === 5);
  await etcd.restart();
  const other = new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: 2_000 });
  for (let i = 6; i <= 8; i += 1) await other.put('/t2/x', String(i));
  await other.delete('/t2/x');
  other.close();
  await until(() => seen.length === 9, 20_000);
  expect(seen.map((e) => (e.type === 'put' ? e.entry.value.toString() : 'deleted'))).toEqual([
    '1', '2', '3', '4', '5', '6', '7', '8', 'deleted',
  ]);
});

test('a listing and a watch replay larger than grpc-js accepts by default (4 MiB) come through', async () => {
  const value = 'x'.repeat(100_000);
  const first = await store.put('/t5/00', value);
  for (let i = 1; i < 50; i += 1) await store.put(`/t5/${String(i).padStart(2, '0')}`, value);
  expect((await store.list('/t5/')).entries).toHaveLength(50);
  const seen: EtcdEvent[] = [];
  const breaks: string[] = [];
  store.watch('/t5/', first, {
    events: (events) => seen.push(...events),
    compacted: () => undefined,
    interrupted: (error) => breaks.push(error.message),
  });
  await until(() => seen.length === 50 || breaks.length > 0);
  expect(breaks).toEqual([]);
  expect(seen).toHaveLength(50);
});

test('a watch from a compacted revision reports the compaction', async () => {
  const first = await store.put('/t3/x', 'a');
  await store.put('/t3/x', 'b');
  await etcd.compact();
  let compactedAt: bigint | undefined;
  store.watch('/t3/', first, { events: () => undefined, compacted: (rev) => (compactedAt = rev) });
  await until(() => compactedAt !== undefined);
  expect(compactedAt).toBeGreaterThan(first);
});

test('leases: keys under a lease go with it; keep-alive renews; revoke deletes; a call to a paused etcd times out', async () => {
  const lease = await store.grantLease(2);
  await store.put('/t4/k', 'v', lease);
  let renewed = 0;
  const keeper = store.keepAlive(lease, 500, { renewed: () => (renewed += 1), gone: () => undefined });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(renewed).toBeGreaterThan(2);
  expect((await store.get('/t4/k'))?.lease).toBe(lease);
  keeper.close();
  await store.revokeLease(lease);
  expect(await store.get('/t4/k')).toBeUndefined();
  await store.revokeLease(lease); // gone already: not an error

  etcd.pause();
  try {
    await expect(store.get('/t4/k')).rejects.toBeInstanceOf(EtcdUnavailableError);
  } finally {
    etcd.resume();
  }
  // Back at once: no circuit breaker holding calls.
  let ok = false;
  const deadline = Date.now() + 5_000;
  while (!ok && Date.now() < deadline) {
    ok = await store.get('/t4/k').then(() => true, () => false);
  }
  expect(ok).toBe(true);
});

test('a keep-alive on an expired lease reports it gone', async () => {
  const lease = await store.grantLease(1);
  await store.revokeLease(lease);
  let gone = false;
  store.keepAlive(lease, 200, { renewed: () => undefined, gone: () => (gone = true) });
  await until(() => gone);
});
