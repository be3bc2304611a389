// The little of etcd a federation needs, as our own interface: the catalog's etcd store, the lease keeper, the
// publisher and the mirror are written against it, and only `etcd3-store.ts` knows the client library behind it.

/** One key as etcd holds it. Revisions are etcd's int64, as bigint. */
export interface EtcdEntry {
  readonly key: string;
  readonly value: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  /** The lease the key is attached to, '0' for none (etcd's int64 id as a decimal string). */
  readonly lease: string;
}

/** A consistent read of a key range: its entries and the store's revision they are as of. */
export interface EtcdListing {
  readonly revision: bigint;
  /** Sorted by key. */
  readonly entries: readonly EtcdEntry[];
}

/** One predicate of a transaction: a key's create or mod revision, value or lease compared to a constant. */
export type EtcdCompare =
  | { readonly key: string; readonly target: 'create' | 'mod'; readonly op: '=' | '!=' | '<' | '>'; readonly revision: bigint }
  | { readonly key: string; readonly target: 'value'; readonly op: '=' | '!='; readonly value: Buffer | string }
  | { readonly key: string; readonly target: 'lease'; readonly op: '=' | '!='; readonly lease: string };

/** One operation of a transaction. A transaction may not touch one key twice. */
export type EtcdOp =
  | { readonly put: string; readonly value: Buffer | string; readonly lease?: string }
  | { readonly delete: string }
  | { readonly deletePrefix: string }
  | { readonly get: string };

/** What a transaction did: which branch ran, at which revision, and what its `get`s read (in order). */
export interface EtcdTxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the transaction (the mod revision of what it put). */
  readonly revision: bigint;
  /** One per `get` op of the branch that ran, in order; undefined where the key was absent. */
  readonly gets: readonly (EtcdEntry | undefined)[];
}

/** One change seen by a watch. */
export interface EtcdEvent {
  readonly type: 'put' | 'delete';
  /** For a delete: the key, and `modRevision` the revision of the delete; value empty. */
  readonly entry: EtcdEntry;
}

/** Told of everything a watch sees, in revision order. */
export interface EtcdWatchListener {
  /** Events of one or more revisions, in order; never empty. */
  events(events: readonly EtcdEvent[]): void;
  /**
   * The watch cannot go on from where it was: the revisions it needed were compacted. The watch is over; the
   * listener lists again and watches from that listing's revision + 1.
   */
  compacted(compactRevision: bigint): void;
  /**
   * The stream to etcd broke (etcd unreachable, restarted). The watch goes on by itself from the revision after
   * the last event it delivered, so no event is lost or repeated; this is for logs and health.
   */
  interrupted?(error: Error): void;
  /** The watch is established (first time and after each interruption). */
  connected?(): void;
}

/** A running watch. */
export interface EtcdWatch {
  /** Stops it; no listener call follows. */
  cancel(): void;
}

/** A lease's keep-alive stream, kept open until closed. */
export interface EtcdKeepAlive {
  /** Stops keeping the lease alive (does not revoke it). */
  close(): void;
}

/** Told of what a lease's keep-alive stream learns. */
export interface EtcdKeepAliveListener {
  /** etcd renewed the lease: it has `ttlSeconds` left. */
  renewed(ttlSeconds: number): void;
  /** etcd says the lease is gone (expired or revoked): keys under it are deleted. */
  gone(): void;
  /** The stream broke; keep-alives resume by themselves once etcd answers. */
  interrupted?(error: Error): void;
}

/**
 * etcd as the federation uses it. Every call has a deadline (the store's timeout) and rejects with
 * `EtcdUnavailableError` when etcd does not answer within it, or answers with an error.
 */
export interface EtcdStore {
  /** The endpoints, for logs. */
  readonly endpoints: readonly string[];
  /** The deadline of every call, in ms (for messages that say how long etcd was given). */
  readonly timeoutMs: number;
  get(key: string): Promise<EtcdEntry | undefined>;
  /** Every key starting with `prefix`, consistent at one revision. */
  list(prefix: string): Promise<EtcdListing>;
  /** The compares all hold: `success` runs; else `failure` (default none). */
  txn(compare: readonly EtcdCompare[], success: readonly EtcdOp[], failure?: readonly EtcdOp[]): Promise<EtcdTxnResult>;
  /** Puts one key; resolves with the revision it got. */
  put(key: string, value: Buffer | string, lease?: string): Promise<bigint>;
  /** Deletes one key; resolves with how many were deleted (0 or 1). */
  delete(key: string): Promise<number>;
  /** A new lease of `ttlSeconds`; resolves with its id. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Revokes a lease: every key under it is deleted. A lease already gone is not an error. */
  revokeLease(lease: string): Promise<void>;
  /**
   * Keeps `lease` alive over one stream, sending a keep-alive every `intervalMs`, reopening the stream after a
   * break. Ends by itself (after `gone`) once etcd says the lease is gone.
   */
  keepAlive(lease: string, intervalMs: number, listener: EtcdKeepAliveListener): EtcdKeepAlive;
  /** Watches every key under `prefix` from `fromRevision` (inclusive). */
  watch(prefix: string, fromRevision: bigint, listener: EtcdWatchListener): EtcdWatch;
  /** Cancels every watch and keep-alive and closes the connections. */
  close(): void;
}

/** etcd did not answer in time, or refused the call. */
export class EtcdUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EtcdUnavailableError';
  }
}

/** The key just after every key with `prefix`: the end of a prefix range, as etcd takes it. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i -= 1) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: the range runs to the end of the key space.
  return Buffer.from([0]);
}
