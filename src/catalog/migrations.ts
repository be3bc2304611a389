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
