import type { IssuedToken } from './hive-tokens.js';
import type { Labels } from './labels.js';
import type { AdmissionRefusal, CatalogPatch, CatalogRecord, HiveTokenRecord, RegistrationMode } from './types.js';

/** Where hive tokens are checked, by hash, and their use noted (memory only; written with the next flush). */
export interface TokenDirectory {
  /** Live tokens in all. */
  readonly size: number;
  /** The live token whose secret is `token`, or undefined. */
  verify(token: string): HiveTokenRecord | undefined;
  /** A stream opened with `tokenId` at `wallMs`. */
  used(tokenId: string, wallMs: number): void;
}

/** A change another queen made to a shared catalog, as this queen's copy learns it. */
export type RemoteCatalogChange =
  /** The hive's record as it now is, or undefined when it was deregistered. */
  | { readonly kind: 'hive'; readonly hiveId: string; readonly record: CatalogRecord | undefined }
  /** One of the hive's tokens was revoked (or went with its hive): streams opened with it must end. */
  | { readonly kind: 'token_revoked'; readonly hiveId: string; readonly tokenId: string };

/**
 * The durable catalog of hives, behind one interface with two stores: SQLite (one queen, the embedded default) and
 * etcd (a federation). Reads and admission are served from memory; operator writes are committed to the store
 * before they resolve (a failed write rejects and changes nothing); heartbeats only note `last_seen` in memory,
 * written by `flush`.
 *
 * Writes reject with DomainError: `not_found`, `already_exists`, `limit_exceeded`, and `unavailable` when the store
 * did not commit (disk refused, etcd unreachable or slower than its timeout).
 */
export interface Catalog {
  readonly registration: RegistrationMode;
  /** Where the catalog lives, for logs: a file path, `:memory:`, or `etcd <endpoints> <prefix>`. */
  readonly location: string;
  /** Hives in the catalog. */
  readonly size: number;
  /** Hives (and tokens' last use) changed by heartbeats and not yet written. */
  readonly pendingWrites: number;
  /** Write transactions committed so far by this queen. */
  readonly writeTransactions: number;
  readonly tokens: TokenDirectory;

  get(hiveId: string): CatalogRecord | undefined;
  /** Hives whose labels match every entry of `selector` (empty: all), sorted by hive id. */
  list(selector?: Labels): CatalogRecord[];
  /** A catalog hive's live tokens, oldest first; throws not_found when the hive is absent. */
  listTokens(hiveId: string): HiveTokenRecord[];
  /** Why a heartbeat stream for `hiveId` may not bind to it, or undefined when it may. */
  refusal(hiveId: string): AdmissionRefusal | undefined;

  register(hiveId: string, labels: Labels, description: string): Promise<CatalogRecord>;
  update(hiveId: string, patch: CatalogPatch): Promise<CatalogRecord>;
  /** Asking for the state the hive is already in writes nothing and resolves with its record. */
  setCordoned(hiveId: string, cordoned: boolean): Promise<CatalogRecord>;
  /** False when absent. Its tokens go with it. */
  deregister(hiveId: string): Promise<boolean>;
  issueToken(hiveId: string): Promise<IssuedToken>;
  /** False when the hive has no such live token. */
  revokeToken(hiveId: string, tokenId: string): Promise<boolean>;

  /** A heartbeat from `hiveId` was accepted at `wallMs` on a stream from `peer` (memory only). */
  seen(hiveId: string, wallMs: number, peer: string): void;
  /** The hive's stream on this queen ended: its `last_seen` is written by the next flush. */
  streamEnded(hiveId: string): void;
  /** Writes what heartbeats changed; resolves with how many records that was. Rejects `unavailable` and keeps them. */
  flush(): Promise<number>;

  /** Changes made elsewhere (another queen of a federation); never called for a single queen's own writes. */
  onRemoteChange(listener: (change: RemoteCatalogChange) => void): () => void;
  /** Closes the store. The caller flushes first. */
  close(): Promise<void>;
}
