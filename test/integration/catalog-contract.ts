// The behaviour every catalog store owes the queen, as one suite: describeCatalogStore runs it against a store
// (SQLite in catalog-sqlite-store.test.ts, etcd in federation/catalog-etcd-store.test.ts). Messages are compared
// in full: an operator sees the same words whichever store a queen runs on.
import type { Catalog } from '../../src/catalog/catalog';
import type { RegistrationMode } from '../../src/catalog/types';
import { DomainError } from '../../src/common/domain-error';

export const START_MS = 1_700_000_000_000;
const PEER = 'ipv4:10.0.0.7:50123';
const OTHER_PEER = 'ipv4:10.0.0.9:41000';

/** A wall clock the test sets by hand. */
export class FakeWall {
  constructor(public ms = START_MS) {}
  readonly now = (): number => this.ms;
  advance(ms: number): number {
    this.ms += ms;
    return this.ms;
  }
}

export interface CatalogSettings {
  readonly registration: RegistrationMode;
  readonly maxHives?: number;
  readonly wallNow: () => number;
}

/** One store under test. Every catalog it opens is closed by the suite. */
export interface CatalogStoreUnderTest {
  /** A catalog over fresh, empty storage (a new file, a new etcd prefix). */
  open(settings: CatalogSettings): Promise<Catalog>;
  /** Another catalog over the storage of the last `open`: what a restarted queen (or another queen) loads. */
  reopen(settings: CatalogSettings): Promise<Catalog>;
}

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

export function describeCatalogStore(name: string, store: () => CatalogStoreUnderTest): void {
  describe(`catalog store contract: ${name}`, () => {
    const opened: Catalog[] = [];
    let wall: FakeWall;

    beforeEach(() => {
      wall = new FakeWall();
    });

    afterEach(async () => {
      for (const catalog of opened.splice(0)) await catalog.close();
    });

    async function open(registration: RegistrationMode = 'open', maxHives?: number): Promise<Catalog> {
      const catalog = await store().open({ registration, wallNow: wall.now, ...(maxHives === undefined ? {} : { maxHives }) });
      opened.push(catalog);
      return catalog;
    }

    async function reopen(registration: RegistrationMode = 'open'): Promise<Catalog> {
      const catalog = await store().reopen({ registration, wallNow: wall.now });
      opened.push(catalog);
      return catalog;
    }

    test('register: the new record, readable at once and after a reopen; one write; twice is already_exists', async () => {
      const catalog = await open();
      const before = catalog.writeTransactions;
      const record = await catalog.register('h1', { zone: 'eu', gpu: 'a100' }, 'rack 4');
      const expected = {
        hiveId: 'h1',
        labels: { gpu: 'a100', zone: 'eu' },
        description: 'rack 4',
        createdAtMs: START_MS,
        updatedAtMs: START_MS,
        lastPeer: '',
        cordoned: false,
      };
      expect(record).toStrictEqual(expected);
      expect(Object.keys(record.labels)).toEqual(['gpu', 'zone']);
      expect(catalog.get('h1')).toStrictEqual(expected);
      expect(catalog.size).toBe(1);
      expect(catalog.writeTransactions).toBe(before + 1);

      wall.advance(1_000);
      const error = await rejection(catalog.register('h1', {}, 'second'));
      expect([error.reason, error.message]).toEqual(['already_exists', 'hive_id: hive "h1" is already in the catalog']);
      expect(catalog.get('h1')).toStrictEqual(expected);
      expect(catalog.writeTransactions).toBe(before + 1);
      expect((await reopen()).get('h1')).toStrictEqual(expected);
    });

    test('list: sorted by hive id in byte order, filtered by selector (every entry must match)', async () => {
      const catalog = await open();
      await catalog.register('hive-c', { zone: 'eu', gpu: 'a100' }, '');
      await catalog.register('hive-a', { zone: 'eu', gpu: 'h100' }, '');
      await catalog.register('hive-B', { zone: 'us', gpu: 'a100' }, '');
      await catalog.register('hive-b', {}, '');
      const ids = (selector?: Record<string, string>): string[] => catalog.list(selector).map((r) => r.hiveId);
      expect(ids()).toEqual(['hive-B', 'hive-a', 'hive-b', 'hive-c']);
      expect(ids({ zone: 'eu' })).toEqual(['hive-a', 'hive-c']);
      expect(ids({ zone: 'eu', gpu: 'a100' })).toEqual(['hive-c']);
      expect(ids({ zone: 'ap' })).toEqual([]);
      expect((await reopen()).list({ gpu: 'a100' }).map((r) => r.hiveId)).toEqual(['hive-B', 'hive-c']);
    });

    test('update: changes only what the patch names (labels as a whole map), moves updatedAtMs, commits once', async () => {
      const catalog = await open();
      await catalog.register('h1', { zone: 'eu', gpu: 'a100' }, 'rack 4');
      const writes = catalog.writeTransactions;
      wall.advance(5_000);
      const relabelled = await catalog.update('h1', { labels: { gpu: 'h100' } });
      expect(relabelled).toMatchObject({ labels: { gpu: 'h100' }, description: 'rack 4', createdAtMs: START_MS, updatedAtMs: START_MS + 5_000 });
      wall.advance(1_000);
      const described = await catalog.update('h1', { description: 'rack 5' });
      expect(described).toMatchObject({ labels: { gpu: 'h100' }, description: 'rack 5', updatedAtMs: START_MS + 6_000 });
      expect(catalog.writeTransactions).toBe(writes + 2);
      expect((await reopen()).get('h1')).toStrictEqual(described);
    });

    test('cordon: flips the flag with one write; asking for the state it is in writes nothing and changes nothing', async () => {
      const catalog = await open();
      await catalog.register('h1', {}, '');
      const writes = catalog.writeTransactions;
      wall.advance(1_000);
      const cordoned = await catalog.setCordoned('h1', true);
      expect(cordoned).toMatchObject({ cordoned: true, updatedAtMs: START_MS + 1_000 });
      wall.advance(1_000);
      expect(await catalog.setCordoned('h1', true)).toStrictEqual(cordoned);
      expect(catalog.writeTransactions).toBe(writes + 1);
      expect((await reopen()).get('h1')?.cordoned).toBe(true);
      expect(await catalog.setCordoned('h1', false)).toMatchObject({ cordoned: false, updatedAtMs: START_MS + 2_000 });
      expect(catalog.writeTransactions).toBe(writes + 2);
    });

    test('not_found, as a rejected promise, for every write and token read of a hive not in the catalog', async () => {
      const catalog = await open();
      const message = 'hive_id: no hive "nowhere" in the catalog';
      const pending = catalog.update('nowhere', { description: 'x' });
      expect(pending).toBeInstanceOf(Promise);
      for (const write of [pending, catalog.setCordoned('nowhere', true), catalog.issueToken('nowhere')]) {
        const error = await rejection(write);
        expect([error.reason, error.message]).toEqual(['not_found', message]);
      }
      expect(() => catalog.listTokens('nowhere')).toThrow(message);
      expect(await catalog.deregister('nowhere')).toBe(false);
      expect(await catalog.revokeToken('nowhere', 'ffffffffffffffff')).toBe(false);
      expect(catalog.get('nowhere')).toBeUndefined();
      expect(catalog.size).toBe(0);
    });

    test('tokens: issued in the one token format, verified by hash, listed oldest first, revoked once', async () => {
      const catalog = await open();
      await catalog.register('h1', {}, '');
      await catalog.register('h2', {}, '');
      const first = await catalog.issueToken('h1');
      wall.advance(1_000);
      const second = await catalog.issueToken('h1');
      expect(first.token).toMatch(/^hvt_[A-Za-z0-9_-]{43}$/);
      expect(first.tokenId).toMatch(/^[0-9a-f]{16}$/);
      expect(catalog.tokens.verify(first.token)).toMatchObject({ tokenId: first.tokenId, hiveId: 'h1', createdAtMs: START_MS });
      expect(catalog.tokens.verify(`${first.token}x`)).toBeUndefined();
      expect(catalog.listTokens('h1').map((t) => t.tokenId)).toEqual([first.tokenId, second.tokenId]);
      expect(catalog.listTokens('h2')).toEqual([]);
      expect(catalog.tokens.size).toBe(2);

      expect(await catalog.revokeToken('h2', first.tokenId)).toBe(false);
      expect(await catalog.revokeToken('h1', first.tokenId)).toBe(true);
      expect(await catalog.revokeToken('h1', first.tokenId)).toBe(false);
      expect(catalog.tokens.verify(first.token)).toBeUndefined();
      expect(catalog.tokens.verify(second.token)?.tokenId).toBe(second.tokenId);

      const again = await reopen();
      expect(again.listTokens('h1').map((t) => t.tokenId)).toEqual([second.tokenId]);
      expect(again.tokens.verify(second.token)?.hiveId).toBe('h1');
    });

    test("deregister: removes the hive and its tokens (a new hive of the same id starts with none); false when absent", async () => {
      const catalog = await open();
      await catalog.register('h1', { zone: 'eu' }, 'old');
      const { token } = await catalog.issueToken('h1');
      expect(await catalog.deregister('h1')).toBe(true);
      expect(await catalog.deregister('h1')).toBe(false);
      expect(catalog.get('h1')).toBeUndefined();
      expect(catalog.tokens.verify(token)).toBeUndefined();
      expect(catalog.tokens.size).toBe(0);
      expect(await catalog.register('h1', {}, '')).toMatchObject({ labels: {}, description: '' });
      expect(catalog.listTokens('h1')).toEqual([]);
      const again = await reopen();
      expect(again.get('h1')?.description).toBe('');
      expect(again.tokens.verify(token)).toBeUndefined();
    });

    test('--max-hives: RegisterHive beyond it is limit_exceeded naming the flag; a new hive cannot join by heartbeat', async () => {
      const catalog = await open('open', 2);
      await catalog.register('h1', {}, '');
      await catalog.register('h2', {}, '');
      const error = await rejection(catalog.register('h3', {}, ''));
      expect([error.reason, error.message]).toEqual([
        'limit_exceeded',
        'hive_id: the catalog holds its maximum of 2 hives (--max-hives); deregister one first',
      ]);
      expect(catalog.refusal('h3')).toEqual({
        reason: 'catalog_full',
        message: 'hive_id: the catalog holds its maximum of 2 hives (--max-hives); hive "h3" cannot join until an operator deregisters one',
      });
      expect(catalog.refusal('h1')).toBeUndefined();
      await catalog.deregister('h2');
      expect(catalog.refusal('h3')).toBeUndefined();
    });

    test('registration: open admits any hive and adds it on its first heartbeat; required admits only registered ones', async () => {
      const open_ = await open('open');
      expect(open_.registration).toBe('open');
      expect(open_.refusal('h1')).toBeUndefined();
      open_.seen('h1', START_MS + 10, PEER);
      expect(open_.get('h1')).toStrictEqual({
        hiveId: 'h1',
        labels: {},
        description: '',
        createdAtMs: START_MS + 10,
        updatedAtMs: START_MS + 10,
        lastSeenMs: START_MS + 10,
        lastPeer: PEER,
        cordoned: false,
      });

      const required = await open('required');
      expect(required.refusal('h1')).toEqual({
        reason: 'not_registered',
        message: 'hive_id: hive "h1" is not registered in the catalog, and this queen admits only registered hives (--registration required)',
      });
      required.seen('h1', START_MS, PEER);
      expect(required.get('h1')).toBeUndefined();
      expect(required.pendingWrites).toBe(0);
      await required.register('h1', {}, '');
      expect(required.refusal('h1')).toBeUndefined();
    });

    test('heartbeats stay in memory until flush, which writes last_seen and last_peer (read back after a reopen)', async () => {
      const catalog = await open();
      await catalog.register('h1', { zone: 'eu' }, '');
      const writes = catalog.writeTransactions;
      catalog.seen('h1', START_MS + 1_000, PEER);
      catalog.seen('h2', START_MS + 1_500, OTHER_PEER); // joins by heartbeat
      catalog.seen('h1', START_MS + 2_000, OTHER_PEER);
      catalog.seen('h1', START_MS + 1_800, OTHER_PEER); // a wall clock stepped back: last_seen never goes back
      expect(catalog.get('h1')).toMatchObject({ lastSeenMs: START_MS + 2_000, lastPeer: OTHER_PEER });
      expect(catalog.writeTransactions).toBe(writes);
      expect(catalog.pendingWrites).toBe(2);
      expect((await reopen()).get('h1')?.lastSeenMs).toBeUndefined();

      catalog.streamEnded('h1');
      catalog.streamEnded('h2');
      expect(await catalog.flush()).toBe(2);
      expect(catalog.pendingWrites).toBe(0);
      expect(await catalog.flush()).toBe(0);
      const again = await reopen();
      expect(again.get('h1')).toMatchObject({ labels: { zone: 'eu' }, lastSeenMs: START_MS + 2_000, lastPeer: OTHER_PEER });
      expect(again.get('h2')).toMatchObject({ createdAtMs: START_MS + 1_500, lastSeenMs: START_MS + 1_500, lastPeer: OTHER_PEER });
    });

    test("an operator write to a hive changed by heartbeats carries its last_seen, so the flush has nothing left for it", async () => {
      const catalog = await open();
      catalog.seen('h1', START_MS + 1_000, PEER);
      catalog.seen('h2', START_MS + 1_000, PEER);
      expect(catalog.pendingWrites).toBe(2);
      const updated = await catalog.update('h1', { labels: { zone: 'eu' } });
      expect(updated).toMatchObject({ lastSeenMs: START_MS + 1_000, lastPeer: PEER, labels: { zone: 'eu' } });
      expect(catalog.pendingWrites).toBe(1);
      expect((await reopen()).get('h1')).toMatchObject({ lastSeenMs: START_MS + 1_000, labels: { zone: 'eu' } });
      await catalog.issueToken('h2'); // a hive that joined by heartbeat is written with its first token
      expect((await reopen()).get('h2')?.createdAtMs).toBe(START_MS + 1_000);
    });

    test("a token's last use is noted in memory and written by flush", async () => {
      const catalog = await open();
      await catalog.register('h1', {}, '');
      const { tokenId } = await catalog.issueToken('h1');
      expect(catalog.listTokens('h1')[0]?.lastUsedAtMs).toBeUndefined();
      catalog.tokens.used(tokenId, START_MS + 3_000);
      expect(catalog.listTokens('h1')[0]?.lastUsedAtMs).toBe(START_MS + 3_000);
      expect(catalog.pendingWrites).toBe(1);
      expect(await catalog.flush()).toBe(1);
      expect((await reopen()).listTokens('h1')[0]?.lastUsedAtMs).toBe(START_MS + 3_000);
    });
  });
}
