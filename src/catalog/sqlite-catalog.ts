import type { Catalog, RemoteCatalogChange, TokenDirectory } from './catalog.js';
import { CatalogStore } from './catalog-store.js';
import { HiveCatalog, type CatalogOptions } from './hive-catalog.js';
import type { IssuedToken } from './hive-tokens.js';
import type { Labels } from './labels.js';
import type { AdmissionRefusal, CatalogPatch, CatalogRecord, HiveTokenRecord, RegistrationMode } from './types.js';

/** Runs a synchronous write: its result, or what it threw (a DomainError), as a settled promise. */
function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The catalog of one queen, in a SQLite file (or `:memory:`): the `Catalog` interface over `HiveCatalog`, which
 * stays synchronous (every write is committed by the time its promise exists). Nobody else writes the file while
 * the queen runs, so there are no remote changes, and `last_seen` is written by every flush whether or not the
 * hive's stream ended.
 */
export class SqliteCatalog implements Catalog {
  constructor(
    /** The synchronous catalog underneath, for tools and tests that want it directly. */
    readonly hives: HiveCatalog,
  ) {}

  /**
   * Opens (creating it and its folder if needed) the catalog file at `path`, or an in-memory one for `:memory:`.
   * Throws CatalogOpenError naming the path when it cannot be used.
   */
  static open(
    path: string,
    wallNow: () => number,
    registration: RegistrationMode,
    options: CatalogOptions = {},
  ): SqliteCatalog {
    return new SqliteCatalog(new HiveCatalog(CatalogStore.open(path, wallNow()), wallNow, registration, options));
  }

  get registration(): RegistrationMode {
    return this.hives.registration;
  }

  /** The file path as given, or `:memory:`. */
  get location(): string {
    return this.hives.path;
  }

  get size(): number {
    return this.hives.size;
  }

  get pendingWrites(): number {
    return this.hives.pendingWrites;
  }

  get writeTransactions(): number {
    return this.hives.writeTransactions;
  }

  get tokens(): TokenDirectory {
    return this.hives.tokens;
  }

  get(hiveId: string): CatalogRecord | undefined {
    return this.hives.get(hiveId);
  }

  list(selector?: Labels): CatalogRecord[] {
    return this.hives.list(selector);
  }

  listTokens(hiveId: string): HiveTokenRecord[] {
    return this.hives.listTokens(hiveId);
  }

  refusal(hiveId: string): AdmissionRefusal | undefined {
    return this.hives.refusal(hiveId);
  }

  register(hiveId: string, labels: Labels, description: string): Promise<CatalogRecord> {
    return settled(() => this.hives.register(hiveId, labels, description));
  }

  update(hiveId: string, patch: CatalogPatch): Promise<CatalogRecord> {
    return settled(() => this.hives.update(hiveId, patch));
  }

  setCordoned(hiveId: string, cordoned: boolean): Promise<CatalogRecord> {
    return settled(() => this.hives.setCordoned(hiveId, cordoned));
  }

  deregister(hiveId: string): Promise<boolean> {
    return settled(() => this.hives.deregister(hiveId));
  }

  issueToken(hiveId: string): Promise<IssuedToken> {
    return settled(() => this.hives.issueToken(hiveId));
  }

  revokeToken(hiveId: string, tokenId: string): Promise<boolean> {
    return settled(() => this.hives.revokeToken(hiveId, tokenId));
  }

  seen(hiveId: string, wallMs: number, peer: string): void {
    this.hives.seen(hiveId, wallMs, peer);
  }

  /** Nothing to do: every flush writes every hive changed by heartbeats. */
  streamEnded(_hiveId: string): void {}

  flush(): Promise<number> {
    return settled(() => this.hives.flush());
  }

  /** Nobody else writes the file while the queen runs: never called. */
  onRemoteChange(_listener: (change: RemoteCatalogChange) => void): () => void {
    return () => undefined;
  }

  close(): Promise<void> {
    return settled(() => this.hives.close());
  }
}
