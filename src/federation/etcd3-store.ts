import { Etcd3, type IOptions } from 'etcd3';
import type { IDuplexStream, IKeyValue, IRequestOp, ICompare, IWatchRequest, IWatchResponse } from 'etcd3/lib/rpc.js';
import type { ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3/lib/rpc.js';
import { handleWhen, noop, retry } from 'cockatiel';
import { isRecoverableError } from 'etcd3/lib/errors.js';
import {
  EtcdUnavailableError,
  prefixEnd,
  type EtcdCompare,
  type EtcdEntry,
  type EtcdEvent,
  type EtcdKeepAlive,
  type EtcdKeepAliveListener,
  type EtcdListing,
  type EtcdOp,
  type EtcdStore,
  type EtcdTxnResult,
  type EtcdWatch,
  type EtcdWatchListener,
} from './etcd-store.js';

/** How to reach etcd. */
export interface Etcd3StoreOptions {
  /** Client URLs, `http://host:port` or `https://host:port`. */
  readonly endpoints: readonly string[];
  /** Deadline of every call, in ms. */
  readonly timeoutMs: number;
  /** TLS to etcd: the CA that signed its certificate, and a client certificate if etcd asks for one. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

/** First wait before reopening a broken watch or keep-alive stream; doubles up to the cap. */
const RETRY_FIRST_MS = 100;
const RETRY_CAP_MS = 2_000;

/** The largest answer accepted from etcd: the Go client's default (math.MaxInt32). */
const MAX_RECEIVE_BYTES = 2 ** 31 - 1;

const COMPARE_RESULT = { '=': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

function entryOf(kv: IKeyValue): EtcdEntry {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value,
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
    lease: kv.lease,
  };
}

function unavailable(what: string, error: unknown): EtcdUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new EtcdUnavailableError(`etcd ${what}: ${reason}`, { cause: error });
}

function compareOf(compare: EtcdCompare): ICompare {
  const key = Buffer.from(compare.key, 'utf8');
  const result = COMPARE_RESULT[compare.op];
  switch (compare.target) {
    case 'create':
      return { key, result, target: 'Create', create_revision: compare.revision.toString() };
    case 'mod':
      return { key, result, target: 'Mod', mod_revision: compare.revision.toString() };
    case 'value':
      return { key, result, target: 'Value', value: Buffer.from(compare.value) };
    case 'lease':
      return { key, result, target: 'Lease', lease: compare.lease };
  }
}

function opOf(op: EtcdOp): IRequestOp {
  if ('put' in op) {
    return {
      request_put: {
        key: Buffer.from(op.put, 'utf8'),
        value: Buffer.from(op.value),
        ...(op.lease === undefined ? {} : { lease: op.lease }),
      },
    };
  }
  if ('delete' in op) return { request_delete_range: { key: Buffer.from(op.delete, 'utf8') } };
  if ('deletePrefix' in op) {
    return { request_delete_range: { key: Buffer.from(op.deletePrefix, 'utf8'), range_end: prefixEnd(op.deletePrefix) } };
  }
  return { request_range: { key: Buffer.from(op.get, 'utf8') } };
}

/**
 * `EtcdStore` over the npm `etcd3` client's raw gRPC clients. Its higher-level watcher and lease are not used:
 * the watcher resumes from a response's header revision (which can skip events after a break in a long replay)
 * and says nothing when a compaction cancels it; the lease gives up after two TTLs. Here a watch resumes from the
 * revision after the last event it delivered and reports a compaction, and a keep-alive stream never gives up.
 * The client's circuit breaker is replaced by no policy at all: a breaker would refuse calls for seconds after
 * etcd is back.
 */
export class Etcd3Store implements EtcdStore {
  private readonly client: Etcd3;
  private readonly closers = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: Etcd3StoreOptions) {
    const hosts = [...options.endpoints];
    const config: IOptions = {
      hosts,
      dialTimeout: options.timeoutMs,
      grpcOptions: {
        // Finds a dead connection (a paused or unplugged etcd) while streams are idle; etcd allows a ping every 5 s.
        'grpc.keepalive_time_ms': 5_000,
        'grpc.keepalive_timeout_ms': Math.max(1_000, options.timeoutMs),
        // grpc-js refuses answers over 4 MiB by default: a listing of a large prefix, or a watch replaying many
        // revisions after a break, would fail, and the watch would retry the same replay for ever. etcd's own Go
        // client accepts up to 2 GiB - 1; so do we (etcd bounds each request, not each answer).
        'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      },
      faultHandling: {
        host: () => noop,
        // With several endpoints a refused call moves to the next; with one there is nothing else to try.
        global: hosts.length > 1 ? retry(handleWhen(isRecoverableError), { maxAttempts: hosts.length - 1 }) : noop,
      },
      ...(options.tls === undefined
        ? {}
        : {
            credentials: {
              // grpc-js takes null for "the system's roots"; etcd3's type wants a Buffer.
              rootCertificate: options.tls.ca ?? (null as unknown as Buffer),
              ...(options.tls.key === undefined ? {} : { privateKey: options.tls.key }),
              ...(options.tls.cert === undefined ? {} : { certChain: options.tls.cert }),
            },
          }),
    };
    this.client = new Etcd3(config);
  }

  get endpoints(): readonly string[] {
    return this.options.endpoints;
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  private deadline(): { deadline: Date } {
    return { deadline: new Date(Date.now() + this.options.timeoutMs) };
  }

  async get(key: string): Promise<EtcdEntry | undefined> {
    try {
      const res = await this.client.kv.range({ key: Buffer.from(key, 'utf8') }, this.deadline());
      const kv = res.kvs[0];
      return kv === undefined ? undefined : entryOf(kv);
    } catch (error) {
      throw unavailable(`get ${key}`, error);
    }
  }

  async list(prefix: string): Promise<EtcdListing> {
    try {
      const res = await this.client.kv.range(
        { key: Buffer.from(prefix, 'utf8'), range_end: prefixEnd(prefix), sort_target: 'Key', sort_order: 'Ascend' },
        this.deadline(),
      );
      return { revision: BigInt(res.header.revision), entries: res.kvs.map(entryOf) };
    } catch (error) {
      throw unavailable(`list ${prefix}`, error);
    }
  }

  async txn(
    compare: readonly EtcdCompare[],
    success: readonly EtcdOp[],
    failure: readonly EtcdOp[] = [],
  ): Promise<EtcdTxnResult> {
    try {
      const res = await this.client.kv.txn(
        { compare: compare.map(compareOf), success: success.map(opOf), failure: failure.map(opOf) },
        this.deadline(),
      );
      const gets: (EtcdEntry | undefined)[] = [];
      for (const response of res.responses) {
        if (response.response_range !== undefined && response.response_range !== null) {
          const kv = response.response_range.kvs[0];
          gets.push(kv === undefined ? undefined : entryOf(kv));
        }
      }
      return { succeeded: res.succeeded, revision: BigInt(res.header.revision), gets };
    } catch (error) {
      throw unavailable('transaction', error);
    }
  }

  async put(key: string, value: Buffer | string, lease?: string): Promise<bigint> {
    try {
      const res = await this.client.kv.put(
        { key: Buffer.from(key, 'utf8'), value: Buffer.from(value), ...(lease === undefined ? {} : { lease }) },
        this.deadline(),
      );
      return BigInt(res.header.revision);
    } catch (error) {
      throw unavailable(`put ${key}`, error);
    }
  }

  async delete(key: string): Promise<number> {
    try {
      const res = await this.client.kv.deleteRange({ key: Buffer.from(key, 'utf8') }, this.deadline());
      return Number(res.deleted);
    } catch (error) {
      throw unavailable(`delete ${key}`, error);
    }
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    try {
      const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, this.deadline());
      return res.ID;
    } catch (error) {
      throw unavailable('lease grant', error);
    }
  }

  async revokeLease(lease: string): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: lease }, this.deadline());
    } catch (error) {
      if (error instanceof Error && /lease not found/i.test(error.message)) return;
      throw unavailable('lease revoke', error);
    }
  }

  keepAlive(lease: string, intervalMs: number, listener: EtcdKeepAliveListener): EtcdKeepAlive {
    let stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let retryMs = RETRY_FIRST_MS;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.closers.delete(stop);
      if (timer !== undefined) clearTimeout(timer);
      stream?.cancel();
      stream = undefined;
    };
    const broke = (error: Error): void => {
      if (stopped) return;
      stream?.cancel();
      stream = undefined;
      listener.interrupted?.(error);
      schedule(retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_CAP_MS);
    };
    const schedule = (delayMs: number): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(tick, delayMs);
      timer.unref();
    };
    const open = async (): Promise<void> => {
      const opened = await this.client.leaseClient.leaseKeepAlive();
      if (stopped) {
        opened.cancel();
        return;
      }
      stream = opened;
      opened.on('data', (res: ILeaseKeepAliveResponse) => {
        if (stopped || stream !== opened) return;
        retryMs = RETRY_FIRST_MS;
        const ttl = Number(res.TTL);
        if (ttl <= 0) {
          stop();
          listener.gone();
        } else {
          listener.renewed(ttl);
        }
      });
      opened.on('error', (error: Error) => {
        if (stream === opened) broke(error);
      });
      opened.on('end', () => {
        if (stream === opened) broke(new Error('keep-alive stream ended'));
      });
    };
    const tick = (): void => {
      timer = undefined;
      if (stopped) return;
      if (stream === undefined) {
        open().then(
          () => tick(),
          (error: unknown) => broke(error instanceof Error ? error : new Error(String(error))),
        );
        return;
      }
      stream.write({ ID: lease });
      schedule(intervalMs);
    };
    this.closers.add(stop);
    tick();
    return { close: stop };
  }

  watch(prefix: string, fromRevision: bigint, listener: EtcdWatchListener): EtcdWatch {
    let next = fromRevision;
    let stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let retryMs = RETRY_FIRST_MS;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.closers.delete(stop);
      if (timer !== undefined) clearTimeout(timer);
      stream?.cancel();
      stream = undefined;
    };
    const broke = (error: Error): void => {
      if (stopped) return;
      stream?.cancel();
      stream = undefined;
      listener.interrupted?.(error);
      timer = setTimeout(start, retryMs);
      timer.unref();
      retryMs = Math.min(retryMs * 2, RETRY_CAP_MS);
    };
    const onResponse = (opened: IDuplexStream<IWatchRequest, IWatchResponse>, res: IWatchResponse): void => {
      if (stopped || stream !== opened) return;
      if (res.created) {
        retryMs = RETRY_FIRST_MS;
        listener.connected?.();
      }
      if (res.canceled) {
        const compactRevision = BigInt(res.compact_revision || '0');
        if (compactRevision > 0n) {
          stop();
          listener.compacted(compactRevision);
        } else {
          broke(new Error(`watch canceled by etcd: ${res.cancel_reason || 'no reason given'}`));
        }
        return;
      }
      if (res.events.length === 0) return;
      const events: EtcdEvent[] = res.events.map((event) => ({
        type: event.type === 'Delete' ? 'delete' : 'put',
        entry: entryOf(event.kv),
      }));
      // Resume after the last event delivered, never from the header: a break in a long replay must not skip any.
      next = events[events.length - 1]!.entry.modRevision + 1n;
      listener.events(events);
    };
    const start = (): void => {
      timer = undefined;
      if (stopped) return;
      this.client.watchClient.watch().then(
        (opened) => {
          if (stopped) {
            opened.cancel();
            return;
          }
          stream = opened;
          opened.on('data', (res: IWatchResponse) => onResponse(opened, res));
          opened.on('error', (error: Error) => {
            if (stream === opened) broke(error);
          });
          opened.on('end', () => {
            if (stream === opened) broke(new Error('watch stream ended'));
          });
          opened.write({
            create_request: {
              key: Buffer.from(prefix, 'utf8'),
              range_end: prefixEnd(prefix),
              start_revision: next.toString(),
              progress_notify: true,
            },
          });
        },
        (error: unknown) => broke(error instanceof Error ? error : new Error(String(error))),
      );
    };
    this.closers.add(stop);
    start();
    return { cancel: stop };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.closers]) stop();
    this.client.close();
  }
}
