import { admissionRefusal, alreadyExists, catalogFull, notFound } from './catalog-rules.js';
import { matchesSelector, normalizeLabels, type Labels } from './labels.js';
import type { CatalogStore } from './catalog-store.js';
import { HiveTokens, type IssuedToken } from './hive-tokens.js';
import type { AdmissionRefusal, CatalogPatch, CatalogRecord, HiveTokenRecord, RegistrationMode } from './types.js';

/** What only the queen's configuration and tests change. */
export interface CatalogOptions {
  /** Most hives in the catalog: a new one beyond it is refused (RegisterHive and open admission). */
  readonly maxHives?: number;
  /** Where token secrets come from (default: the system's CSPRNG). */
  readonly random?: (size: number) => Buffer;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The durable catalog of hives: every record in memory (reads and admission never touch the disk), written
 * through to SQLite by operator writes and checkpointed for heartbeats.
 *
 * - Operator writes (register, update, deregister, cordon) are committed to disk before they change memory: a
 *   failed write throws and changes nothing.
 * - Heartbeats only change memory (`seen`): the hive's `last_seen` and `last_peer`, and in open registration a
 *   new record for a hive never seen before. Such changes are marked dirty and written by `flush`, one
 *   transaction for all of them, called by the Checkpointer once per flush interval. A failed flush keeps them
 *   dirty for the next one.
 *
 * Inputs are validated by the adapter (ids, labels, description); methods throw DomainError for not_found,
 * already_exists and unavailable (the disk refused a write).
 */
export class HiveCatalog {
  private readonly records = new Map<string, CatalogRecord>();
  /** Hives whose memory record is newer than their row on disk (or that have no row yet). */
  private readonly dirty = new Set<string>();
  private sortedIds: string[] | undefined;
  /** The hives' live tokens, for authenticating Heartbeat streams. */
  readonly tokens: HiveTokens;

  constructor(
    private readonly store: CatalogStore,
    /** Wall-clock epoch milliseconds, for created/updated times. */
    private readonly wallNow: () => number,
    readonly registration: RegistrationMode,
    private readonly options: CatalogOptions = {},
  ) {
    for (const record of store.loadAll()) this.records.set(record.hiveId, record);
    this.tokens = new HiveTokens(store, wallNow, options.random);
  }

  /** Where the catalog lives (`:memory:` when nowhere). */
  get path(): string {
    return this.store.path;
  }

  get size(): number {
    return this.records.size;
  }

  /** Hives (and tokens' last use) changed by heartbeats and not yet on disk. */
  get pendingWrites(): number {
    return this.dirty.size + this.tokens.pendingWrites;
  }

  /** Write transactions committed so far. */
  get writeTransactions(): number {
    return this.store.writeTransactions;
  }

  get(hiveId: string): CatalogRecord | undefined {
    return this.records.get(hiveId);
  }

  /** Hives whose labels match every entry of `selector` (empty: all), sorted by hive id. */
  list(selector: Labels = {}): CatalogRecord[] {
    this.sortedIds ??= [...this.records.keys()].sort(compareStrings);
    const all = Object.keys(selector).length === 0;
    const out: CatalogRecord[] = [];
    for (const id of this.sortedIds) {
      const record = this.records.get(id);
      if (record !== undefined && (all || matchesSelector(record.labels, selector))) out.push(record);
    }
    return out;
  }

  /** Adds a hive; already_exists when present, limit_exceeded when full. Committed before returning. */
  register(hiveId: string, labels: Labels, description: string): CatalogRecord {
    if (this.records.has(hiveId)) throw alreadyExists(hiveId);
    if (this.full) throw catalogFull(this.options.maxHives);
    const now = this.wallNow();
    const record: CatalogRecord = {
      hiveId,
      labels: normalizeLabels(labels),
      description,
      createdAtMs: now,
      updatedAtMs: now,
      lastPeer: '',
      cordoned: false,
    };
    this.commit(record);
    return record;
  }

  /** Changes the fields the patch sets; not_found when absent. Committed before returning. */
  update(hiveId: string, patch: CatalogPatch): CatalogRecord {
    const current = this.require(hiveId);
    const record: CatalogRecord = {
      ...current,
      ...(patch.labels === undefined ? {} : { labels: normalizeLabels(patch.labels) }),
      ...(patch.description === undefined ? {} : { description: patch.description }),
      updatedAtMs: Math.max(this.wallNow(), current.updatedAtMs),
    };
    this.commit(record);
    return record;
  }

  /**
   * Cordons (`true`) or uncordons (`false`) a hive: a cordoned hive's workers stay listed but are never picked.
   * not_found when absent. Committed before returning, moving updatedAtMs. Asking for the state the hive is already
   * in returns its record as it is and writes nothing: nothing changed, so updatedAtMs stays when it last did, and
   * a repeated cordon (a retried RPC, a script run twice) costs no write.
   */
  setCordoned(hiveId: string, cordoned: boolean): CatalogRecord {
    const current = this.require(hiveId);
    if (current.cordoned === cordoned) return current;
    const record: CatalogRecord = {
      ...current,
      cordoned,
      updatedAtMs: Math.max(this.wallNow(), current.updatedAtMs),
    };
    this.commit(record);
    return record;
  }

  /** Removes a hive (its tokens go with it); false when absent. Committed before returning. */
  deregister(hiveId: string): boolean {
    if (!this.records.has(hiveId)) return false;
    // A hive that joined by heartbeat may have no row yet: deleting nothing on disk is fine.
    this.store.delete(hiveId);
    this.records.delete(hiveId);
    this.dirty.delete(hiveId);
    this.tokens.forgetHive(hiveId);
    this.sortedIds = undefined;
    return true;
  }

  /** A new token for a catalog hive's Heartbeat stream; not_found when absent. Committed before returning. */
  issueToken(hiveId: string): IssuedToken {
    const record = this.require(hiveId);
    // A hive that joined by heartbeat may have no row yet, and the token's row refers to it.
    if (this.dirty.has(hiveId)) this.commit(record);
    return this.tokens.issue(hiveId);
  }

  /** Revokes one of a hive's tokens; false when it has no such live token. Committed before returning. */
  revokeToken(hiveId: string, tokenId: string): boolean {
    return this.tokens.revoke(hiveId, tokenId);
  }

  /** A catalog hive's live tokens, oldest first; not_found when the hive is absent. */
  listTokens(hiveId: string): HiveTokenRecord[] {
    this.require(hiveId);
    return this.tokens.list(hiveId);
  }

  /**
   * Why a heartbeat stream for `hiveId` may not bind to it, or undefined when it may: in required registration,
   * a hive must be in the catalog; in open registration, a new hive needs room in it.
   */
  refusal(hiveId: string): AdmissionRefusal | undefined {
    return admissionRefusal(hiveId, this.records.has(hiveId), this.full, this.registration, this.options.maxHives);
  }

  private get full(): boolean {
    return this.records.size >= (this.options.maxHives ?? Number.POSITIVE_INFINITY);
  }

  /**
   * A heartbeat from `hiveId` was accepted at `wallMs` on a stream from `peer`: memory only, written by the next
   * flush. In open registration an unknown hive joins the catalog here; in required registration it is ignored
   * (it was refused before reaching the registry, or deregistered since).
   */
  seen(hiveId: string, wallMs: number, peer: string): void {
    const current = this.records.get(hiveId);
    if (current === undefined) {
      if (this.registration !== 'open') return;
      this.records.set(hiveId, {
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
      this.records.set(hiveId, { ...current, lastSeenMs, lastPeer: peer });
    }
    this.dirty.add(hiveId);
  }

  /**
   * Writes every hive changed by heartbeats since the last flush, and every hive token's last use, in one
   * transaction; returns how many rows that was. Nothing dirty: no transaction at all. On failure throws
   * DomainError('unavailable') and keeps them for the next flush.
   */
  flush(): number {
    if (this.pendingWrites === 0) return 0;
    const records: CatalogRecord[] = [];
    for (const id of this.dirty) {
      const record = this.records.get(id);
      if (record !== undefined) records.push(record);
    }
    const uses = this.tokens.pendingUses();
    this.store.saveAll(records, uses);
    this.dirty.clear();
    this.tokens.written(uses);
    return records.length + uses.length;
  }

  /** Closes the database. The caller flushes first. */
  close(): void {
    this.store.close();
  }

  private require(hiveId: string): CatalogRecord {
    const record = this.records.get(hiveId);
    if (record === undefined) throw notFound(hiveId);
    return record;
  }

  /** Writes the whole record (with its latest last_seen, so it is no longer dirty), then keeps it in memory. */
  private commit(record: CatalogRecord): void {
    this.store.save(record);
    if (!this.records.has(record.hiveId)) this.sortedIds = undefined;
    this.records.set(record.hiveId, record);
    this.dirty.delete(record.hiveId);
  }
}
