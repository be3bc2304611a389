import type { Etcd3 } from 'etcd3';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IWatchRequest, IWatchResponse } from 'etcd3/lib/rpc.js';
import { prefixEnd, type EtcdEvent, type EtcdKeepAlive, type EtcdKeepAliveListener, type EtcdWatch, type EtcdWatchListener } from './etcd-store.js';
import { entryOf } from './etcd3-values.js';

// The two long-lived streams of Etcd3Store, over etcd3's raw gRPC clients: a lease's keep-alive and a prefix watch.
// Each reopens itself after a break, and registers its stop in `closers` so closing the store ends it.

/** First wait before reopening a broken watch or keep-alive stream; doubles up to the cap. */
const RETRY_FIRST_MS = 100;
const RETRY_CAP_MS = 2_000;

/** Keeps `lease` alive over one stream (see EtcdStore.keepAlive). */
export function keepAliveStream(
client: Etcd3,
closers: Set<() => void>,
lease: string,
intervalMs: number,
listener: EtcdKeepAliveListener,
): EtcdKeepAlive {
  let stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let retryMs = RETRY_FIRST_MS;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    closers.delete(stop);
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
    const opened = await client.leaseClient.leaseKeepAlive();
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
  closers.add(stop);
  tick();
  return { close: stop };
}

/** Watches every key under `prefix` from `fromRevision` (see EtcdStore.watch). */
export function watchStream(
client: Etcd3,
closers: Set<() => void>,
prefix: string,
fromRevision: bigint,
listener: EtcdWatchListener,
): EtcdWatch {
  let next = fromRevision;
  let stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let retryMs = RETRY_FIRST_MS;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    closers.delete(stop);
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
    client.watchClient.watch().then(
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
  closers.add(stop);
  start();
  return { cancel: stop };
}
