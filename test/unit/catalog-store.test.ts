import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CatalogOpenError, CatalogStore, IN_MEMORY } from '../../src/catalog/catalog-store';
import { normalizeLabels } from '../../src/catalog/labels';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/catalog/migrations';
import type { CatalogRecord } from '../../src/catalog/types';
import { DomainError } from '../../src/common/domain-error';
import {
  holdWriteLock,
  makeRecord,
  makeTempDir,
  readHiveRows,
  removeTempDir,
  tableNames,
  withRawDb,
  type WriteLock,
} from '../helpers/catalog-fixtures';
import { seededRandom } from '../helpers/seeded-random';

const HIVE_APPLICATION_ID = 0x48495645; // "HIVE"
const OPENED_AT_MS = 1_700_000_000_000;

let dir: string | undefined;
let lock: WriteLock | undefined;
const stores: CatalogStore[] = [];

function tempDir(): string {
  dir ??= makeTempDir();
  return dir;
}

/** Opens a store that afterEach closes. */
function open(path: string, nowWallMs = OPENED_AT_MS): CatalogStore {
  const store = CatalogStore.open(path, nowWallMs);
  stores.push(store);
  return store;
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The CatalogOpenError `fn` throws (fails the test if it throws anything else, or nothing). */
function openError(fn: () => unknown): CatalogOpenError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(CatalogOpenError);
  return error as CatalogOpenError;
}

/** The DomainError `fn` throws (fails the test if it throws anything else, or nothing). */
function domainError(fn: () => unknown): DomainError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

function byId(records: readonly CatalogRecord[]): CatalogRecord[] {
  return [...records].sort((a, b) => (a.hiveId < b.hiveId ? -1 : a.hiveId > b.hiveId ? 1 : 0));
}

function migrationRows(path: string): { version: number; applied_at: number }[] {
  return withRawDb(
    path,
    (db) => db.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all() as { version: number; applied_at: number }[],
  );
}

/** A SQLite file made by "another application": one table with one row, default application_id. */
function writeForeignDb(path: string, applicationId = 0): void {
  withRawDb(path, (db) => {
    db.exec("CREATE TABLE notes (body TEXT NOT NULL); INSERT INTO notes VALUES ('keep me')");
    if (applicationId !== 0) db.pragma(`application_id = ${applicationId}`);
  });
}

afterEach(() => {
  lock?.release();
  lock = undefined;
  for (const store of stores.splice(0)) store.close();
  removeTempDir(dir);
  dir = undefined;
});

describe('CatalogStore.open: a new file', () => {
  test('creates the file and every missing folder above it', () => {
    const path = join(tempDir(), 'a', 'b', 'c', 'catalog.db');
    const store = open(path);
    expect(store.path).toBe(path);
    expect(existsSync(path)).toBe(true);
    expect(store.loadAll()).toEqual([]);
    expect(store.writeTransactions).toBe(0);
  });

  test('records every migration 1..LATEST with the open time, and the full schema', () => {
    const path = join(tempDir(), 'catalog.db');
    open(path);
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
    expect(migrationRows(path)).toEqual(
      Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => ({ version: i + 1, applied_at: OPENED_AT_MS })),
    );
    expect(tableNames(path)).toEqual(['hive_tokens', 'hives', 'schema_migrations']);
  });

  test('sets application_id "HIVE", user_version LATEST and the WAL journal', () => {
    const path = join(tempDir(), 'catalog.db');
    open(path);
    const pragmas = withRawDb(path, (db) => ({
      applicationId: db.pragma('application_id', { simple: true }) as number,
      userVersion: db.pragma('user_version', { simple: true }) as number,
      journalMode: db.pragma('journal_mode', { simple: true }) as string,
    }));
    expect(pragmas).toEqual({ applicationId: HIVE_APPLICATION_ID, userVersion: LATEST_SCHEMA_VERSION, journalMode: 'wal' });
  });

  test('after close, the file header itself carries application_id "HIVE" (what file(1) reads)', () => {
    const path = join(tempDir(), 'catalog.db');
    open(path).close(); // the last close checkpoints the WAL into the main file
    // application_id is the big-endian u32 at offset 68 of the header.
    expect(readFileSync(path).readUInt32BE(68)).toBe(HIVE_APPLICATION_ID);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  test('initialises an empty (0-byte) file', () => {
    const path = join(tempDir(), 'empty.db');
    writeFileSync(path, '');
    const store = open(path);
    store.save(makeRecord('h1'));
    expect(store.loadAll().map((r) => r.hiveId)).toEqual(['h1']);
    expect(migrationRows(path).map((r) => r.version)).toEqual(Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1));
    expect(withRawDb(path, (db) => db.pragma('application_id', { simple: true }))).toBe(HIVE_APPLICATION_ID);
  });

  test(':memory: works and keeps nothing on disk', () => {
    const store = open(IN_MEMORY);
    expect(store.path).toBe(':memory:');
    store.save(makeRecord('h1', { description: 'in memory' }));
    expect(store.loadAll()).toStrictEqual([makeRecord('h1', { description: 'in memory' })]);
    expect(store.writeTransactions).toBe(1);
    expect(existsSync(':memory:')).toBe(false);
  });
});

describe('CatalogStore.open: an existing catalog', () => {
  test('reopening keeps every row and field, and applies no migration again', () => {
    const path = join(tempDir(), 'catalog.db');
    const records: CatalogRecord[] = [
      makeRecord('h1', {
        labels: normalizeLabels({ zone: 'eu', gpu: 'a100' }),
        description: 'rack 4\nslot 2',
        createdAtMs: 1_000,
        updatedAtMs: 2_000,
        lastSeenMs: 3_000,
        lastPeer: 'ipv4:10.0.0.7:50123',
        cordoned: true,
      }),
      makeRecord('h2'),
    ];
    const first = CatalogStore.open(path, OPENED_AT_MS);
    first.saveAll(records);
    first.close();

    const second = open(path, OPENED_AT_MS + 60_000);
    const loaded = byId(second.loadAll());
    expect(loaded).toStrictEqual(records);
    expect(Object.keys(loaded[0]?.labels ?? {})).toEqual(['gpu', 'zone']);
    expect(Object.isFrozen(loaded[0]?.labels)).toBe(true);
    expect('lastSeenMs' in (loaded[1] ?? {})).toBe(false);
    expect(migrationRows(path)).toEqual(
      Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => ({ version: i + 1, applied_at: OPENED_AT_MS })),
    );
    expect(second.writeTransactions).toBe(0);
  });

  test('refuses a catalog written by a newer hive-registry, naming the path and both versions, and changes nothing', () => {
    const path = join(tempDir(), 'catalog.db');
    const first = CatalogStore.open(path, OPENED_AT_MS);
    first.save(makeRecord('h1'));
    first.close();
    const newer = LATEST_SCHEMA_VERSION + 1;
    withRawDb(path, (db) => {
      db.exec('CREATE TABLE future_things (x INTEGER) STRICT');
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(newer, 42);
    });
    const tablesBefore = tableNames(path);
    const migrationsBefore = migrationRows(path);

    const error = openError(() => CatalogStore.open(path, OPENED_AT_MS + 1));
    expect(error.path).toBe(path);
    expect(error.message).toBe(
      `catalog database ${JSON.stringify(path)}: has schema version ${newer}, newer than this hive-registry knows (${LATEST_SCHEMA_VERSION}); run a newer hive-registry or point --db elsewhere`,
    );
    expect(tableNames(path)).toEqual(tablesBefore);
    expect(tablesBefore).toEqual(['future_things', 'hive_tokens', 'hives', 'schema_migrations']);
    expect(migrationRows(path)).toEqual(migrationsBefore);
    expect(readHiveRows(path).map((r) => r.hive_id)).toEqual(['h1']);
  });

  test('runs the migrations in one transaction: a failing one leaves no earlier one applied', () => {
    // Ours (application_id, empty schema_migrations) but with a table in the way of migration 1's second CREATE.
    const path = join(tempDir(), 'catalog.db');
    withRawDb(path, (db) => {
      db.exec(
        'CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT; CREATE TABLE hive_tokens (x TEXT)',
      );
      db.pragma(`application_id = ${HIVE_APPLICATION_ID}`);
    });

    const error = openError(() => CatalogStore.open(path, OPENED_AT_MS));
    expect(error.path).toBe(path);
    expect(error.message).toContain(JSON.stringify(path));
    expect(error.message).toContain('table hive_tokens already exists');
    // migration 1 created `hives` before it failed: rolled back with everything else.
    expect(tableNames(path)).toEqual(['hive_tokens', 'schema_migrations']);
    expect(migrationRows(path)).toEqual([]);
    expect(withRawDb(path, (db) => db.pragma('user_version', { simple: true }))).toBe(0);
  });
});

describe('CatalogStore.open: not a catalog', () => {
  test('a file of random bytes: "is not a SQLite database", naming the path, file untouched', () => {
    const path = join(tempDir(), 'random.db');
    const random = seededRandom(7);
    const bytes = Buffer.from(Array.from({ length: 8192 }, () => Math.floor(random() * 256)));
    writeFileSync(path, bytes);

    const error = openError(() => CatalogStore.open(path, OPENED_AT_MS));
    expect(error.path).toBe(path);
    expect(error.message).toBe(`catalog database ${JSON.stringify(path)}: is not a SQLite database`);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  test.each<[string, number, boolean]>([
    ['another application (a table, no application_id, no schema_migrations)', 0, false],
    ['another application that set its own application_id', 0x12345678, false],
    ['our application_id but no schema_migrations', HIVE_APPLICATION_ID, false],
    ['a schema_migrations table but another application_id', 0, true],
  ])('refuses %s and leaves its tables and rows alone', (_name, applicationId, withMigrationsTable) => {
    const path = join(tempDir(), 'other.db');
    writeForeignDb(path, applicationId);
    if (withMigrationsTable) {
      withRawDb(path, (db) => db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)'));
    }
    const tablesBefore = tableNames(path);

    const error = openError(() => CatalogStore.open(path, OPENED_AT_MS));
    expect(error.path).toBe(path);
    expect(error.message).toBe(
      `catalog database ${JSON.stringify(path)}: is a SQLite database, but not a hive-registry catalog`,
    );
    expect(tableNames(path)).toEqual(tablesBefore);
    expect(withRawDb(path, (db) => db.prepare('SELECT body FROM notes').all())).toEqual([{ body: 'keep me' }]);
    expect(withRawDb(path, (db) => db.pragma('application_id', { simple: true }))).toBe(applicationId);
  });

  // Refusing a file must not modify it: another application's database stays byte for byte what it was (today the
  // store switches it to WAL, which rewrites header bytes 18-19, before it checks whose file it is).
  test("refuses another application's database without changing a byte of it", () => {
    const path = join(tempDir(), 'other.db');
    writeForeignDb(path);
    const before = readFileSync(path);
    expect(withRawDb(path, (db) => db.pragma('journal_mode', { simple: true }))).toBe('delete');

    openError(() => CatalogStore.open(path, OPENED_AT_MS));
    expect(withRawDb(path, (db) => db.pragma('journal_mode', { simple: true }))).toBe('delete');
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test('a folder: cannot be opened, naming the path', () => {
    const path = join(tempDir(), 'a-folder');
    mkdirSync(path);
    const error = openError(() => CatalogStore.open(path, OPENED_AT_MS));
    expect(error.path).toBe(path);
    expect(error.message).toBe(
      `catalog database ${JSON.stringify(path)}: cannot be opened (is it a folder, or not writable?)`,
    );
  });

  test('a path under a regular file: cannot create its folder, naming the path, file untouched', () => {
    const file = join(tempDir(), 'plain.txt');
    writeFileSync(file, 'just text\n');
    const path = join(file, 'x.db');
    const error = openError(() => CatalogStore.open(path, OPENED_AT_MS));
    expect(error.path).toBe(path);
    expect(error.message.startsWith(`catalog database ${JSON.stringify(path)}: cannot create its folder (`)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('just text\n');
  });
});

describe('CatalogStore writes', () => {
  test('save inserts, then replaces the fields of the same row', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h1'));
    const changed = makeRecord('h1', {
      labels: normalizeLabels({ zone: 'eu' }),
      description: 'changed',
      updatedAtMs: 5_000,
      lastSeenMs: 6_000,
      lastPeer: 'ipv4:10.0.0.1:1',
      cordoned: true,
    });
    store.save(changed);
    expect(store.loadAll()).toStrictEqual([changed]);
    expect(store.writeTransactions).toBe(2);
    expect(readHiveRows(path)).toEqual([
      {
        hive_id: 'h1',
        labels: '{"zone":"eu"}',
        description: 'changed',
        created_at: 1_000,
        updated_at: 5_000,
        last_seen: 6_000,
        last_peer: 'ipv4:10.0.0.1:1',
        cordoned: 1,
      },
    ]);
  });

  test('a never-seen hive is stored with last_seen NULL and loads without lastSeenMs', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h1'));
    expect(readHiveRows(path)[0]?.last_seen).toBeNull();
    const [loaded] = store.loadAll();
    expect(loaded !== undefined && 'lastSeenMs' in loaded).toBe(false);
  });

  test('saveAll of N records is one transaction; of none, no transaction', () => {
    const store = open(IN_MEMORY);
    const records = Array.from({ length: 50 }, (_, i) => makeRecord(`h${String(i).padStart(2, '0')}`, { lastSeenMs: i }));
    store.saveAll(records);
    expect(store.writeTransactions).toBe(1);
    expect(byId(store.loadAll())).toStrictEqual(records);
    store.saveAll([]);
    expect(store.writeTransactions).toBe(1);
  });

  test('saveAll is all or nothing: a row the table refuses (STRICT INTEGER) undoes the rows before it', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h0', { description: 'before' }));
    const records = [
      makeRecord('h0', { description: 'overwritten?' }),
      makeRecord('h1'),
      makeRecord('h2'),
      makeRecord('h3', { lastSeenMs: 1.5 }), // not an integer: refused by the STRICT table
    ];
    const error = domainError(() => store.saveAll(records));
    expect(error.reason).toBe('unavailable');
    expect(error.message).toMatch(/^catalog: the write failed and changed nothing \(SQLITE_CONSTRAINT/);
    expect(store.writeTransactions).toBe(1);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.description])).toEqual([['h0', 'before']]);
  });

  test('delete returns whether the row existed, and removes it', () => {
    const store = open(IN_MEMORY);
    store.saveAll([makeRecord('h1'), makeRecord('h2')]);
    expect(store.delete('h1')).toBe(true);
    expect(store.delete('h1')).toBe(false);
    expect(store.delete('never')).toBe(false);
    expect(store.loadAll().map((r) => r.hiveId)).toEqual(['h2']);
    expect(store.writeTransactions).toBe(4);
  });

  test('delete removes the hive\'s tokens with it (ON DELETE CASCADE, foreign keys on)', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h1'));
    withRawDb(path, (db) =>
      db.prepare('INSERT INTO hive_tokens (token_id, hive_id, token_sha256, created_at) VALUES (?, ?, ?, ?)').run('t1', 'h1', Buffer.alloc(32, 1), 1),
    );
    expect(store.delete('h1')).toBe(true);
    expect(withRawDb(path, (db) => db.prepare('SELECT count(*) AS n FROM hive_tokens').get())).toEqual({ n: 0 });
  });
});

describe('CatalogStore writes while another connection holds the write lock', () => {
  test('save throws unavailable (SQLITE_BUSY), counts nothing, and succeeds once the lock is gone', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h1'));
    lock = holdWriteLock(path);

    const record = makeRecord('h2', { description: 'second' });
    const error = domainError(() => store.save(record));
    expect(error.reason).toBe('unavailable');
    expect(error.message).toContain('SQLITE_BUSY');
    expect(error.message).toMatch(/^catalog: the write failed and changed nothing \(SQLITE_BUSY: .*\); retry$/);
    expect(store.writeTransactions).toBe(1);
    expect(readHiveRows(path).map((r) => r.hive_id)).toEqual(['h1']);

    lock.release();
    store.save(record);
    expect(store.writeTransactions).toBe(2);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.description])).toEqual([
      ['h1', ''],
      ['h2', 'second'],
    ]);
  });

  test('saveAll writes none of its records, then all of them in one transaction', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    const records = Array.from({ length: 5 }, (_, i) => makeRecord(`h${i}`, { lastSeenMs: 100 + i }));
    lock = holdWriteLock(path);

    const error = domainError(() => store.saveAll(records));
    expect(error.reason).toBe('unavailable');
    expect(error.message).toContain('SQLITE_BUSY');
    expect(store.writeTransactions).toBe(0);
    expect(readHiveRows(path)).toEqual([]);

    lock.release();
    store.saveAll(records);
    expect(store.writeTransactions).toBe(1);
    expect(readHiveRows(path).map((r) => [r.hive_id, r.last_seen])).toEqual([
      ['h0', 100],
      ['h1', 101],
      ['h2', 102],
      ['h3', 103],
      ['h4', 104],
    ]);
  });

  test('delete throws unavailable and keeps the row', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h1'));
    lock = holdWriteLock(path);

    const error = domainError(() => store.delete('h1'));
    expect(error.reason).toBe('unavailable');
    expect(error.message).toContain('SQLITE_BUSY');
    expect(store.writeTransactions).toBe(1);
    expect(readHiveRows(path).map((r) => r.hive_id)).toEqual(['h1']);

    lock.release();
    expect(store.delete('h1')).toBe(true);
    expect(store.writeTransactions).toBe(2);
  });

  test('reads go on while the lock is held (WAL)', () => {
    const path = join(tempDir(), 'catalog.db');
    const store = open(path);
    store.save(makeRecord('h1'));
    lock = holdWriteLock(path);
    expect(store.loadAll().map((r) => r.hiveId)).toEqual(['h1']);
  });
});

describe('CatalogStore loading hand-edited rows', () => {
  function withLabelsColumn(labelsJson: string): CatalogRecord | undefined {
    const path = join(tempDir(), 'catalog.db');
    const first = CatalogStore.open(path, OPENED_AT_MS);
    first.save(makeRecord('h1', { description: 'kept', lastSeenMs: 9 }));
    first.close();
    withRawDb(path, (db) => db.prepare("UPDATE hives SET labels = ? WHERE hive_id = 'h1'").run(labelsJson));
    const loaded = open(path).loadAll();
    expect(loaded).toHaveLength(1);
    return loaded[0];
  }

  test.each<[string, string]>([
    ['not JSON at all', 'not json'],
    ['truncated JSON', '{"zone": "e'],
    ['an empty string', ''],
    ['JSON null', 'null'],
  ])('labels that are %s load as no labels, keeping the rest of the row', (_name, labelsJson) => {
    expect(withLabelsColumn(labelsJson)).toStrictEqual(makeRecord('h1', { description: 'kept', lastSeenMs: 9 }));
  });

  test('labels stored unsorted load sorted and frozen', () => {
    const loaded = withLabelsColumn('{"zone":"eu","gpu":"a100"}');
    expect(Object.keys(loaded?.labels ?? {})).toEqual(['gpu', 'zone']);
    expect(Object.isFrozen(loaded?.labels)).toBe(true);
  });

  // "Keep the hive, drop what cannot be read": valid JSON that is not an object of strings must not become labels
  // (a string turns into {"0": "g", ...}; a number value breaks the Labels type and the map<string,string> on the wire).
  test.each<[string, string]>([
    ['a JSON string', '"gpu"'],
    ['a JSON array', '["a","b"]'],
    ['an object with a number value', '{"zone":7}'],
    ['an object with an object value', '{"zone":{"x":"y"}}'],
  ])('labels that are %s load with only string-valued labels from an object', (_name, labelsJson) => {
    const labels = withLabelsColumn(labelsJson)?.labels ?? {};
    expect(Object.entries(labels).filter(([, value]) => typeof value !== 'string')).toEqual([]);
    expect(labels).toEqual({});
  });
});
