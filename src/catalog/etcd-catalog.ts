import { registeredRecord } from './catalog-records.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import type { EtcdOp, EtcdStore } from '../federation/etcd-store.js';
import { quote } from '../registry/ids.js';
import type { Catalog, RemoteCatalogChange, TokenDirectory } from './catalog.js';
import { admissionRefusal, alreadyExists, catalogFull, notFound } from './catalog-rules.js';
import { nodeTimers, type Timers } from './checkpointer.js';
import { EtcdCatalogCache } from './etcd-catalog-cache.js';
import { flushSightings } from './etcd-catalog-flush.js';
import { absent, CatalogKeys, encodeHive, encodeToken, present, unchangedSince } from './etcd-catalog-keys.js';
import { EtcdCatalogSync } from './etcd-catalog-sync.js';
import { newHiveToken, tokenSha256, type IssuedToken } from './hive-tokens.js';
import { normalizeLabels, type Labels } from './labels.js';
import type { AdmissionRefusal, CatalogPatch, CatalogRecord, HiveTokenRecord, RegistrationMode } from './types.js';

export interface EtcdCatalogOptions {
  /** The federation's key prefix (`/hive-registry/`); the catalog lives under `<prefix>catalog/`. Ends with '/'. */
  readonly prefix: string;
  readonly registration: RegistrationMode;
  /** Most hives in the catalog (RegisterHive and open admission refuse more); default none. */
  readonly maxHives?: number;
  /** Wall-clock epoch ms: created/updated times, and the pace of `last_seen` writes. */
  readonly wallNow: () => number;
  /** Where token secrets come from (default: the system's CSPRNG). */
  readonly random?: (size: number) => Buffer;
  readonly logger?: Logger;
  /**
   * Least time between two writes of one hive's `last_seen` (or one token's last use) by this queen while the hive
   * stays online, in ms; default 30,000. Its first sighting here and the end of its stream are written at the next
   * flush regardless.
   */
  readonly seenWriteIntervalMs?: number;
  /** For the re-list retry after a failed re-list (default: Node's, unref'd). */
  readonly timers?: Timers;
}

const DEFAULT_SEEN_WRITE_INTERVAL_MS = 30_000;
/** Tries of one operator write whose key another queen keeps changing meanwhile. */
const MAX_WRITE_ATTEMPTS = 5;

/**
 * The catalog of a federation, in etcd: every record and token (as its hash) in memory, kept current by a watch
 * (list, then watch from that revision + 1; after a compaction, list again and diff). Reads and admission answer
 * from memory, also while etcd is unreachable. Every write is one etcd transaction, committed before its promise
 * resolves, guarded by a compare (create-if-absent, or unchanged since the revision this queen knows): when
 * another queen wrote the key meanwhile, the record is read again and the change re-applied, so two queens never
 * lose each other's fields. This queen's writes to one hive run one at a time, and watch events for a hive being
 * written wait for the write, so its own changes are never reported back as remote ones.
 *
 * Heartbeats only change memory; `flush` writes a hive's `last_seen` when its stream on this queen ended and
 * otherwise at most every `seenWriteIntervalMs`, and a token's last use likewise.
 */
export class EtcdCatalog implements Catalog {
  readonly tokens: TokenDirectory;
  private readonly cache = new EtcdCatalogCache();
  private readonly keys: CatalogKeys;
  private readonly sync: EtcdCatalogSync;
  private readonly random: (size: number) => Buffer;

  private constructor(
    private readonly store: EtcdStore,
    private readonly options: EtcdCatalogOptions,
  ) {
    if (!options.prefix.endsWith('/')) throw new RangeError(`prefix: must end with "/", got ${quote(options.prefix)}`);
    this.keys = new CatalogKeys(options.prefix);
    this.random = options.random ?? randomBytes;
    this.sync = new EtcdCatalogSync(store, this.cache, this.keys, options.timers ?? nodeTimers, options.logger);
    const cache = this.cache;
    this.tokens = {
      get size() {
        return cache.tokenCount;
      },
      verify: (token) => cache.tokenByHash(tokenSha256(token).toString('hex')),
      used: (tokenId, wallMs) => cache.used(tokenId, wallMs),
    };
  }

  /** Lists the catalog, then watches it from there. Rejects (EtcdUnavailableError) when etcd does not answer. */
  static async open(store: EtcdStore, options: EtcdCatalogOptions): Promise<EtcdCatalog> {
    const catalog = new EtcdCatalog(store, options);
    await catalog.sync.start();
    return catalog;
  }

  get registration(): RegistrationMode {
    return this.options.registration;
  }

  get location(): string {
    return `etcd ${this.store.endpoints.join(',')} ${this.options.prefix}`;
  }

  get size(): number {
    return this.cache.size;
  }

  get pendingWrites(): number {
    return this.cache.seenChanged.size + this.cache.useChanged.size;
  }

  get writeTransactions(): number {
    return this.sync.writeTransactions;
  }

  get(hiveId: string): CatalogRecord | undefined {
    return this.cache.get(hiveId);
  }

  list(selector: Labels = {}): CatalogRecord[] {
    return this.cache.list(selector);
  }

  listTokens(hiveId: string): HiveTokenRecord[] {
    if (this.cache.get(hiveId) === undefined) throw notFound(hiveId);
    return this.cache.tokensOf(hiveId);
  }

  refusal(hiveId: string): AdmissionRefusal | undefined {
    const known = this.cache.get(hiveId) !== undefined;
    return admissionRefusal(hiveId, known, this.full, this.options.registration, this.options.maxHives);
  }

  private get full(): boolean {
    return this.cache.size >= (this.options.maxHives ?? Number.POSITIVE_INFINITY);
  }

  register(hiveId: string, labels: Labels, description: string): Promise<CatalogRecord> {
    return this.sync.serialized(hiveId, async () => {
      if (this.cache.get(hiveId) !== undefined) throw alreadyExists(hiveId);
      if (this.full) throw catalogFull(this.options.maxHives);
      const record = registeredRecord(hiveId, labels, description, this.options.wallNow());
      const key = this.keys.hive(hiveId);
      const result = await this.sync.commit([absent(key)], [{ put: key, value: encodeHive(record) }], [{ get: key }]);
      if (!result.succeeded) {
        this.sync.learnEntry(key, result.gets[0], result.revision);
        throw alreadyExists(hiveId);
      }
      this.cache.applyHive(hiveId, record, result.revision);
      return record;
    });
  }

  update(hiveId: string, patch: CatalogPatch): Promise<CatalogRecord> {
    return this.modify(hiveId, (current) => ({
      ...current,
      ...(patch.labels === undefined ? {} : { labels: normalizeLabels(patch.labels) }),
      ...(patch.description === undefined ? {} : { description: patch.description }),
      updatedAtMs: Math.max(this.options.wallNow(), current.updatedAtMs),
    }));
  }

  setCordoned(hiveId: string, cordoned: boolean): Promise<CatalogRecord> {
    return this.modify(hiveId, (current) =>
      current.cordoned === cordoned
        ? undefined
        : { ...current, cordoned, updatedAtMs: Math.max(this.options.wallNow(), current.updatedAtMs) },
    );
  }

  deregister(hiveId: string): Promise<boolean> {
    return this.sync.serialized(hiveId, async () => {
      if (this.cache.get(hiveId) === undefined) return false;
      const key = this.keys.hive(hiveId);
      const joinedHere = this.cache.storedHive(hiveId) === undefined;
      const tokens = this.keys.tokensOf(hiveId);
      const result = await this.sync.commit([present(key)], [{ delete: key }, { deletePrefix: tokens }]);
      if (!result.succeeded && !joinedHere) {
        // Deregistered by another queen meanwhile: news to this queen, not its own doing.
        this.sync.learn({ kind: 'hive', hiveId, record: undefined, revision: result.revision });
        return false;
      }
      // A hive that joined by heartbeat and was never written is simply forgotten.
      this.cache.applyHive(hiveId, undefined, result.revision);
      for (const token of this.cache.tokensOf(hiveId)) {
        this.cache.applyToken(hiveId, token.tokenId, undefined, result.revision);
      }
      return true;
    });
  }

  issueToken(hiveId: string): Promise<IssuedToken> {
    return this.sync.serialized(hiveId, async () => {
      for (let attempt = 1; ; attempt += 1) {
        const current = this.cache.get(hiveId);
        if (current === undefined) throw notFound(hiveId);
        const joinedHere = this.cache.storedHive(hiveId) === undefined;
        const { token, tokenId, sha256 } = newHiveToken(this.random);
        const record: HiveTokenRecord = { tokenId, hiveId, sha256, createdAtMs: this.options.wallNow() };
        const hiveKey = this.keys.hive(hiveId);
        const putToken: EtcdOp = { put: this.keys.token(hiveId, tokenId), value: encodeToken(record) };
        // The token's hive must be in etcd: a hive that joined by heartbeat is written with it.
        const putHive: EtcdOp = { put: hiveKey, value: encodeHive(current) };
        const result = joinedHere
          ? await this.sync.commit([absent(hiveKey)], [putHive, putToken], [{ get: hiveKey }])
          : await this.sync.commit([present(hiveKey)], [putToken], [{ get: hiveKey }]);
        if (result.succeeded) {
          if (joinedHere) this.cache.applyHive(hiveId, current, result.revision);
          this.cache.applyToken(hiveId, tokenId, record, result.revision);
          return { token, tokenId };
        }
        this.sync.learnEntry(hiveKey, result.gets[0], result.revision);
        if (attempt >= MAX_WRITE_ATTEMPTS) throw contended(hiveId);
      }
    });
  }

  revokeToken(hiveId: string, tokenId: string): Promise<boolean> {
    return this.sync.serialized(hiveId, async () => {
      const key = this.keys.token(hiveId, tokenId);
      const result = await this.sync.commit([present(key)], [{ delete: key }]);
      if (!result.succeeded) {
        // Not in etcd: if this queen still held it live, another queen revoked it (or its hive) meanwhile.
        if (this.cache.storedToken(tokenId)?.record.hiveId === hiveId) {
          this.sync.learn({ kind: 'token', hiveId, tokenId, record: undefined, revision: result.revision });
        }
        return false;
      }
      this.cache.applyToken(hiveId, tokenId, undefined, result.revision);
      return true;
    });
  }

  seen(hiveId: string, wallMs: number, peer: string): void {
    this.cache.seen(hiveId, wallMs, peer, this.options.registration === 'open');
  }

  streamEnded(hiveId: string): void {
    if (this.cache.seenChanged.has(hiveId)) this.cache.streamEnded.add(hiveId);
  }

  /**
   * Writes what heartbeats changed and is due. Never called again before the previous call settled: the
   * Checkpointer, its only caller, schedules a flush only once the last one is over.
   */
  flush(): Promise<number> {
    return flushSightings(this.sync, this.cache, this.keys, {
      now: this.options.wallNow(),
      intervalMs: this.options.seenWriteIntervalMs ?? DEFAULT_SEEN_WRITE_INTERVAL_MS,
    });
  }

  onRemoteChange(listener: (change: RemoteCatalogChange) => void): () => void {
    return this.sync.onChange(listener);
  }

  /** Stops watching. The EtcdStore stays open: it belongs to whoever opened it. */
  async close(): Promise<void> {
    this.sync.close();
  }

  /**
   * Applies `change` to the hive's current record and commits it, unless it answers undefined (nothing to change:
   * no write). A compare lost to another queen's write reads the record again and re-applies the change.
   */
  private modify(
    hiveId: string,
    change: (current: CatalogRecord) => CatalogRecord | undefined,
  ): Promise<CatalogRecord> {
    return this.sync.serialized(hiveId, async () => {
      for (let attempt = 1; ; attempt += 1) {
        // The view is etcd's record as this queen knows it, with this queen's newer last sighting.
        const current = this.cache.get(hiveId);
        if (current === undefined) throw notFound(hiveId);
        const next = change(current);
        if (next === undefined) return current;
        const stored = this.cache.storedHive(hiveId);
        const key = this.keys.hive(hiveId);
        const guard = stored === undefined ? absent(key) : unchangedSince(key, stored.revision);
        const result = await this.sync.commit([guard], [{ put: key, value: encodeHive(next) }], [{ get: key }]);
        if (result.succeeded) {
          this.cache.applyHive(hiveId, next, result.revision);
          return next;
        }
        this.sync.learnEntry(key, result.gets[0], result.revision);
        if (attempt >= MAX_WRITE_ATTEMPTS) throw contended(hiveId);
      }
    });
  }
}

function contended(hiveId: string): DomainError {
  return new DomainError(
    'unavailable',
    `catalog: hive ${quote(hiveId)} was changed in etcd by another queen during each of ${MAX_WRITE_ATTEMPTS} attempts to write it; retry`,
  );
}
