import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DomainError } from '../common/domain-error.js';
import { normalizeLabels, type Labels } from './labels.js';
import { CatalogOpenError } from './catalog-open-error.js';
import { checkOwnership, migrate } from './migrations.js';

export { CatalogOpenError };
import type { CatalogRecord, HiveTokenRecord } from './types.js';

/** The `--db` value that keeps the catalog in memory only (nothing survives the process). */
export const IN_MEMORY = ':memory:';

/**
 * How long a write waits for a lock held by another connection (a backup, an operator's sqlite3 shell) before
 * failing with SQLITE_BUSY. Short: every write runs on the event loop, and a failed checkpoint is simply retried.
 */
const BUSY_TIMEOUT_MS = 100;

/** A row of the `hives` table, as the driver returns it. */
export interface HiveRow {
  hive_id: string;
  labels: string;
  description: string;
  created_at: number;
  updated_at: number;
  last_seen: number | null;
  last_peer: string;
  cordoned: number;
}

/** A row of the `hive_tokens` table, as the driver returns it. */
interface TokenRow {
  token_id: string;
  hive_id: string;
  token_sha256: Buffer;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

function tokenRowToRecord(row: TokenRow): HiveTokenRecord {
  const record: HiveTokenRecord = {
    tokenId: row.token_id,
    hiveId: row.hive_id,
    sha256: Buffer.from(row.token_sha256),
    createdAtMs: row.created_at,
  };
  return row.last_used_at === null ? record : { ...record, lastUsedAtMs: row.last_used_at };
}

/** When a live token was last used, for the checkpoint. */
export interface TokenUse {
  readonly tokenId: string;
  readonly lastUsedAtMs: number;
}

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(error: unknown): string {
  const code = sqliteCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined ? message : `${code}: ${message}`;
}

/**
 * The labels column as written by `recordToRow`: a JSON object of strings. Only a hand-edited row can hold
 * anything else: the hive is kept, and what cannot be read as a label is dropped.
 */
function parseLabels(text: string): Labels {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return Object.freeze({});
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return Object.freeze({});
  const entries = Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  return normalizeLabels(Object.fromEntries(entries));
}

function rowToRecord(row: HiveRow): CatalogRecord {
  const labels = parseLabels(row.labels);
  const record: CatalogRecord = {
    hiveId: row.hive_id,
    labels,
    description: row.description,
    createdAtMs: row.created_at,
    updatedAtMs: row.updated_at,
    lastPeer: row.last_peer,
    cordoned: row.cordoned === 1,
  };
  return row.last_seen === null ? record : { ...record, lastSeenMs: row.last_seen };
}

function recordToRow(record: CatalogRecord): HiveRow {
  return {
    hive_id: record.hiveId,
    labels: JSON.stringify(record.labels),
    description: record.description,
    created_at: record.createdAtMs,
    updated_at: record.updatedAtMs,
    last_seen: record.lastSeenMs ?? null,
    last_peer: record.lastPeer,
    cordoned: record.cordoned ? 1 : 0,
  };
}

/**
 * The catalog's SQLite file: the only code that talks to the driver. WAL journal with `synchronous=NORMAL`: a
 * committed write survives a crash of the process (SIGKILL included); a power loss or OS crash can lose the last
 * transactions, never corrupt the file. Every method is synchronous and either commits or changes nothing; a
 * failed write throws DomainError('unavailable').
 */
export class CatalogStore {
  private readonly upsert: Database.Statement<HiveRow>;
  private readonly remove: Database.Statement<[string]>;
  private readonly upsertMany: (rows: readonly HiveRow[], uses: readonly TokenUse[]) => void;
  private readonly insertToken: Database.Statement<TokenRow>;
  private readonly revokeToken: Database.Statement<{ token_id: string; hive_id: string; revoked_at: number }>;
  private readonly useToken: Database.Statement<{ token_id: string; last_used_at: number }>;
  private writes = 0;

  private constructor(
    private readonly db: Database.Database,
    /** The path as given (`:memory:` for an in-memory catalog). */
    readonly path: string,
  ) {
    this.upsert = db.prepare(`
      INSERT INTO hives (hive_id, labels, description, created_at, updated_at, last_seen, last_peer, cordoned)
      VALUES (@hive_id, @labels, @description, @created_at, @updated_at, @last_seen, @last_peer, @cordoned)
      ON CONFLICT (hive_id) DO UPDATE SET
        labels = excluded.labels, description = excluded.description, updated_at = excluded.updated_at,
        last_seen = excluded.last_seen, last_peer = excluded.last_peer, cordoned = excluded.cordoned`);
    this.remove = db.prepare('DELETE FROM hives WHERE hive_id = ?');
    this.insertToken = db.prepare(`
      INSERT INTO hive_tokens (token_id, hive_id, token_sha256, created_at, last_used_at, revoked_at)
      VALUES (@token_id, @hive_id, @token_sha256, @created_at, @last_used_at, @revoked_at)`);
    this.revokeToken = db.prepare(`
      UPDATE hive_tokens SET revoked_at = @revoked_at
      WHERE token_id = @token_id AND hive_id = @hive_id AND revoked_at IS NULL`);
    this.useToken = db.prepare(`
      UPDATE hive_tokens SET last_used_at = max(coalesce(last_used_at, 0), @last_used_at) WHERE token_id = @token_id`);
    this.upsertMany = db.transaction((rows: readonly HiveRow[], uses: readonly TokenUse[]) => {
      for (const row of rows) this.upsert.run(row);
      for (const use of uses) this.useToken.run({ token_id: use.tokenId, last_used_at: use.lastUsedAtMs });
    });
  }

  /**
   * Opens (creating it and its folder if needed) and migrates the catalog at `path`, or an in-memory one for
   * `:memory:`. Throws CatalogOpenError naming the path when it cannot be opened, is not a SQLite database, is
   * another application's database, or was written by a newer hive-registry.
   */
  static open(path: string, nowWallMs: number): CatalogStore {
    if (path !== IN_MEMORY) {
      try {
        mkdirSync(dirname(resolve(path)), { recursive: true });
      } catch (error) {
        throw new CatalogOpenError(path, `cannot create its folder (${describe(error)})`);
      }
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      // Before anything writes to the file (switching to WAL rewrites its header): refuse what is not ours.
      checkOwnership(db, path);
      const journal = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (path !== IN_MEMORY && journal !== 'wal') {
        throw new CatalogOpenError(path, `cannot use write-ahead logging (journal_mode is ${journal})`);
      }
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, path, nowWallMs);
      return new CatalogStore(db, path);
    } catch (error) {
      db?.close();
      if (error instanceof CatalogOpenError) throw error;
      switch (sqliteCode(error)) {
        case 'SQLITE_NOTADB':
          throw new CatalogOpenError(path, 'is not a SQLite database');
        case 'SQLITE_CANTOPEN':
          throw new CatalogOpenError(path, 'cannot be opened (is it a folder, or not writable?)');
        default:
          throw new CatalogOpenError(path, `cannot be opened (${describe(error)})`);
      }
    }
  }

  /** Write transactions committed since the store was opened (each RPC write and each checkpoint is one). */
  get writeTransactions(): number {
    return this.writes;
  }

  /** Every hive on disk, in no particular order. */
  loadAll(): CatalogRecord[] {
    return (this.db.prepare('SELECT * FROM hives').all() as HiveRow[]).map(rowToRecord);
  }

  /** Every live (not revoked) hive token on disk, oldest first. */
  loadLiveTokens(): HiveTokenRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM hive_tokens WHERE revoked_at IS NULL ORDER BY created_at, token_id')
      .all() as TokenRow[];
    return rows.map(tokenRowToRecord);
  }

  /** Adds a token (its hive must be on disk), committed before returning. */
  saveToken(record: HiveTokenRecord): void {
    this.write(() =>
      this.insertToken.run({
        token_id: record.tokenId,
        hive_id: record.hiveId,
        token_sha256: record.sha256,
        created_at: record.createdAtMs,
        last_used_at: record.lastUsedAtMs ?? null,
        revoked_at: null,
      }),
    );
  }

  /** Marks a live token of `hiveId` revoked at `wallMs`; false when there was none. Committed before returning. */
  revokeTokenOf(hiveId: string, tokenId: string, wallMs: number): boolean {
    return this.write(() => this.revokeToken.run({ token_id: tokenId, hive_id: hiveId, revoked_at: wallMs }).changes > 0);
  }

  /** Writes one hive's whole row (insert or replace its fields), committed before returning. */
  save(record: CatalogRecord): void {
    this.write(() => this.upsert.run(recordToRow(record)));
  }

  /**
   * Writes many hives' rows and tokens' last use in one transaction: all of them or, on failure, none. Nothing
   * to write: no transaction.
   */
  saveAll(records: readonly CatalogRecord[], uses: readonly TokenUse[] = []): void {
    if (records.length === 0 && uses.length === 0) return;
    const rows = records.map(recordToRow);
    this.write(() => this.upsertMany(rows, uses));
  }

  /**
   * Adds hives and their live tokens in one transaction (`catalog import`): all of them, or none when any hive id,
   * token id or token hash is already in the catalog (DomainError('already_exists') naming the first few).
   */
  importAll(records: readonly CatalogRecord[], tokens: readonly HiveTokenRecord[]): void {
    const hiveExists = this.db.prepare('SELECT 1 FROM hives WHERE hive_id = ?').pluck();
    const tokenExists = this.db.prepare('SELECT 1 FROM hive_tokens WHERE token_id = ? OR token_sha256 = ?').pluck();
    const clashes = [
      ...records.filter((r) => hiveExists.get(r.hiveId) !== undefined).map((r) => `hive ${JSON.stringify(r.hiveId)}`),
      ...tokens.filter((t) => tokenExists.get(t.tokenId, t.sha256) !== undefined).map((t) => `token ${t.tokenId} of ${JSON.stringify(t.hiveId)}`),
    ];
    if (clashes.length > 0) {
      const shown = clashes.slice(0, 5).join(', ');
      throw new DomainError('already_exists', `already in the catalog: ${shown}${clashes.length > 5 ? ` and ${clashes.length - 5} more` : ''}; nothing was imported`);
    }
    this.write(() =>
      this.db.transaction(() => {
        for (const record of records) this.upsert.run(recordToRow(record));
        for (const t of tokens) {
          this.insertToken.run({
            token_id: t.tokenId,
            hive_id: t.hiveId,
            token_sha256: t.sha256,
            created_at: t.createdAtMs,
            last_used_at: t.lastUsedAtMs ?? null,
            revoked_at: null,
          });
        }
      })(),
    );
  }

  /** Deletes a hive (and its tokens); false when it was not on disk. */
  delete(hiveId: string): boolean {
    return this.write(() => this.remove.run(hiveId).changes > 0);
  }

  /** Closes the database; later calls throw. Idempotent. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  private write<T>(work: () => T): T {
    let result: T;
    try {
      result = work();
    } catch (error) {
      throw new DomainError('unavailable', `catalog: the write failed and changed nothing (${describe(error)}); retry`);
    }
    this.writes += 1;
    return result;
  }
}
