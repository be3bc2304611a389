import type {
  EtcdCompare,
  EtcdEntry,
  EtcdKeepAlive,
  EtcdKeepAliveListener,
  EtcdListing,
  EtcdOp,
  EtcdStore,
  EtcdTxnResult,
  EtcdWatch,
  EtcdWatchListener,
} from '../../src/federation/etcd-store';

interface ProxiedWatch {
  readonly prefix: string;
  readonly listener: EtcdWatchListener;
  /** The revision to resume from: the one after the last event delivered. */
  next: bigint;
  inner: EtcdWatch | undefined;
  cancelled: boolean;
}

/**
 * An EtcdStore passing every call to a real one, that counts transactions and can cut its watches and restore them
 * later from where they were: what a long network break does to one queen's watch while others go on writing.
 */
export class EtcdStoreProxy implements EtcdStore {
  /** Transactions sent (committed or not). */
  txns = 0;
  private readonly watches: ProxiedWatch[] = [];

  constructor(private readonly inner: EtcdStore) {}

  get endpoints(): readonly string[] {
    return this.inner.endpoints;
  }

  get timeoutMs(): number {
    return this.inner.timeoutMs;
  }

  get(key: string): Promise<EtcdEntry | undefined> {
    return this.inner.get(key);
  }

  list(prefix: string): Promise<EtcdListing> {
    return this.inner.list(prefix);
  }

  txn(compare: readonly EtcdCompare[], success: readonly EtcdOp[], failure?: readonly EtcdOp[]): Promise<EtcdTxnResult> {
    this.txns += 1;
    return this.inner.txn(compare, success, failure);
  }

  put(key: string, value: Buffer | string, lease?: string): Promise<bigint> {
    return this.inner.put(key, value, lease);
  }

  delete(key: string): Promise<number> {
    return this.inner.delete(key);
  }

  grantLease(ttlSeconds: number): Promise<string> {
    return this.inner.grantLease(ttlSeconds);
  }

  revokeLease(lease: string): Promise<void> {
    return this.inner.revokeLease(lease);
  }

  keepAlive(lease: string, intervalMs: number, listener: EtcdKeepAliveListener): EtcdKeepAlive {
    return this.inner.keepAlive(lease, intervalMs, listener);
  }

  watch(prefix: string, fromRevision: bigint, listener: EtcdWatchListener): EtcdWatch {
    const watch: ProxiedWatch = { prefix, listener, next: fromRevision, inner: undefined, cancelled: false };
    this.watches.push(watch);
    this.open(watch);
    return {
      cancel: () => {
        watch.cancelled = true;
        watch.inner?.cancel();
        watch.inner = undefined;
      },
    };
  }

  /** Cuts every running watch: nothing is delivered until `restoreWatches`. */
  cutWatches(): void {
    for (const watch of this.watches) {
      watch.inner?.cancel();
      watch.inner = undefined;
    }
  }

  /** Reopens the watches cut, each from the revision after the last event it delivered. */
  restoreWatches(): void {
    for (const watch of this.watches) if (!watch.cancelled && watch.inner === undefined) this.open(watch);
  }

  close(): void {
    this.inner.close();
  }

  private open(watch: ProxiedWatch): void {
    watch.inner = this.inner.watch(watch.prefix, watch.next, {
      events: (events) => {
        const last = events[events.length - 1];
        if (last !== undefined) watch.next = last.entry.modRevision + 1n;
        watch.listener.events(events);
      },
      compacted: (compactRevision) => {
        watch.cancelled = true;
        watch.inner = undefined;
        watch.listener.compacted(compactRevision);
      },
      interrupted: (error) => watch.listener.interrupted?.(error),
      connected: () => watch.listener.connected?.(),
    });
  }
}
