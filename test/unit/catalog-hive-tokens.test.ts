import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CatalogStore, IN_MEMORY } from '../../src/catalog/catalog-store';
import { HiveCatalog } from '../../src/catalog/hive-catalog';
import { DomainError } from '../../src/common/domain-error';
import { holdWriteLock, makeTempDir, removeTempDir, withRawDb, type WriteLock } from '../helpers/catalog-fixtures';

const START_MS = 1_700_000_000_000;
const PEER = 'ipv4:10.0.0.7:50123';

let dir: string | undefined;
let lock: WriteLock | undefined;
const catalogs: HiveCatalog[] = [];
let wallMs = START_MS;

function dbPath(): string {
  dir ??= makeTempDir();
  return join(dir, 'catalog.db');
}

function open(path: string = IN_MEMORY): HiveCatalog {
  const catalog = new HiveCatalog(CatalogStore.open(path, wallMs), () => wallMs, 'open');
  catalogs.push(catalog);
  return catalog;
}

interface TokenRow {
  token_id: string;
  hive_id: string;
  token_sha256: Buffer;
  last_used_at: number | null;
  revoked_at: number | null;
}

function tokenRows(path: string): TokenRow[] {
  return withRawDb(path, (db) => db.prepare('SELECT * FROM hive_tokens ORDER BY created_at, token_id').all() as TokenRow[]);
}

beforeEach(() => {
  wallMs = START_MS;
});

afterEach(() => {
  lock?.release();
  lock = undefined;
  for (const catalog of catalogs.splice(0)) catalog.close();
  removeTempDir(dir);
  dir = undefined;
});

describe('hive tokens in the catalog', () => {
  test('only the SHA-256 is stored, and a token survives a restart', () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.register('hive-a', {}, '');
    const { token, tokenId } = catalog.issueToken('hive-a');
    const rows = tokenRows(path);
    expect(rows.map((r) => [r.token_id, r.hive_id, r.revoked_at])).toEqual([[tokenId, 'hive-a', null]]);
    expect(Buffer.from(rows[0]?.token_sha256 ?? []).equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(withRawDb(path, (db) => JSON.stringify(db.prepare('SELECT * FROM hive_tokens').all()))).not.toContain(token);
    catalog.close();

    const restarted = open(path);
    expect(restarted.tokens.verify(token)).toMatchObject({ tokenId, hiveId: 'hive-a', createdAtMs: START_MS });
    expect(restarted.tokens.verify(`${token}x`)).toBeUndefined();
  });

  test('a revoked token stays revoked after a restart, and is no longer listed', () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.register('hive-a', {}, '');
    const first = catalog.issueToken('hive-a');
    wallMs += 1_000;
    const second = catalog.issueToken('hive-a');
    expect(catalog.listTokens('hive-a').map((t) => t.tokenId)).toEqual([first.tokenId, second.tokenId]);
    expect(catalog.revokeToken('hive-a', first.tokenId)).toBe(true);
    expect(catalog.revokeToken('hive-a', first.tokenId)).toBe(false);
    expect(catalog.tokens.verify(first.token)).toBeUndefined();
    catalog.close();

    const restarted = open(path);
    expect(restarted.tokens.verify(first.token)).toBeUndefined();
    expect(restarted.tokens.verify(second.token)).toMatchObject({ tokenId: second.tokenId });
    expect(restarted.listTokens('hive-a').map((t) => t.tokenId)).toEqual([second.tokenId]);
    expect(tokenRows(path).map((r) => [r.token_id, r.revoked_at])).toEqual([
      [first.tokenId, START_MS + 1_000],
      [second.tokenId, null],
    ]);
  });

  test("a token's last use is memory only until the flush, which writes it with the hives in one transaction", () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.register('hive-a', {}, '');
    const { tokenId } = catalog.issueToken('hive-a');
    const writes = catalog.writeTransactions;
    catalog.tokens.used(tokenId, START_MS + 5_000);
    catalog.seen('hive-a', START_MS + 5_000, PEER);
    expect(catalog.pendingWrites).toBe(2);
    expect(tokenRows(path)[0]?.last_used_at).toBeNull();
    expect(catalog.flush()).toBe(2);
    expect(catalog.writeTransactions).toBe(writes + 1);
    expect(catalog.pendingWrites).toBe(0);
    expect(tokenRows(path)[0]?.last_used_at).toBe(START_MS + 5_000);
    // A clock stepped back does not move last use back.
    catalog.tokens.used(tokenId, START_MS + 1_000);
    expect(catalog.listTokens('hive-a')[0]?.lastUsedAtMs).toBe(START_MS + 5_000);
  });

  test('a failed flush keeps the last use for the next one', () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.register('hive-a', {}, '');
    const { tokenId } = catalog.issueToken('hive-a');
    catalog.tokens.used(tokenId, START_MS + 5_000);
    lock = holdWriteLock(path);
    expect(() => catalog.flush()).toThrow(DomainError);
    expect(catalog.pendingWrites).toBe(1);
    lock.release();
    lock = undefined;
    expect(catalog.flush()).toBe(1);
    expect(tokenRows(path)[0]?.last_used_at).toBe(START_MS + 5_000);
  });

  test('issuing fails cleanly while the disk refuses writes: no token in memory', () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.register('hive-a', {}, '');
    lock = holdWriteLock(path);
    const error = (() => {
      try {
        catalog.issueToken('hive-a');
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).reason).toBe('unavailable');
    expect(catalog.listTokens('hive-a')).toEqual([]);
    expect(catalog.tokens.size).toBe(0);
  });

  test('a hive that joined by heartbeat and has no row yet can be issued a token', () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.seen('hive-b', START_MS, PEER);
    const { token } = catalog.issueToken('hive-b');
    catalog.close();
    expect(open(path).tokens.verify(token)).toMatchObject({ hiveId: 'hive-b' });
  });

  test('deregistering a hive deletes its tokens, in memory and on disk', () => {
    const path = dbPath();
    const catalog = open(path);
    catalog.register('hive-a', {}, '');
    const { token } = catalog.issueToken('hive-a');
    expect(catalog.deregister('hive-a')).toBe(true);
    expect(catalog.tokens.verify(token)).toBeUndefined();
    expect(tokenRows(path)).toEqual([]);
  });

  test('not_found for a hive not in the catalog', () => {
    const catalog = open();
    expect(() => catalog.issueToken('nowhere')).toThrow(/no hive "nowhere" in the catalog/);
    expect(() => catalog.listTokens('nowhere')).toThrow(/no hive "nowhere" in the catalog/);
    expect(catalog.revokeToken('nowhere', 'abc')).toBe(false);
  });

  test('tokens come from the injected source: prefix and base64url of 32 bytes', () => {
    let next = 0;
    const random = (size: number): Buffer => Buffer.alloc(size, next++);
    const catalog = new HiveCatalog(CatalogStore.open(IN_MEMORY, wallMs), () => wallMs, 'open', { random });
    catalogs.push(catalog);
    catalog.register('hive-a', {}, '');
    expect(catalog.issueToken('hive-a')).toEqual({ token: `hvt_${Buffer.alloc(32, 0).toString('base64url')}`, tokenId: '0101010101010101' });
  });
});
