import { join } from 'node:path';
import { CatalogStore, IN_MEMORY } from '../../src/catalog/catalog-store';
import { HiveCatalog } from '../../src/catalog/hive-catalog';
import type { CatalogRecord, RegistrationMode } from '../../src/catalog/types';
import { DomainError } from '../../src/common/domain-error';
import {
  holdWriteLock,
  makeTempDir,
  readHiveRows,
  removeTempDir,
  type WriteLock,
} from '../helpers/catalog-fixtures';

const START_MS = 1_700_000_000_000;
const PEER = 'ipv4:10.0.0.7:50123';

/** A wall clock the test sets by hand. */
class FakeWall {
  constructor(public ms = START_MS) {}
  readonly now = (): number => this.ms;
  advance(ms: number): number {
    this.ms += ms;
    return this.ms;
  }
}

let dir: string | undefined;
let lock: WriteLock | undefined;
const catalogs: HiveCatalog[] = [];

function dbPath(): string {
  dir ??= makeTempDir();
  return join(dir, 'catalog.db');
}

/** A catalog over `path` (default: in memory) that afterEach closes. */
function openCatalog(
  registration: RegistrationMode = 'open',
  path: string = IN_MEMORY,
  wall = new FakeWall(),
): { catalog: HiveCatalog; wall: FakeWall } {
  const catalog = new HiveCatalog(CatalogStore.open(path, wall.now()), wall.now, registration);
  catalogs.push(catalog);
  return { catalog, wall };
}

/** A second catalog over `path`, with a fresh store: what a restarted queen would load. */
function reopened(path: string): HiveCatalog {
  return openCatalog('open', path).catalog;
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function domainError(fn: () => unknown): DomainError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

afterEach(() => {
  lock?.release();
  lock = undefined;
  for (const catalog of catalogs.splice(0)) catalog.close();
  removeTempDir(dir);
  dir = undefined;
});

describe('HiveCatalog operator writes', () => {
  test('register returns the new record, keeps it in memory and commits it', () => {
    const { catalog, wall } = openCatalog();
    const record = catalog.register('h1', { zone: 'eu', gpu: 'a100' }, 'rack 4');
    const expected: CatalogRecord = {
      hiveId: 'h1',
      labels: { gpu: 'a100', zone: 'eu' },
      description: 'rack 4',
      createdAtMs: wall.ms,
      updatedAtMs: wall.ms,
      lastPeer: '',
      cordoned: false,
    };
    expect(record).toStrictEqual(expected);
    expect(Object.keys(record.labels)).toEqual(['gpu', 'zone']);
    expect(Object.isFrozen(record.labels)).toBe(true);
    expect(catalog.get('h1')).toStrictEqual(expected);
    expect(catalog.size).toBe(1);
    expect(catalog.writeTransactions).toBe(1);
    expect(catalog.pendingWrites).toBe(0);
  });

  test('register of a present hive: already_exists, nothing changed, nothing written', () => {
    const { catalog, wall } = openCatalog();
    const first = catalog.register('h1', { zone: 'eu' }, 'first');
    wall.advance(1_000);
    const error = domainError(() => catalog.register('h1', {}, 'second'));
    expect(error.reason).toBe('already_exists');
    expect(error.message).toBe('hive_id: hive "h1" is already in the catalog');
    expect(catalog.get('h1')).toStrictEqual(first);
    expect(catalog.writeTransactions).toBe(1);
  });

  test('register of a hive that joined by heartbeat (open registration): already_exists', () => {
    const { catalog } = openCatalog('open');
    catalog.seen('h1', START_MS, PEER);
    const error = domainError(() => catalog.register('h1', {}, ''));
    expect(error.reason).toBe('already_exists');
    expect(catalog.writeTransactions).toBe(0);
    expect(catalog.pendingWrites).toBe(1);
  });

  test('get of an unknown hive is undefined', () => {
    const { catalog } = openCatalog();
    catalog.register('h1', {}, '');
    expect(catalog.get('h2')).toBeUndefined();
  });

  test('list is sorted by hive id and filtered by selector', () => {
    const { catalog } = openCatalog();
    catalog.register('hive-c', { zone: 'eu', gpu: 'a100' }, '');
    catalog.register('hive-a', { zone: 'eu', gpu: 'h100' }, '');
    catalog.register('hive-B', { zone: 'us', gpu: 'a100' }, '');
    catalog.register('hive-b', {}, '');
    const ids = (selector?: Record<string, string>): string[] => catalog.list(selector).map((r) => r.hiveId);

    expect(ids()).toEqual(['hive-B', 'hive-a', 'hive-b', 'hive-c']);
    expect(ids({})).toEqual(['hive-B', 'hive-a', 'hive-b', 'hive-c']);
    expect(ids({ zone: 'eu' })).toEqual(['hive-a', 'hive-c']);
    expect(ids({ gpu: 'a100' })).toEqual(['hive-B', 'hive-c']);
    expect(ids({ zone: 'eu', gpu: 'a100' })).toEqual(['hive-c']);
    expect(ids({ zone: 'ap' })).toEqual([]);
    expect(ids({ constructor: '' })).toEqual([]);
  });

  test('list follows additions and removals (register, heartbeat join, deregister)', () => {
    const { catalog } = openCatalog('open');
    catalog.register('m', {}, '');
    expect(catalog.list().map((r) => r.hiveId)).toEqual(['m']);
    catalog.register('a', {}, '');
    catalog.seen('z', START_MS, PEER);
    expect(catalog.list().map((r) => r.hiveId)).toEqual(['a', 'm', 'z']);
    catalog.deregister('m');
    expect(catalog.list().map((r) => r.hiveId)).toEqual(['a', 'z']);
    catalog.update('a', { labels: { zone: 'eu' } });
    expect(catalog.list({ zone: 'eu' }).map((r) => r.hiveId)).toEqual(['a']);
  });

  test('update with labels replaces the whole map and keeps the description', () => {
    const { catalog } = openCatalog();
    catalog.register('h1', { a: '1', b: '2' }, 'desc');
    const updated = catalog.update('h1', { labels: { d: '4', c: '3' } });
    expect(updated.labels).toEqual({ c: '3', d: '4' });
    expect(Object.keys(updated.labels)).toEqual(['c', 'd']);
    expect(Object.isFrozen(updated.labels)).toBe(true);
    expect(updated.description).toBe('desc');
    expect(catalog.get('h1')).toStrictEqual(updated);
  });

  test('update with a description only keeps the labels; an empty one clears it', () => {
    const { catalog } = openCatalog();
    catalog.register('h1', { zone: 'eu' }, 'old');
    expect(catalog.update('h1', { description: 'new' })).toMatchObject({ labels: { zone: 'eu' }, description: 'new' });
    expect(catalog.update('h1', { description: '' })).toMatchObject({ labels: { zone: 'eu' }, description: '' });
    expect(catalog.update('h1', { labels: {} })).toMatchObject({ labels: {}, description: '' });
  });

  test('update moves updatedAtMs (never back), not createdAtMs, and commits', () => {
    const { catalog, wall } = openCatalog();
    catalog.register('h1', {}, '');
    const later = wall.advance(5_000);
    const updated = catalog.update('h1', { description: 'x' });
    expect([updated.createdAtMs, updated.updatedAtMs]).toEqual([START_MS, later]);
    wall.ms = START_MS - 60_000; // the wall clock stepped back
    const again = catalog.update('h1', { description: 'y' });
    expect([again.createdAtMs, again.updatedAtMs]).toEqual([START_MS, later]);
    expect(catalog.writeTransactions).toBe(3);
  });

  test('update of an unknown hive: not_found, nothing written', () => {
    const { catalog } = openCatalog();
    const error = domainError(() => catalog.update('nope', { description: 'x' }));
    expect(error.reason).toBe('not_found');
    expect(error.message).toBe('hive_id: no hive "nope" in the catalog');
    expect(catalog.size).toBe(0);
    expect(catalog.writeTransactions).toBe(0);
  });

  test('deregister returns true then false, and removes the hive from memory and disk', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.register('h1', {}, '');
    catalog.register('h2', {}, '');
    expect(catalog.deregister('h1')).toBe(true);
    expect(catalog.writeTransactions).toBe(3);
    expect(catalog.deregister('h1')).toBe(false);
    expect(catalog.deregister('never')).toBe(false);
    expect(catalog.writeTransactions).toBe(3);
    expect(catalog.get('h1')).toBeUndefined();
    expect(catalog.size).toBe(1);
    expect(readHiveRows(path).map((r) => r.hive_id)).toEqual(['h2']);
  });

  test('deregister drops the hive\'s pending heartbeat change: the next flush does not write it back', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.register('h1', {}, '');
    catalog.register('h2', {}, '');
    catalog.seen('h1', START_MS + 1, PEER);
    catalog.seen('h2', START_MS + 2, PEER);
    expect(catalog.pendingWrites).toBe(2);

    expect(catalog.deregister('h1')).toBe(true);
    expect(catalog.pendingWrites).toBe(1);
    expect(catalog.flush()).toBe(1);
    catalog.close();

    expect(readHiveRows(path).map((r) => [r.hive_id, r.last_seen])).toEqual([['h2', START_MS + 2]]);
    expect(reopened(path).list().map((r) => r.hiveId)).toEqual(['h2']);
  });

  test('deregister of a hive that joined by heartbeat and has no row yet: true, and the flush writes nothing', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.seen('h1', START_MS, PEER);
    expect(catalog.deregister('h1')).toBe(true);
    const transactions = catalog.writeTransactions;
    expect(catalog.flush()).toBe(0);
    expect(catalog.writeTransactions).toBe(transactions);
    expect(readHiveRows(path)).toEqual([]);
  });
});

describe('HiveCatalog cordon', () => {
  test('setCordoned(true) then (false): returns the record, keeps labels and description, moves updatedAtMs, commits each', () => {
    const { catalog, wall } = openCatalog();
    catalog.register('h1', { zone: 'eu' }, 'rack 4');
    const cordonedAt = wall.advance(2_000);
    const cordoned = catalog.setCordoned('h1', true);
    const expected: CatalogRecord = {
      hiveId: 'h1',
      labels: { zone: 'eu' },
      description: 'rack 4',
      createdAtMs: START_MS,
      updatedAtMs: cordonedAt,
      lastPeer: '',
      cordoned: true,
    };
    expect(cordoned).toStrictEqual(expected);
    expect(catalog.get('h1')).toStrictEqual(expected);
    expect(catalog.writeTransactions).toBe(2);

    const uncordonedAt = wall.advance(3_000);
    const uncordoned = catalog.setCordoned('h1', false);
    expect(uncordoned).toStrictEqual({ ...expected, updatedAtMs: uncordonedAt, cordoned: false });
    expect(catalog.get('h1')).toStrictEqual(uncordoned);
    expect(catalog.writeTransactions).toBe(3);
  });

  test('asking for the state the hive is already in returns it unchanged and writes nothing', () => {
    const { catalog, wall } = openCatalog();
    catalog.register('h1', {}, '');
    wall.advance(1_000);
    const cordoned = catalog.setCordoned('h1', true);
    expect(catalog.writeTransactions).toBe(2);
    wall.advance(1_000);
    expect(catalog.setCordoned('h1', true)).toBe(cordoned);
    expect(catalog.get('h1')).toBe(cordoned);
    expect(catalog.writeTransactions).toBe(2);

    catalog.register('h2', {}, '');
    const h2 = catalog.get('h2');
    expect(catalog.setCordoned('h2', false)).toBe(h2);
    expect(catalog.writeTransactions).toBe(3);
  });

  test('updatedAtMs never goes back when the wall clock steps back', () => {
    const { catalog, wall } = openCatalog();
    catalog.register('h1', {}, '');
    wall.ms = START_MS - 60_000;
    expect(catalog.setCordoned('h1', true).updatedAtMs).toBe(START_MS);
  });

  test('an unknown hive: not_found naming it, nothing written', () => {
    const { catalog } = openCatalog();
    for (const cordoned of [true, false]) {
      const error = domainError(() => catalog.setCordoned('nope', cordoned));
      expect(error.reason).toBe('not_found');
      expect(error.message).toBe('hive_id: no hive "nope" in the catalog');
    }
    expect(catalog.size).toBe(0);
    expect(catalog.writeTransactions).toBe(0);
  });

  test('a hive that joined by heartbeat: cordon inserts its row, heartbeat fields included, and nothing is left pending', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.seen('h1', START_MS + 3, PEER);
    catalog.setCordoned('h1', true);
    expect(catalog.pendingWrites).toBe(0);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.cordoned, r.last_seen, r.last_peer])).toEqual([
      ['h1', 1, START_MS + 3, PEER],
    ]);
  });

  test('a heartbeat after a cordon keeps the hive cordoned, and the flush writes it so', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.register('h1', {}, '');
    catalog.setCordoned('h1', true);
    catalog.seen('h1', START_MS + 9, PEER);
    expect(catalog.get('h1')).toMatchObject({ cordoned: true, lastSeenMs: START_MS + 9 });
    expect(catalog.flush()).toBe(1);
    expect(readHiveRows(path).map((r) => [r.cordoned, r.last_seen])).toEqual([[1, START_MS + 9]]);
  });

  test('deregister and register again: the new record is not cordoned', () => {
    const { catalog } = openCatalog();
    catalog.register('h1', {}, '');
    catalog.setCordoned('h1', true);
    catalog.deregister('h1');
    expect(catalog.register('h1', {}, '').cordoned).toBe(false);
  });
});

describe('HiveCatalog heartbeats', () => {
  test('seen never writes: 1,000 calls over 200 hives, then one flush writes all 200 in one transaction', () => {
    const { catalog } = openCatalog('required');
    for (let i = 0; i < 200; i += 1) catalog.register(`h${String(i).padStart(3, '0')}`, {}, '');
    expect(catalog.writeTransactions).toBe(200);

    for (let i = 0; i < 1_000; i += 1) catalog.seen(`h${String(i % 200).padStart(3, '0')}`, START_MS + i, PEER);
    expect(catalog.writeTransactions).toBe(200);
    expect(catalog.pendingWrites).toBe(200);

    expect(catalog.flush()).toBe(200);
    expect(catalog.writeTransactions).toBe(201);
    expect(catalog.pendingWrites).toBe(0);

    expect(catalog.flush()).toBe(0);
    expect(catalog.writeTransactions).toBe(201);
  });

  test('a flush writes each hive\'s latest last_seen and peer', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    for (let i = 0; i < 30; i += 1) catalog.seen(`h${i % 3}`, START_MS + i, `ipv4:10.0.0.${i}:1`);
    expect(catalog.pendingWrites).toBe(3);
    expect(catalog.flush()).toBe(3);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.last_seen, r.last_peer])).toEqual([
      ['h0', START_MS + 27, 'ipv4:10.0.0.27:1'],
      ['h1', START_MS + 28, 'ipv4:10.0.0.28:1'],
      ['h2', START_MS + 29, 'ipv4:10.0.0.29:1'],
    ]);
  });

  test('pendingWrites counts distinct hives', () => {
    const { catalog } = openCatalog('open');
    catalog.seen('h1', START_MS, PEER);
    catalog.seen('h1', START_MS + 1, PEER);
    catalog.seen('h1', START_MS + 2, PEER);
    catalog.seen('h2', START_MS, PEER);
    expect(catalog.pendingWrites).toBe(2);
  });

  test('a heartbeat that changes nothing (same time, same peer) leaves nothing pending; a new peer alone does', () => {
    const { catalog } = openCatalog('open');
    catalog.seen('h1', START_MS, PEER);
    catalog.flush();
    catalog.seen('h1', START_MS, PEER);
    expect(catalog.pendingWrites).toBe(0);
    catalog.seen('h1', START_MS, 'ipv4:10.0.0.8:1');
    expect(catalog.pendingWrites).toBe(1);
    expect(catalog.get('h1')?.lastPeer).toBe('ipv4:10.0.0.8:1');
  });

  test('last_seen never goes back when the wall clock steps back (the peer still updates)', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.seen('h1', START_MS + 5_000, PEER);
    catalog.seen('h1', START_MS + 1_000, 'ipv4:10.0.0.9:2');
    expect(catalog.get('h1')).toMatchObject({ lastSeenMs: START_MS + 5_000, lastPeer: 'ipv4:10.0.0.9:2' });
    catalog.flush();
    catalog.seen('h1', START_MS, 'ipv4:10.0.0.9:2');
    expect(catalog.pendingWrites).toBe(0);
    expect(readHiveRows(path).map((r) => r.last_seen)).toEqual([START_MS + 5_000]);
  });

  test('a registered, never-seen hive takes the first heartbeat time, whatever its created time', () => {
    const { catalog, wall } = openCatalog('required');
    catalog.register('h1', {}, '');
    catalog.seen('h1', wall.ms - 10_000, PEER);
    expect(catalog.get('h1')).toMatchObject({ createdAtMs: wall.ms, lastSeenMs: wall.ms - 10_000, lastPeer: PEER });
  });

  test('open registration: an unknown hive joins on its first heartbeat, and the flush inserts it', () => {
    const path = dbPath();
    const { catalog, wall } = openCatalog('open', path);
    const seenAt = wall.advance(123);
    wall.advance(10_000); // the record takes the heartbeat's time, not the catalog's clock
    catalog.seen('h1', seenAt, PEER);
    const expected: CatalogRecord = {
      hiveId: 'h1',
      labels: {},
      description: '',
      createdAtMs: seenAt,
      updatedAtMs: seenAt,
      lastSeenMs: seenAt,
      lastPeer: PEER,
      cordoned: false,
    };
    expect(catalog.get('h1')).toStrictEqual(expected);
    expect(catalog.size).toBe(1);
    expect(catalog.writeTransactions).toBe(0);
    expect(readHiveRows(path)).toEqual([]);

    expect(catalog.flush()).toBe(1);
    expect(catalog.writeTransactions).toBe(1);
    catalog.close();
    expect(reopened(path).get('h1')).toStrictEqual(expected);
  });

  test('required registration: an unknown hive is refused by name, and its heartbeats are ignored', () => {
    const { catalog } = openCatalog('required');
    expect(catalog.registration).toBe('required');
    const refusal = catalog.refusal('ghost');
    expect(refusal).toEqual({
      reason: 'not_registered',
      message:
        'hive_id: hive "ghost" is not registered in the catalog, and this queen admits only registered hives (--registration required)',
    });

    catalog.seen('ghost', START_MS, PEER);
    expect(catalog.get('ghost')).toBeUndefined();
    expect(catalog.size).toBe(0);
    expect(catalog.pendingWrites).toBe(0);
    expect(catalog.flush()).toBe(0);
    expect(catalog.writeTransactions).toBe(0);
  });

  test('required registration: a registered hive is admitted and its heartbeats are kept', () => {
    const { catalog } = openCatalog('required');
    catalog.register('h1', {}, '');
    expect(catalog.refusal('h1')).toBeUndefined();
    catalog.seen('h1', START_MS + 1, PEER);
    expect(catalog.pendingWrites).toBe(1);
    expect(catalog.get('h1')?.lastSeenMs).toBe(START_MS + 1);
  });

  test('required registration: a deregistered hive is refused again and its later heartbeats are ignored', () => {
    const { catalog } = openCatalog('required');
    catalog.register('h1', {}, '');
    catalog.deregister('h1');
    expect(catalog.refusal('h1')?.message).toContain('"h1" is not registered');
    catalog.seen('h1', START_MS, PEER);
    expect(catalog.size).toBe(0);
  });

  test.each<[string, boolean]>([
    ['an unknown hive', false],
    ['a registered hive', true],
  ])('open registration never refuses %s', (_name, registered) => {
    const { catalog } = openCatalog('open');
    expect(catalog.registration).toBe('open');
    if (registered) catalog.register('h1', {}, '');
    expect(catalog.refusal('h1')).toBeUndefined();
  });

  test('an operator write on a hive with a pending heartbeat change writes its latest last_seen too', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.register('h1', {}, '');
    catalog.register('h2', {}, '');
    catalog.seen('h1', START_MS + 7, PEER);
    catalog.seen('h2', START_MS + 8, PEER);
    expect(catalog.pendingWrites).toBe(2);

    catalog.update('h1', { description: 'now described' });
    expect(catalog.pendingWrites).toBe(1);
    expect(catalog.writeTransactions).toBe(3);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.description, r.last_seen, r.last_peer])).toEqual([
      ['h1', 'now described', START_MS + 7, PEER],
      ['h2', '', null, ''],
    ]);
    expect(catalog.flush()).toBe(1);
  });

  test('an operator write on a hive that joined by heartbeat inserts its row, heartbeat fields included', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.seen('h1', START_MS + 3, PEER);
    catalog.update('h1', { labels: { zone: 'eu' } });
    expect(catalog.pendingWrites).toBe(0);
    expect(catalog.flush()).toBe(0);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.labels, r.created_at, r.last_seen, r.last_peer])).toEqual([
      ['h1', '{"zone":"eu"}', START_MS + 3, START_MS + 3, PEER],
    ]);
  });
});

describe('HiveCatalog while the disk refuses writes', () => {
  test('a failing flush throws unavailable and keeps everything pending; the next one writes it all in one transaction', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    catalog.register('h1', {}, '');
    catalog.seen('h1', START_MS + 1, PEER);
    catalog.seen('h2', START_MS + 2, PEER); // joins
    const transactions = catalog.writeTransactions;
    lock = holdWriteLock(path);

    const error = domainError(() => catalog.flush());
    expect(error.reason).toBe('unavailable');
    expect(error.message).toContain('SQLITE_BUSY');
    expect(catalog.pendingWrites).toBe(2);
    expect(catalog.writeTransactions).toBe(transactions);

    catalog.seen('h3', START_MS + 3, PEER); // heartbeats go on meanwhile
    catalog.seen('h1', START_MS + 4, PEER);
    expect(catalog.pendingWrites).toBe(3);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.last_seen])).toEqual([['h1', null]]);

    lock.release();
    expect(catalog.flush()).toBe(3);
    expect(catalog.writeTransactions).toBe(transactions + 1);
    expect(catalog.pendingWrites).toBe(0);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.last_seen])).toEqual([
      ['h1', START_MS + 4],
      ['h2', START_MS + 2],
      ['h3', START_MS + 3],
    ]);
  });

  test('failing operator writes throw unavailable and change nothing in memory', () => {
    const path = dbPath();
    const { catalog } = openCatalog('open', path);
    const h1 = catalog.register('h1', { zone: 'eu' }, 'kept');
    catalog.seen('h1', START_MS + 1, PEER);
    const pending = catalog.get('h1');
    lock = holdWriteLock(path);

    expect(domainError(() => catalog.register('h2', {}, '')).reason).toBe('unavailable');
    expect(catalog.get('h2')).toBeUndefined();
    expect(catalog.list().map((r) => r.hiveId)).toEqual(['h1']);

    expect(domainError(() => catalog.update('h1', { description: 'lost' })).reason).toBe('unavailable');
    expect(catalog.get('h1')).toStrictEqual(pending);
    expect(pending).toMatchObject({ description: h1.description, labels: h1.labels });

    expect(domainError(() => catalog.deregister('h1')).reason).toBe('unavailable');
    expect(catalog.get('h1')).toStrictEqual(pending);
    expect(catalog.pendingWrites).toBe(1);
    expect(catalog.writeTransactions).toBe(1);
  });

  test('a failing cordon or uncordon throws unavailable and changes nothing, in memory or on disk', () => {
    const path = dbPath();
    const { catalog, wall } = openCatalog('open', path);
    catalog.register('h1', {}, '');
    catalog.register('h2', {}, '');
    const cordoned = catalog.setCordoned('h2', true);
    const h1 = catalog.get('h1');
    const transactions = catalog.writeTransactions;
    wall.advance(1_000);
    lock = holdWriteLock(path);

    const error = domainError(() => catalog.setCordoned('h1', true));
    expect(error.reason).toBe('unavailable');
    expect(error.message).toContain('SQLITE_BUSY');
    expect(catalog.get('h1')).toBe(h1);
    expect(domainError(() => catalog.setCordoned('h2', false)).reason).toBe('unavailable');
    expect(catalog.get('h2')).toBe(cordoned);
    expect(catalog.writeTransactions).toBe(transactions);
    expect(catalog.pendingWrites).toBe(0);

    lock.release();
    expect(readHiveRows(path).map((r) => [r.hive_id, r.cordoned, r.updated_at])).toEqual([
      ['h1', 0, START_MS],
      ['h2', 1, START_MS],
    ]);
    // Once the disk takes writes again, the same call succeeds.
    expect(catalog.setCordoned('h1', true).cordoned).toBe(true);
    expect(catalog.writeTransactions).toBe(transactions + 1);
  });
});

describe('HiveCatalog across a restart', () => {
  test('every field survives close and reopen', () => {
    const path = dbPath();
    const wall = new FakeWall();
    const { catalog } = openCatalog('required', path, wall);
    catalog.register('h1', { zone: 'eu', gpu: 'a100' }, 'rack 4\tslot 2');
    const updatedAt = wall.advance(2_000);
    catalog.update('h1', { description: 'rack 5' });
    catalog.seen('h1', wall.advance(500), PEER);
    catalog.register('h2', {}, ''); // never seen
    expect(catalog.flush()).toBe(1);
    catalog.close();

    const again = reopened(path);
    expect(again.size).toBe(2);
    expect(again.pendingWrites).toBe(0);
    expect(again.list()).toStrictEqual([
      {
        hiveId: 'h1',
        labels: { gpu: 'a100', zone: 'eu' },
        description: 'rack 5',
        createdAtMs: START_MS,
        updatedAtMs: updatedAt,
        lastSeenMs: updatedAt + 500,
        lastPeer: PEER,
        cordoned: false,
      },
      {
        hiveId: 'h2',
        labels: {},
        description: '',
        createdAtMs: updatedAt + 500,
        updatedAtMs: updatedAt + 500,
        lastPeer: '',
        cordoned: false,
      },
    ]);
    expect(Object.keys(again.get('h1')?.labels ?? {})).toEqual(['gpu', 'zone']);
    expect(again.path).toBe(path);
  });

  test('a cordon survives close and reopen, and so does an uncordon', () => {
    const path = dbPath();
    const wall = new FakeWall();
    const { catalog } = openCatalog('open', path, wall);
    catalog.register('h1', { zone: 'eu' }, 'rack 4');
    catalog.register('h2', {}, '');
    const cordonedAt = wall.advance(1_000);
    catalog.setCordoned('h1', true);
    catalog.setCordoned('h2', true);
    const uncordonedAt = wall.advance(1_000);
    catalog.setCordoned('h2', false);
    // No flush: operator writes are on disk already.
    catalog.close();

    const again = reopened(path);
    expect(again.get('h1')).toStrictEqual({
      hiveId: 'h1',
      labels: { zone: 'eu' },
      description: 'rack 4',
      createdAtMs: START_MS,
      updatedAtMs: cordonedAt,
      lastPeer: '',
      cordoned: true,
    });
    expect(again.get('h2')).toMatchObject({ cordoned: false, updatedAtMs: uncordonedAt });
  });
});
