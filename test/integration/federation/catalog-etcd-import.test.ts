// `catalog import --etcd` against a real etcd with its default --max-txn-ops (128): a document of more keys than
// one transaction holds goes in transactions of MAX_TXN_KEYS keys, each a compare and a put per key, all accepted.
import { createHash } from 'node:crypto';
import { importIntoEtcd, loadEtcdCatalog } from '../../../src/catalog/etcd-catalog-document';
import { MAX_TXN_KEYS } from '../../../src/catalog/etcd-catalog-keys';
import type { HiveTokenRecord } from '../../../src/catalog/types';
import { Etcd3Store } from '../../../src/federation/etcd3-store';
import { makeRecord } from '../../helpers/catalog-fixtures';
import { EtcdProcess } from '../../helpers/etcd-process';

jest.setTimeout(30_000);

let etcd: EtcdProcess;
let store: Etcd3Store;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  store = new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: 2_000 });
});
afterAll(async () => {
  store.close();
  await etcd.stop();
});

test('300 keys (150 hives, a token each) take 3 transactions of up to 128 keys, and every key is there', async () => {
  expect(MAX_TXN_KEYS).toBe(128);
  const hives = Array.from({ length: 150 }, (_, i) => makeRecord(`hive-${String(i).padStart(3, '0')}`));
  const tokens: HiveTokenRecord[] = hives.map((hive, i) => ({
    tokenId: i.toString(16).padStart(8, '0'),
    hiveId: hive.hiveId,
    sha256: createHash('sha256').update(`secret-${i}`).digest(),
    createdAtMs: 1_700_000_000_000,
  }));
  expect(await importIntoEtcd(store, '/import/', hives, tokens)).toBe(3);
  const loaded = await loadEtcdCatalog(store, '/import/');
  expect(loaded.skipped).toEqual([]);
  expect(loaded.hives.map((h) => h.hiveId)).toEqual(hives.map((h) => h.hiveId));
  expect(loaded.tokens.map((t) => t.tokenId).sort()).toEqual(tokens.map((t) => t.tokenId).sort());
});
