import type { EtcdCompare, EtcdEntry } from '../federation/etcd-store.js';
import { normalizeLabels } from './labels.js';
import type { CatalogRecord, HiveTokenRecord } from './types.js';

// How the catalog lies in etcd, under the federation's prefix (default `/hive-registry/`):
//   <prefix>catalog/hives/<hiveId>              JSON: labels, description, createdAtMs, updatedAtMs, lastSeenMs?,
//                                               lastPeer, cordoned (the id is the key's)
//   <prefix>catalog/tokens/<hiveId>/<tokenId>   JSON: tokenId, hiveId, sha256 (hex), createdAtMs, lastUsedAtMs?
// Hive ids and token ids never contain '/', so a key names its hive (and token) unambiguously. Tokens are kept as
// their SHA-256 only, never the secret. A hive's tokens share a prefix, so deregistering deletes them in the same
// transaction as the hive.

/**
 * Most keys one catalog transaction writes, each with a compare and a put (and a get where a lost compare reads it
 * again). etcd's `--max-txn-ops` (default 128, 3.4 and later) bounds the compares and each branch's operations
 * separately, not their sum, so 128 keys fit its default.
 */
export const MAX_TXN_KEYS = 128;

/** What a catalog key names. */
export type CatalogKey =
  | { readonly kind: 'hive'; readonly hiveId: string }
  | { readonly kind: 'token'; readonly hiveId: string; readonly tokenId: string };

/** The catalog's keys under one prefix. */
export class CatalogKeys {
  /** Every catalog key starts with this. */
  readonly root: string;
  private readonly hives: string;
  private readonly tokens: string;

  constructor(prefix: string) {
    this.root = `${prefix}catalog/`;
    this.hives = `${this.root}hives/`;
    this.tokens = `${this.root}tokens/`;
  }

  hive(hiveId: string): string {
    return this.hives + hiveId;
  }

  token(hiveId: string, tokenId: string): string {
    return `${this.tokens}${hiveId}/${tokenId}`;
  }

  /** The prefix of every token key of `hiveId`. */
  tokensOf(hiveId: string): string {
    return `${this.tokens}${hiveId}/`;
  }

  /** What `key` names, or undefined for a key that is none of ours. */
  parse(key: string): CatalogKey | undefined {
    if (key.startsWith(this.hives)) {
      const hiveId = key.slice(this.hives.length);
      return hiveId === '' || hiveId.includes('/') ? undefined : { kind: 'hive', hiveId };
    }
    if (key.startsWith(this.tokens)) {
      const parts = key.slice(this.tokens.length).split('/');
      const [hiveId, tokenId] = parts;
      if (parts.length !== 2 || hiveId === undefined || tokenId === undefined || hiveId === '' || tokenId === '') {
        return undefined;
      }
      return { kind: 'token', hiveId, tokenId };
    }
    return undefined;
  }
}

/** Guards of a transaction: the key is absent, present, or unchanged since `revision` (its mod revision). */
export const absent = (key: string): EtcdCompare => ({ key, target: 'create', op: '=', revision: 0n });
export const present = (key: string): EtcdCompare => ({ key, target: 'create', op: '>', revision: 0n });
export const unchangedSince = (key: string, revision: bigint): EtcdCompare => ({
  key,
  target: 'mod',
  op: '=',
  revision,
});

export function encodeHive(record: CatalogRecord): string {
  return JSON.stringify({
    labels: record.labels,
    description: record.description,
    createdAtMs: record.createdAtMs,
    updatedAtMs: record.updatedAtMs,
    ...(record.lastSeenMs === undefined ? {} : { lastSeenMs: record.lastSeenMs }),
    lastPeer: record.lastPeer,
    cordoned: record.cordoned,
  });
}

export function encodeToken(record: HiveTokenRecord): string {
  return JSON.stringify({
    tokenId: record.tokenId,
    hiveId: record.hiveId,
    sha256: record.sha256.toString('hex'),
    createdAtMs: record.createdAtMs,
    ...(record.lastUsedAtMs === undefined ? {} : { lastUsedAtMs: record.lastUsedAtMs }),
  });
}

function parseObject(value: Buffer): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * A hive record as written by `encodeHive`, or a message saying what is wrong with it. As with the SQLite store, a
 * label whose value is not a string (a hand edit) is dropped rather than the whole hive.
 */
export function decodeHive(hiveId: string, value: Buffer): CatalogRecord | string {
  const o = parseObject(value);
  if (o === undefined) return 'not a JSON object';
  const { labels, description, createdAtMs, updatedAtMs, lastSeenMs, lastPeer, cordoned } = o;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return 'labels: not an object';
  if (typeof description !== 'string') return 'description: not a string';
  if (!isTime(createdAtMs) || !isTime(updatedAtMs)) return 'createdAtMs and updatedAtMs: must be numbers';
  if (lastSeenMs !== undefined && !isTime(lastSeenMs)) return 'lastSeenMs: not a number';
  if (typeof lastPeer !== 'string') return 'lastPeer: not a string';
  if (typeof cordoned !== 'boolean') return 'cordoned: not a boolean';
  const strings = Object.entries(labels).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  const record: CatalogRecord = {
    hiveId,
    labels: normalizeLabels(Object.fromEntries(strings)),
    description,
    createdAtMs,
    updatedAtMs,
    lastPeer,
    cordoned,
  };
  return lastSeenMs === undefined ? record : { ...record, lastSeenMs };
}

/** A token record as written by `encodeToken` for the key's hive and token, or a message saying what is wrong. */
export function decodeToken(hiveId: string, tokenId: string, value: Buffer): HiveTokenRecord | string {
  const o = parseObject(value);
  if (o === undefined) return 'not a JSON object';
  const { sha256, createdAtMs, lastUsedAtMs } = o;
  if (o.tokenId !== tokenId || o.hiveId !== hiveId) return 'tokenId and hiveId: must be those of its key';
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) return 'sha256: must be 64 lowercase hex digits';
  if (!isTime(createdAtMs)) return 'createdAtMs: not a number';
  if (lastUsedAtMs !== undefined && !isTime(lastUsedAtMs)) return 'lastUsedAtMs: not a number';
  const record: HiveTokenRecord = { tokenId, hiveId, sha256: Buffer.from(sha256, 'hex'), createdAtMs };
  return lastUsedAtMs === undefined ? record : { ...record, lastUsedAtMs };
}

/** What etcd holds for one key as of a revision: a hive's record or a token (undefined: the key was deleted). */
export type CatalogFact =
  | {
      readonly kind: 'hive';
      readonly hiveId: string;
      readonly record: CatalogRecord | undefined;
      readonly revision: bigint;
    }
  | {
      readonly kind: 'token';
      readonly hiveId: string;
      readonly tokenId: string;
      readonly record: HiveTokenRecord | undefined;
      readonly revision: bigint;
    };

/**
 * What a put of `entry` says; undefined for a key that is none of ours, and a message for a value that does not
 * parse (only a hand edit can write one).
 */
export function putFact(keys: CatalogKeys, entry: EtcdEntry): CatalogFact | string | undefined {
  const key = keys.parse(entry.key);
  if (key === undefined) return undefined;
  const revision = entry.modRevision;
  if (key.kind === 'hive') {
    const record = decodeHive(key.hiveId, entry.value);
    return typeof record === 'string' ? record : { kind: 'hive', hiveId: key.hiveId, record, revision };
  }
  const record = decodeToken(key.hiveId, key.tokenId, entry.value);
  if (typeof record === 'string') return record;
  return { kind: 'token', hiveId: key.hiveId, tokenId: key.tokenId, record, revision };
}

/** `key` was deleted as of `revision` (or is known absent at it); undefined for a key that is none of ours. */
export function deleteFact(keys: CatalogKeys, key: string, revision: bigint): CatalogFact | undefined {
  const parsed = keys.parse(key);
  if (parsed === undefined) return undefined;
  return parsed.kind === 'hive'
    ? { kind: 'hive', hiveId: parsed.hiveId, record: undefined, revision }
    : { kind: 'token', hiveId: parsed.hiveId, tokenId: parsed.tokenId, record: undefined, revision };
}
