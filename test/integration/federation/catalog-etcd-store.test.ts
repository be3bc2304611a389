// The catalog store contract, run against a real etcd: each test's catalogs under a prefix of their own.
import { EtcdCatalog } from '../../../src/catalog/etcd-catalog';
import { Etcd3Store } from '../../../src/federation/etcd3-store';
import { EtcdProcess } from '../../helpers/etcd-process';
import { describeCatalogStore, type CatalogSettings } from '../catalog-contract';

jest.setTimeout(30_000);

let etcd: EtcdProcess;
let store: Etcd3Store;
let prefixes = 0;
let prefix = '';

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: 2_000 });
});
afterAll(async () => {
  store.close();
  await etcd.stop();
});

function openAt(at: string, settings: CatalogSettings): Promise<EtcdCatalog> {
  return EtcdCatalog.open(store, {
    prefix: at,
    registration: settings.registration,
    wallNow: settings.wallNow,
    ...(settings.maxHives === undefined ? {} : { maxHives: settings.maxHives }),
  });
}

describeCatalogStore('etcd', () => ({
  open: (settings) => {
    prefixes += 1;
    prefix = `/contract-${prefixes}/`;
    return openAt(prefix, settings);
  },
  reopen: (settings) => openAt(prefix, settings),
}));
