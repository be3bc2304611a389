import { DomainError } from '../common/domain-error.js';
import type { EtcdCompare, EtcdOp, EtcdStore } from '../federation/etcd-store.js';
import { absent, CatalogKeys, encodeHive, encodeToken, MAX_TXN_KEYS, putFact } from './etcd-catalog-keys.js';
import type { CatalogRecord, HiveTokenRecord } from './types.js';

// `catalog export` and `catalog import` against a federation's catalog in etcd: what `catalog-document.ts` turns
// into JSON, read from and written to the keys the etcd store uses.

/** Every hive and live token of the catalog under `prefix`, as of one revision; unreadable records are skipped. */
export async function loadEtcdCatalog(
  store: EtcdStore,
  prefix: string,
): Promise<{ hives: CatalogRecord[]; tokens: HiveTokenRecord[]; skipped: string[] }> {
  const keys = new CatalogKeys(prefix);
  const listing = await store.list(keys.root);
  const hives: CatalogRecord[] = [];
  const tokens: HiveTokenRecord[] = [];
  const skipped: string[] = [];
  for (const entry of listing.entries) {
    const fact = putFact(keys, entry);
    if (fact === undefined) continue;
    if (typeof fact === 'string') skipped.push(`${entry.key}: ${fact}`);
    else if (fact.kind === 'hive' && fact.record !== undefined) hives.push(fact.record);
    else if (fact.kind === 'token' && fact.record !== undefined) tokens.push(fact.record);
  }
  return { hives, tokens, skipped };
}

/**
 * Adds hives and token hashes to the catalog under `prefix`. Refused (already_exists, nothing written) when any of
 * them is there already. A large document takes several transactions; each writes only keys still absent, so a
 * queen registering one of the same hives meanwhile stops the import there (already_exists, saying how much was
 * written) rather than being overwritten. Resolves with how many transactions it took.
 */
export async function importIntoEtcd(
  store: EtcdStore,
  prefix: string,
  hives: readonly CatalogRecord[],
  tokens: readonly HiveTokenRecord[],
): Promise<number> {
  const keys = new CatalogKeys(prefix);
  const current = await loadEtcdCatalog(store, prefix);
  const hiveIds = new Set(current.hives.map((h) => h.hiveId));
  const tokenIds = new Set(current.tokens.map((t) => t.tokenId));
  const hashes = new Set(current.tokens.map((t) => t.sha256.toString('hex')));
  const clashes = [
    ...hives.filter((h) => hiveIds.has(h.hiveId)).map((h) => `hive ${JSON.stringify(h.hiveId)}`),
    ...tokens
      .filter((t) => tokenIds.has(t.tokenId) || hashes.has(t.sha256.toString('hex')))
      .map((t) => `token ${t.tokenId} of ${JSON.stringify(t.hiveId)}`),
  ];
  if (clashes.length > 0) {
    const shown = clashes.slice(0, 5).join(', ');
    throw new DomainError(
      'already_exists',
      `already in the catalog: ${shown}${clashes.length > 5 ? ` and ${clashes.length - 5} more` : ''}; nothing was imported`,
    );
  }
  // Each hive with its tokens, so a transaction never holds a token whose hive is not written yet.
  const writes: { key: string; value: string }[] = [];
  for (const hive of hives) {
    writes.push({ key: keys.hive(hive.hiveId), value: encodeHive(hive) });
    for (const token of tokens) {
      if (token.hiveId === hive.hiveId) writes.push({ key: keys.token(token.hiveId, token.tokenId), value: encodeToken(token) });
    }
  }
  let transactions = 0;
  for (let start = 0; start < writes.length; start += MAX_TXN_KEYS) {
    const chunk = writes.slice(start, start + MAX_TXN_KEYS);
    const compare: EtcdCompare[] = chunk.map((w) => absent(w.key));
    const success: EtcdOp[] = chunk.map((w) => ({ put: w.key, value: w.value }));
    const result = await store.txn(compare, success);
    if (!result.succeeded) {
      throw new DomainError(
        'already_exists',
        `a queen wrote some of these hives meanwhile: ${start} of ${writes.length} keys were imported, the rest not`,
      );
    }
    transactions += 1;
  }
  return transactions;
}
