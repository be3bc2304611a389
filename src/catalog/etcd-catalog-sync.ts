import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import type {
  EtcdCompare,
  EtcdEntry,
  EtcdListing,
  EtcdOp,
  EtcdStore,
  EtcdTxnResult,
  EtcdWatch,
} from '../federation/etcd-store.js';
import type { RemoteCatalogChange } from './catalog.js';
import type { Timers } from './checkpointer.js';
import type { EtcdCatalogCache } from './etcd-catalog-cache.js';
import { deleteFact, putFact, type CatalogFact, type CatalogKeys } from './etcd-catalog-keys.js';

const RELIST_FIRST_MS = 100;
const RELIST_CAP_MS = 5_000;

/**
 * Keeps the etcd catalog's memory in step with etcd, and runs this queen's writes to it.
 *
 * - Learning: a listing, then a watch from its revision + 1; after a compaction the catalog is listed again (retried
 *   with backoff while etcd does not answer), every difference is learned, and the watch goes on from that listing.
 *   What another queen changed is reported to the listeners.
 * - Writing: this queen's writes to one hive run one at a time (`serialized`), each one transaction. While a hive
 *   is written, the watch's news of it waits and is learned after the write's answer: this queen's own change is
 *   then already known, so it is never reported back to it as another queen's.
 */
export class EtcdCatalogSync {
  private readonly listeners = new Set<(change: RemoteCatalogChange) => void>();
  /** Hives with a write of this queen in flight or queued: the end of each one's queue. */
  private readonly writing = new Map<string, Promise<void>>();
  /** News of hives being written, learned once their writes are done. */
  private readonly deferred = new Map<string, CatalogFact[]>();
  private watch: EtcdWatch | undefined;
  private relistTimer: unknown;
  private relistFailures = 0;
  private committed = 0;
  private closed = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly cache: EtcdCatalogCache,
    private readonly keys: CatalogKeys,
    private readonly timers: Timers,
    private readonly logger: Logger | undefined,
  ) {}

  /** Transactions committed so far. */
  get writeTransactions(): number {
    return this.committed;
  }

  /** Lists the catalog, then watches it from there. Rejects (EtcdUnavailableError) when etcd does not answer. */
  async start(): Promise<void> {
    const listing = await this.store.list(this.keys.root);
    this.learnListing(listing);
    this.startWatch(listing.revision + 1n);
  }

  /** Stops watching (the EtcdStore stays open). */
  close(): void {
    this.closed = true;
    this.watch?.cancel();
    this.watch = undefined;
    if (this.relistTimer !== undefined) this.timers.clearTimeout(this.relistTimer);
    this.relistTimer = undefined;
  }

  onChange(listener: (change: RemoteCatalogChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether a write of this queen to `hiveId` is in flight or queued. */
  isWriting(hiveId: string): boolean {
    return this.writing.has(hiveId);
  }

  /** Runs `work` once this queen's earlier writes to `hiveId` are done; the hive's news waits meanwhile. */
  async serialized<T>(hiveId: string, work: () => Promise<T>): Promise<T> {
    const { ready, release } = this.hold(hiveId);
    try {
      await ready;
      return await work();
    } finally {
      release();
    }
  }

  /**
   * Queues a write to `hiveId`: `ready` once the earlier ones are done; `release` when this one is, which learns
   * the news of the hive that waited if no other write is queued.
   */
  hold(hiveId: string): { ready: Promise<void>; release: () => void } {
    const previous = this.writing.get(hiveId);
    let finish!: () => void;
    const mine = new Promise<void>((resolve) => (finish = resolve));
    const tail = previous === undefined ? mine : previous.then(() => mine);
    this.writing.set(hiveId, tail);
    const release = (): void => {
      finish();
      if (this.writing.get(hiveId) !== tail) return;
      this.writing.delete(hiveId);
      const facts = this.deferred.get(hiveId);
      this.deferred.delete(hiveId);
      for (const fact of facts ?? []) this.learn(fact);
    };
    return { ready: previous ?? Promise.resolve(), release };
  }

  /** One transaction. Rejects DomainError('unavailable') naming etcd and its timeout when etcd did not commit it. */
  async commit(compare: EtcdCompare[], success: EtcdOp[], failure: EtcdOp[] = []): Promise<EtcdTxnResult> {
    let result: EtcdTxnResult;
    try {
      result = await this.store.txn(compare, success, failure);
    } catch (error) {
      // catalog/ takes only types from federation/, so the error is known by its name, not its class.
      if (!(error instanceof Error) || error.name !== 'EtcdUnavailableError') throw error;
      throw new DomainError(
        'unavailable',
        `catalog: etcd (${this.store.endpoints.join(',')}) did not commit the write within ${this.store.timeoutMs} ms (${error.message}); it may still apply later; retry`,
      );
    }
    if (result.succeeded) this.committed += 1;
    return result;
  }

  /** What etcd answered about `key` in a lost transaction: `entry`, or absent as of `revision`. */
  learnEntry(key: string, entry: EtcdEntry | undefined, revision: bigint): void {
    const fact = entry === undefined ? deleteFact(this.keys, key, revision) : this.readable(entry);
    if (fact !== undefined) this.learn(fact);
  }

  /** Applies what another queen did (or what this queen read) and tells the listeners what readers see change. */
  learn(fact: CatalogFact): void {
    const change = this.cache.apply(fact);
    if (change === undefined) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        this.logger?.error({ hiveId: change.hiveId, err: error }, 'a catalog change listener failed');
      }
    }
  }

  /** News from the watch or a listing: learned now, or after this queen's write to its hive. */
  private receive(fact: CatalogFact): void {
    if (!this.writing.has(fact.hiveId)) {
      this.learn(fact);
      return;
    }
    const facts = this.deferred.get(fact.hiveId);
    if (facts === undefined) this.deferred.set(fact.hiveId, [fact]);
    else facts.push(fact);
  }

  /** A put's news; a value only a hand edit can have written is skipped (this queen keeps what it knew). */
  private readable(entry: EtcdEntry): CatalogFact | undefined {
    const fact = putFact(this.keys, entry);
    if (typeof fact !== 'string') return fact;
    this.logger?.warn({ key: entry.key, problem: fact }, 'catalog entry in etcd ignored: it does not parse');
    return undefined;
  }

  /** Every key of a listing as of its revision; every key known here but missing from it, deleted. */
  private learnListing(listing: EtcdListing): void {
    const hives = new Set<string>();
    const tokens = new Set<string>();
    for (const entry of listing.entries) {
      const key = this.keys.parse(entry.key);
      if (key?.kind === 'hive') hives.add(key.hiveId);
      if (key?.kind === 'token') tokens.add(key.tokenId);
      const fact = this.readable(entry);
      if (fact !== undefined) this.receive(fact);
    }
    const revision = listing.revision;
    for (const hiveId of this.cache.storedHiveIds()) {
      if (!hives.has(hiveId)) this.receive({ kind: 'hive', hiveId, record: undefined, revision });
    }
    for (const { hiveId, tokenId } of this.cache.storedTokenIds()) {
      if (!tokens.has(tokenId)) this.receive({ kind: 'token', hiveId, tokenId, record: undefined, revision });
    }
    this.cache.forgetTombstones(revision, (hiveId) => this.writing.has(hiveId));
  }

  private startWatch(fromRevision: bigint): void {
    if (this.closed) return;
    this.watch = this.store.watch(this.keys.root, fromRevision, {
      events: (events) => {
        for (const event of events) {
          const fact =
            event.type === 'delete'
              ? deleteFact(this.keys, event.entry.key, event.entry.modRevision)
              : this.readable(event.entry);
          if (fact !== undefined) this.receive(fact);
        }
        const last = events[events.length - 1]?.entry.modRevision ?? 0n;
        this.cache.forgetTombstones(last, (hiveId) => this.writing.has(hiveId));
      },
      compacted: (compactRevision) => {
        this.logger?.warn(
          { compactRevision: String(compactRevision) },
          'catalog watch fell behind a compaction of etcd; listing the catalog again',
        );
        this.watch = undefined;
        this.relist();
      },
      interrupted: (error) =>
        this.logger?.warn({ err: error.message }, 'catalog watch interrupted; it resumes by itself'),
    });
  }

  private relist(): void {
    if (this.closed) return;
    this.store.list(this.keys.root).then(
      (listing) => {
        if (this.closed) return;
        this.relistFailures = 0;
        this.learnListing(listing);
        this.startWatch(listing.revision + 1n);
      },
      (error: unknown) => {
        if (this.closed) return;
        this.relistFailures += 1;
        const retryInMs = Math.min(RELIST_FIRST_MS * 2 ** Math.min(this.relistFailures - 1, 20), RELIST_CAP_MS);
        const err = error instanceof Error ? error.message : String(error);
        this.logger?.warn({ err, retryInMs }, 'listing the catalog in etcd failed; retrying');
        this.relistTimer = this.timers.setTimeout(() => {
          this.relistTimer = undefined;
          this.relist();
        }, retryInMs);
      },
    );
  }
}
