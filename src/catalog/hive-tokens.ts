import { hash, randomBytes } from 'node:crypto';
import type { CatalogStore, TokenUse } from './catalog-store.js';
import type { HiveTokenRecord } from './types.js';

/** A newly issued token: the secret (shown once) and its public name. */
export interface IssuedToken {
  readonly token: string;
  readonly tokenId: string;
}

/**
 * Prefix of every hive token. It tells a leaked secret's kind at a glance (and lets secret scanners match it);
 * it carries no information an attacker could use.
 */
export const HIVE_TOKEN_PREFIX = 'hvt_';

/** Random bytes per token: 256 bits, so guessing one is hopeless even at millions of tries a second. */
const TOKEN_BYTES = 32;

/**
 * The SHA-256 of a token's UTF-8 bytes: what the catalog keeps and compares. Every call with auth on hashes its
 * token: the one-shot `crypto.hash` costs half of a Hash object.
 */
export function tokenSha256(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

/** A new token (the secret, shown once), its id (16 hex digits) and its SHA-256: the one token format of every store. */
export function newHiveToken(random: (size: number) => Buffer): IssuedToken & { readonly sha256: Buffer } {
  const token = HIVE_TOKEN_PREFIX + random(TOKEN_BYTES).toString('base64url');
  return { token, tokenId: random(8).toString('hex'), sha256: tokenSha256(token) };
}

/**
 * The live hive tokens, in memory (a stream opening never reads the disk) and written through to the catalog's
 * `hive_tokens` table: issuing and revoking commit before they return; a token's last use is memory only, written
 * with the next checkpoint.
 *
 * Lookups are keyed by the SHA-256 of the presented token. A lookup's timing can only tell an attacker about
 * hashes of tokens they chose, and finding a token whose hash matches a stored one is a preimage attack on
 * SHA-256: the secret itself never takes part in a comparison whose time depends on it.
 */
export class HiveTokens {
  private readonly byId = new Map<string, HiveTokenRecord>();
  /** Hex SHA-256 -> token id. */
  private readonly byHash = new Map<string, string>();
  /** Tokens whose last use is newer in memory than on disk. */
  private readonly dirty = new Set<string>();

  constructor(
    private readonly store: CatalogStore,
    private readonly wallNow: () => number,
    /** Where secrets come from; tests may inject a deterministic source. */
    private readonly random: (size: number) => Buffer = randomBytes,
  ) {
    for (const record of store.loadLiveTokens()) this.keep(record);
  }

  /** Live tokens in all. */
  get size(): number {
    return this.byId.size;
  }

  /** Tokens whose last use waits for the next checkpoint. */
  get pendingWrites(): number {
    return this.dirty.size;
  }

  /** A new token for `hiveId` (which the caller checked is in the catalog). Committed before returning. */
  issue(hiveId: string): IssuedToken {
    const { token, tokenId, sha256 } = newHiveToken(this.random);
    const record: HiveTokenRecord = { tokenId, hiveId, sha256, createdAtMs: this.wallNow() };
    this.store.saveToken(record);
    this.keep(record);
    return { token, tokenId };
  }

  /** Revokes `tokenId` of `hiveId`; false when it has no such live token. Committed before returning. */
  revoke(hiveId: string, tokenId: string): boolean {
    const found = this.byId.get(tokenId);
    if (found === undefined || found.hiveId !== hiveId) return false;
    this.store.revokeTokenOf(hiveId, tokenId, this.wallNow());
    this.drop(found);
    return true;
  }

  /** The live tokens of `hiveId`, oldest first. */
  list(hiveId: string): HiveTokenRecord[] {
    return [...this.byId.values()]
      .filter((record) => record.hiveId === hiveId)
      .sort((a, b) => a.createdAtMs - b.createdAtMs || (a.tokenId < b.tokenId ? -1 : 1));
  }

  /** The live token whose secret is `token`, or undefined. */
  verify(token: string): HiveTokenRecord | undefined {
    const tokenId = this.byHash.get(tokenSha256(token).toString('hex'));
    return tokenId === undefined ? undefined : this.byId.get(tokenId);
  }

  /** A stream opened with `tokenId` at `wallMs`: memory only, written by the next checkpoint. */
  used(tokenId: string, wallMs: number): void {
    const record = this.byId.get(tokenId);
    if (record === undefined) return;
    // A wall clock stepped back must not make last_used_at go back.
    const lastUsedAtMs = Math.max(wallMs, record.lastUsedAtMs ?? wallMs);
    this.byId.set(tokenId, { ...record, lastUsedAtMs });
    this.dirty.add(tokenId);
  }

  /** Drops a deregistered hive's tokens from memory (the database deletes their rows with the hive's). */
  forgetHive(hiveId: string): void {
    for (const record of [...this.byId.values()]) {
      if (record.hiveId === hiveId) this.drop(record);
    }
  }

  /** Last uses to write with the next checkpoint; `written()` once they are on disk. */
  pendingUses(): TokenUse[] {
    const uses: TokenUse[] = [];
    for (const tokenId of this.dirty) {
      const lastUsedAtMs = this.byId.get(tokenId)?.lastUsedAtMs;
      if (lastUsedAtMs !== undefined) uses.push({ tokenId, lastUsedAtMs });
    }
    return uses;
  }

  /** The uses returned by `pendingUses` are on disk. */
  written(uses: readonly TokenUse[]): void {
    for (const use of uses) this.dirty.delete(use.tokenId);
  }

  private keep(record: HiveTokenRecord): void {
    this.byId.set(record.tokenId, record);
    this.byHash.set(record.sha256.toString('hex'), record.tokenId);
  }

  private drop(record: HiveTokenRecord): void {
    this.byId.delete(record.tokenId);
    this.byHash.delete(record.sha256.toString('hex'));
    this.dirty.delete(record.tokenId);
  }
}
