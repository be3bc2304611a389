import type { Logger } from 'pino';
import type { EtcdEntry, EtcdStore, EtcdWatch } from './etcd-store.js';

/** What a mirror tells its owner: the whole range after each listing, then each change. */
export interface MirrorHandler {
  /** The range as listed (sorted by key): the handler replaces what it had, keys missing here are gone. */
  reset(entries: readonly EtcdEntry[]): void;
  put(entry: EtcdEntry): void;
  /** `modRevision`: the revision of the delete. */
  delete(key: string, modRevision: bigint): void;
}

/** Waits between failed listings: from the first, doubling to the cap. */
const LIST_RETRY_FIRST_MS = 200;
const LIST_RETRY_CAP_MS = 2_000;

/**
 * Keeps a handler in step with every key under a prefix, the way etcd's own clients do it: list the prefix, then
 * watch from the listing's revision + 1. The watch resumes by itself after a broken stream (from the revision after
 * the last event delivered); after a compaction it cannot, so the mirror lists again and starts a new watch.
 * `relist` does the same on demand (a queen back from a partition wants a fresh view, not a replay).
 */
export class PrefixMirror {
  private watch: EtcdWatch | undefined;
  private stopped = false;
  /** The retry wait of a listing, and how to end it early (a relist or stop supersedes the listing). */
  private retry: { readonly timer: NodeJS.Timeout; readonly wake: () => void } | undefined;
  private generation = 0;
  /** The listing of the current generation: a superseded one's caller waits for it instead. */
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EtcdStore,
    readonly prefix: string,
    private readonly handler: MirrorHandler,
    private readonly logger: Logger,
  ) {}

  /**
   * Lists and starts watching; resolves once the first listing is applied (retrying until etcd answers), or the
   * listing of a `relist` meanwhile, or at `stop`.
   */
  start(): Promise<void> {
    return this.follow(this.generation);
  }

  /** Drops the watch, lists again and watches from there; resolves once the listing is applied (or at `stop`). */
  relist(): Promise<void> {
    this.generation += 1;
    this.watch?.cancel();
    this.watch = undefined;
    this.endRetryWait();
    return this.follow(this.generation);
  }

  stop(): void {
    this.stopped = true;
    this.generation += 1;
    this.watch?.cancel();
    this.watch = undefined;
    this.endRetryWait();
  }

  /** Lists for `generation`; when a relist supersedes it, resolves with the newer listing instead. */
  private follow(generation: number): Promise<void> {
    const syncing: Promise<void> = this.sync(generation).then(() =>
      this.stopped || generation === this.generation ? undefined : this.syncing,
    );
    this.syncing = syncing;
    return syncing;
  }

  /** Ends a retry wait at once, so the superseded listing loop sees its generation is over and returns. */
  private endRetryWait(): void {
    const retry = this.retry;
    if (retry === undefined) return;
    this.retry = undefined;
    clearTimeout(retry.timer);
    retry.wake();
  }

  private async sync(generation: number): Promise<void> {
    let retryMs = LIST_RETRY_FIRST_MS;
    for (;;) {
      if (this.stopped || generation !== this.generation) return;
      try {
        const listing = await this.store.list(this.prefix);
        if (this.stopped || generation !== this.generation) return;
        this.handler.reset(listing.entries);
        this.startWatch(listing.revision + 1n, generation);
        return;
      } catch (error) {
        if (this.stopped || generation !== this.generation) return;
        this.logger.debug({ prefix: this.prefix, err: error }, 'etcd listing failed; retrying');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            if (this.retry?.timer === timer) this.retry = undefined;
            resolve();
          }, retryMs);
          timer.unref();
          this.retry = { timer, wake: resolve };
        });
        retryMs = Math.min(retryMs * 2, LIST_RETRY_CAP_MS);
      }
    }
  }

  private startWatch(fromRevision: bigint, generation: number): void {
    this.watch = this.store.watch(this.prefix, fromRevision, {
      events: (events) => {
        if (generation !== this.generation) return;
        for (const event of events) {
          if (event.type === 'put') this.handler.put(event.entry);
          else this.handler.delete(event.entry.key, event.entry.modRevision);
        }
      },
      compacted: (compactRevision) => {
        if (generation !== this.generation) return;
        this.logger.warn(
          { prefix: this.prefix, compactRevision: compactRevision.toString() },
          'etcd compacted the revisions this watch needed: listing again',
        );
        void this.relist();
      },
      interrupted: (error) => {
        if (generation !== this.generation) return;
        this.logger.debug({ prefix: this.prefix, err: error.message }, 'etcd watch interrupted; resuming');
      },
    });
  }
}
