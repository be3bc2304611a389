// A flush of heartbeat sightings to the etcd catalog whose transaction loses a compare (another queen wrote one of
// its keys meanwhile) must not take a hive that joined by heartbeat, and is not in etcd yet, for deregistered.
import type { RemoteCatalogChange } from '../../../src/catalog/catalog';
import { EtcdCatalog } from '../../../src/catalog/etcd-catalog';
import { Etcd3Store } from '../../../src/federation/etcd3-store';
import { EtcdProcess } from '../../helpers/etcd-process';
import { EtcdStoreProxy } from '../../helpers/etcd-store-proxy';
import { FakeWall } from '../catalog-contract';

jest.setTimeout(30_000);

const PEER = 'ipv4:10.0.0.7:50123';
let etcd: EtcdProcess;
const opened: { catalog: EtcdCatalog; store: EtcdStoreProxy }[] = [];

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  for (const { catalog, store } of opened.splice(0)) {
    await catalog.close();
    store.close();
  }
  await etcd.stop();
});

test('a hive that joined by heartbeat stays in the catalog when its first flush loses a compare on another hive', async () => {
  const wall = new FakeWall();
  const open = async (): Promise<{ catalog: EtcdCatalog; store: EtcdStoreProxy; changes: RemoteCatalogChange[] }> => {
    const store = new EtcdStoreProxy(new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: 2_000 }));
    const catalog = await EtcdCatalog.open(store, { prefix: '/flush-conflict/', registration: 'open', wallNow: wall.now });
    opened.push({ catalog, store });
    const changes: RemoteCatalogChange[] = [];
    catalog.onRemoteChange((change) => changes.push(change));
    return { catalog, store, changes };
  };
  const a = await open();
  const b = await open();
  await a.catalog.register('known', {}, '');
  for (const started = Date.now(); b.catalog.get('known') === undefined; ) {
    if (Date.now() - started > 2_000) throw new Error('b never saw "known"');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // a's copy of "known" goes stale (its watch is cut while b changes it), so a's next flush loses its compare.
  a.store.cutWatches();
  await b.catalog.update('known', { labels: { zone: 'eu' } });
  a.catalog.seen('known', wall.advance(1_000), PEER);
  a.catalog.streamEnded('known');
  a.catalog.seen('joined', wall.ms, PEER); // joins the catalog by its first heartbeat (open registration)

  await a.catalog.flush();
  expect(a.changes.filter((c) => c.hiveId === 'joined')).toEqual([]);
  expect(a.catalog.get('joined')).toMatchObject({ hiveId: 'joined', lastPeer: PEER });
  // Written by the flush's next round, or the next flush.
  if (a.catalog.pendingWrites > 0) await a.catalog.flush();
  a.store.restoreWatches();
  expect((await open()).catalog.get('joined')).toMatchObject({ hiveId: 'joined', lastPeer: PEER });
  expect(a.catalog.get('known')).toMatchObject({ labels: { zone: 'eu' } });
});
