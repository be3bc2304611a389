import type Database from 'better-sqlite3';
import { CatalogOpenError } from './catalog-open-error.js';

/**
 * The catalog's schema, as numbered migrations. A migration is never edited once released: a change is a new
 * migration with the next number. `CatalogStore` applies the missing ones at start, in order, in one transaction,
 * and refuses a database whose newest applied migration is above the last one listed here.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'hives and hive tokens',
    sql: `
      -- One row per hive an operator runs (or that joined in open registration). Times are epoch milliseconds.
      CREATE TABLE hives (
        hive_id     TEXT    NOT NULL PRIMARY KEY,
        labels      TEXT    NOT NULL DEFAULT '{}',  -- JSON object, keys sorted
        description TEXT    NOT NULL DEFAULT '',
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        last_seen   INTEGER,                       -- queen's receive time of the last accepted heartbeat; NULL = never
        last_peer   TEXT    NOT NULL DEFAULT '',   -- remote address of the hive's last heartbeat stream
        cordoned    INTEGER NOT NULL DEFAULT 0 CHECK (cordoned IN (0, 1))
      ) STRICT;

      -- Hive tokens: only their SHA-256 is kept. A hive may hold several live tokens (rotation).
      CREATE TABLE hive_tokens (
        token_id     TEXT    NOT NULL PRIMARY KEY,
        hive_id      TEXT    NOT NULL REFERENCES hives (hive_id) ON DELETE CASCADE,
        token_sha256 BLOB    NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at   INTEGER
      ) STRICT;
      CREATE INDEX hive_tokens_by_hive ON hive_tokens (hive_id);
    `,
  },
];

/** The newest schema this build knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * SQLite's application_id header field (`PRAGMA application_id`), set on every catalog database: "HIVE" in ASCII.
 * Lets the store tell its own files from other SQLite databases, and lets `file(1)` tell them apart too.
 */
const APPLICATION_ID = 0x48495645;

/**
 * Refuses a database that is not a catalog: another application's (its application_id is set and not ours, or
 * it has tables but not ours). A new, empty database is fine. Reads only.
 */
export function checkOwnership(db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const tables = new Set(
    (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name),
  );
  const foreignId = applicationId !== 0 && applicationId !== APPLICATION_ID;
  if (foreignId || (tables.size > 0 && (applicationId !== APPLICATION_ID || !tables.has('schema_migrations')))) {
    throw new CatalogOpenError(path, 'is a SQLite database, but not a hive-registry catalog');
  }
}

/** Brings the schema to LATEST_SCHEMA_VERSION in one transaction, or throws CatalogOpenError. */
export function migrate(db: Database.Database, path: string, nowWallMs: number): void {
  db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
    );
    const current =
      (db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as { version: number | null })
        .version ?? 0;
    if (current > LATEST_SCHEMA_VERSION) {
      throw new CatalogOpenError(
        path,
        `has schema version ${current}, newer than this hive-registry knows (${LATEST_SCHEMA_VERSION}); run a newer hive-registry or point --db elsewhere`,
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      record.run(migration.version, nowWallMs);
    }
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION}`);
  }).immediate();
}
