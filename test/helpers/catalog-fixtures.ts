// Fixtures shared by the catalog unit tests: temp folders, records, a second SQLite connection that holds the
// write lock, and a raw look at what is on disk (bypassing the code under test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { HiveRow } from '../../src/catalog/catalog-store';
import type { CatalogRecord } from '../../src/catalog/types';

/** A fresh folder under the OS temp dir; remove it with `removeTempDir` in afterEach. */
export function makeTempDir(): string {
  return mkdtempSync(join(tmpdir(), 'catalog-'));
}

export function removeTempDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/** A registered, never-seen hive; any field can be overridden. */
export function makeRecord(hiveId: string, overrides: Partial<CatalogRecord> = {}): CatalogRecord {
  return {
    hiveId,
    labels: Object.freeze({}),
    description: '',
    createdAtMs: 1_000,
    updatedAtMs: 1_000,
    lastPeer: '',
    cordoned: false,
    ...overrides,
  };
}

/** Runs `work` with a raw better-sqlite3 connection to `path`, closed afterwards. */
export function withRawDb<T>(path: string, work: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** A row of `hives` as stored. */
export type RawHiveRow = HiveRow;

/** Every row of `hives`, sorted by id, read with a separate connection. */
export function readHiveRows(path: string): RawHiveRow[] {
  return withRawDb(path, (db) => db.prepare('SELECT * FROM hives ORDER BY hive_id').all() as RawHiveRow[]);
}

/** The names of the tables in the file, sorted. */
export function tableNames(path: string): string[] {
  return withRawDb(path, (db) =>
    (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map(
      (t) => t.name,
    ),
  );
}

/** A second connection holding the database's write lock (BEGIN IMMEDIATE: in WAL mode readers still read). */
export interface WriteLock {
  /** Ends the other connection's transaction (rollback) and closes it. Idempotent. */
  release(): void;
}

export function holdWriteLock(path: string): WriteLock {
  const db = new Database(path);
  db.exec('BEGIN IMMEDIATE');
  return {
    release() {
      if (!db.open) return;
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    },
  };
}
