import type { RemoteCatalogChange } from './catalog.js';
import type { CatalogFact } from './etcd-catalog-keys.js';
import { matchesSelector, type Labels } from './labels.js';
import type { CatalogRecord, HiveTokenRecord } from './types.js';

/** What this queen knows of one etcd key: its value (undefined once deleted: a tombstone) and as of which revision. */
interface Known<T> {
  readonly value: T | undefined;
  readonly revision: bigint;
}

/** A hive's record as etcd holds it, and the mod revision of its key. */
export interface StoredHive {
  readonly record: CatalogRecord;
  readonly revision: bigint;
}

/** A token's record as etcd holds it, and the mod revision of its key. */
export interface StoredToken {
  readonly record: HiveTokenRecord;
  readonly revision: bigint;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => b[key] === a[key]);
}

function sameRecord(a: CatalogRecord, b: CatalogRecord): boolean {
  return (
    a.description === b.description &&
    a.cordoned === b.cordoned &&
    a.createdAtMs === b.createdAtMs &&
    a.updatedAtMs === b.updatedAtMs &&
    a.lastSeenMs === b.lastSeenMs &&
    a.lastPeer === b.lastPeer &&
    sameLabels(a.labels, b.labels)
  );
}

/** `record` with this queen's `last_seen` and `last_peer` from `local` where they are newer. */
function withSeen(record: CatalogRecord, local: CatalogRecord | undefined): CatalogRecord {
  const localMs = local?.lastSeenMs;
  if (local === undefined || localMs === undefined || localMs <= (record.lastSeenMs ?? Number.NEGATIVE_INFINITY)) {
    return record;
  }
  return { ...record, lastSeenMs: localMs, lastPeer: local.lastPeer };
}

/**
 * The etcd catalog's memory: what etcd holds (each key's value and revision, deleted keys as tombstones until the
 * watch has passed them), and the view reads are answered from: etcd's records with this queen's newer
 * `last_seen`, plus hives that joined by heartbeat and are not in etcd yet.
 *
 * A key's state only moves forward: a fact as of a revision not newer than the one known is ignored, so an
 * answer to this queen's own write and the watch event for it apply once, in whichever order they arrive.
 */
export class EtcdCatalogCache {
  private readonly stored = new Map<string, Known<CatalogRecord>>();
  /** The hives (and, below, tokens) whose known state is a tombstone: few, so forgetting them is cheap. */
  private readonly hiveTombstones = new Set<string>();
  private readonly view = new Map<string, CatalogRecord>();
  private sortedIds: string[] | undefined;
  /** Hives whose `last_seen`/`last_peer` here is newer than in etcd, or that are not in etcd yet. */
  readonly seenChanged = new Set<string>();
  /** Among them, those whose stream on this queen ended: written by the next flush, whenever they were last. */
  readonly streamEnded = new Set<string>();
  /** When this queen last wrote each hive's `last_seen` (wall ms). */
  readonly seenWrittenAt = new Map<string, number>();

  private readonly storedTokens = new Map<string, Known<HiveTokenRecord> & { readonly hiveId: string }>();
  private readonly tokenTombstones = new Set<string>();
  /** Live tokens, with this queen's newer last use. */
  private readonly tokens = new Map<string, HiveTokenRecord>();
  /** Hex SHA-256 -> token id. */
  private readonly byHash = new Map<string, string>();
  /** Tokens whose last use here is newer than in etcd. */
  readonly useChanged = new Set<string>();
  /** When this queen last wrote each token's last use (wall ms). */
  readonly useWrittenAt = new Map<string, number>();

  get size(): number {
    return this.view.size;
  }

  get tokenCount(): number {
    return this.tokens.size;
  }

  get(hiveId: string): CatalogRecord | undefined {
    return this.view.get(hiveId);
  }

  list(selector: Labels): CatalogRecord[] {
    this.sortedIds ??= [...this.view.keys()].sort(compareStrings);
    const all = Object.keys(selector).length === 0;
    const out: CatalogRecord[] = [];
    for (const id of this.sortedIds) {
      const record = this.view.get(id);
      if (record !== undefined && (all || matchesSelector(record.labels, selector))) out.push(record);
    }
    return out;
  }

  /** The hive as etcd holds it, or undefined when it is not there (deleted, or joined here and not written yet). */
  storedHive(hiveId: string): StoredHive | undefined {
    const known = this.stored.get(hiveId);
    return known?.value === undefined ? undefined : { record: known.value, revision: known.revision };
  }

  storedToken(tokenId: string): StoredToken | undefined {
    const known = this.storedTokens.get(tokenId);
    return known?.value === undefined ? undefined : { record: known.value, revision: known.revision };
  }

  /** A heartbeat (memory only). An unknown hive joins the view when `admitNew`, else it is ignored. */
  seen(hiveId: string, wallMs: number, peer: string, admitNew: boolean): void {
    const current = this.view.get(hiveId);
    if (current === undefined) {
      if (!admitNew) return;
      this.view.set(hiveId, {
        hiveId,
        labels: Object.freeze({}),
        description: '',
        createdAtMs: wallMs,
        updatedAtMs: wallMs,
        lastSeenMs: wallMs,
        lastPeer: peer,
        cordoned: false,
      });
      this.sortedIds = undefined;
    } else {
      // A wall clock stepped back must not make last_seen go back.
      const lastSeenMs = Math.max(wallMs, current.lastSeenMs ?? wallMs);
      if (lastSeenMs === current.lastSeenMs && peer === current.lastPeer) return;
      this.view.set(hiveId, { ...current, lastSeenMs, lastPeer: peer });
    }
    this.seenChanged.add(hiveId);
  }

  /**
   * etcd holds `record` for the hive (undefined: its key was deleted) as of `revision`. Ignored unless newer than
   * what is known. Returns the change readers see, or undefined when they see none.
   */
  applyHive(hiveId: string, record: CatalogRecord | undefined, revision: bigint): RemoteCatalogChange | undefined {
    const known = this.stored.get(hiveId);
    if (known !== undefined && revision <= known.revision) return undefined;
    this.stored.set(hiveId, { value: record, revision });
    if (record === undefined) this.hiveTombstones.add(hiveId);
    else this.hiveTombstones.delete(hiveId);
    const before = this.view.get(hiveId);
    if (record === undefined) {
      if (before === undefined) return undefined;
      this.view.delete(hiveId);
      this.sortedIds = undefined;
      this.seenChanged.delete(hiveId);
      this.streamEnded.delete(hiveId);
      this.seenWrittenAt.delete(hiveId);
      return { kind: 'hive', hiveId, record: undefined };
    }
    const after = withSeen(record, before);
    this.view.set(hiveId, after);
    if (before === undefined) this.sortedIds = undefined;
    if (after.lastSeenMs === record.lastSeenMs && after.lastPeer === record.lastPeer) {
      // etcd has this queen's last sighting (or a newer one): nothing to write.
      this.seenChanged.delete(hiveId);
      this.streamEnded.delete(hiveId);
    }
    return before !== undefined && sameRecord(before, after) ? undefined : { kind: 'hive', hiveId, record: after };
  }

  /** Applies `fact` (applyHive or applyToken). */
  apply(fact: CatalogFact): RemoteCatalogChange | undefined {
    return fact.kind === 'hive'
      ? this.applyHive(fact.hiveId, fact.record, fact.revision)
      : this.applyToken(fact.hiveId, fact.tokenId, fact.record, fact.revision);
  }

  /** The live tokens of `hiveId`, oldest first. */
  tokensOf(hiveId: string): HiveTokenRecord[] {
    return [...this.tokens.values()]
      .filter((record) => record.hiveId === hiveId)
      .sort((a, b) => a.createdAtMs - b.createdAtMs || compareStrings(a.tokenId, b.tokenId));
  }

  /** A live token, with this queen's newer last use. */
  liveToken(tokenId: string): HiveTokenRecord | undefined {
    return this.tokens.get(tokenId);
  }

  /** The live token whose SHA-256 (hex) is `sha256`. */
  tokenByHash(sha256: string): HiveTokenRecord | undefined {
    const tokenId = this.byHash.get(sha256);
    return tokenId === undefined ? undefined : this.tokens.get(tokenId);
  }

  /** A stream opened with a live token at `wallMs` (memory only). */
  used(tokenId: string, wallMs: number): void {
    const record = this.tokens.get(tokenId);
    if (record === undefined) return;
    const lastUsedAtMs = Math.max(wallMs, record.lastUsedAtMs ?? wallMs);
    if (lastUsedAtMs === record.lastUsedAtMs) return;
    this.tokens.set(tokenId, { ...record, lastUsedAtMs });
    this.useChanged.add(tokenId);
  }

  /**
   * etcd holds `record` for the token (undefined: deleted) as of `revision`; ignored unless newer than what is
   * known. Returns `token_revoked` when a live token went, else undefined.
   */
  applyToken(
    hiveId: string,
    tokenId: string,
    record: HiveTokenRecord | undefined,
    revision: bigint,
  ): RemoteCatalogChange | undefined {
    const known = this.storedTokens.get(tokenId);
    if (known !== undefined && revision <= known.revision) return undefined;
    this.storedTokens.set(tokenId, { value: record, revision, hiveId });
    if (record === undefined) this.tokenTombstones.add(tokenId);
    else this.tokenTombstones.delete(tokenId);
    const before = this.tokens.get(tokenId);
    if (record === undefined) {
      if (before === undefined) return undefined;
      this.tokens.delete(tokenId);
      this.byHash.delete(before.sha256.toString('hex'));
      this.useChanged.delete(tokenId);
      this.useWrittenAt.delete(tokenId);
      return { kind: 'token_revoked', hiveId, tokenId };
    }
    const local = before?.lastUsedAtMs;
    const newerHere = local !== undefined && local > (record.lastUsedAtMs ?? Number.NEGATIVE_INFINITY);
    const after = newerHere ? { ...record, lastUsedAtMs: local } : record;
    if (before !== undefined && before.sha256.toString('hex') !== record.sha256.toString('hex')) {
      this.byHash.delete(before.sha256.toString('hex'));
    }
    this.tokens.set(tokenId, after);
    this.byHash.set(record.sha256.toString('hex'), tokenId);
    if (after.lastUsedAtMs === record.lastUsedAtMs) this.useChanged.delete(tokenId);
    return undefined;
  }

  /** Every hive etcd holds here (live keys), for the diff after a re-list. */
  storedHiveIds(): string[] {
    return [...this.stored].filter(([, known]) => known.value !== undefined).map(([hiveId]) => hiveId);
  }

  /** Every live token etcd holds here, by id, with its hive. */
  storedTokenIds(): { readonly hiveId: string; readonly tokenId: string }[] {
    const out: { hiveId: string; tokenId: string }[] = [];
    for (const [tokenId, known] of this.storedTokens) {
      if (known.value !== undefined) out.push({ hiveId: known.hiveId, tokenId });
    }
    return out;
  }

  /**
   * Forgets tombstones as of `revision` or older, except those of hives `keep` names: the watch has delivered every
   * event up to `revision`, so none older can arrive for them any more.
   */
  forgetTombstones(revision: bigint, keep: (hiveId: string) => boolean): void {
    for (const hiveId of this.hiveTombstones) {
      const known = this.stored.get(hiveId);
      if (known === undefined || (known.revision <= revision && !keep(hiveId))) {
        this.stored.delete(hiveId);
        this.hiveTombstones.delete(hiveId);
      }
    }
    for (const tokenId of this.tokenTombstones) {
      const known = this.storedTokens.get(tokenId);
      if (known === undefined || (known.revision <= revision && !keep(known.hiveId))) {
        this.storedTokens.delete(tokenId);
        this.tokenTombstones.delete(tokenId);
      }
    }
  }
}
