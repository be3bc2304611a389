import type { Etcd3 } from 'etcd3';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IWatchRequest, IWatchResponse } from 'etcd3/lib/rpc.js';
import { prefixEnd, type EtcdEvent, type EtcdKeepAlive, type EtcdKeepAliveListener, type EtcdWatch, type EtcdWatchListener } from './etcd-store.js';
import { entryOf } from './etcd3-values.js';

// The two long-lived streams of Etcd3Store, over etcd3's raw gRPC clients: a lease's keep-alive and a prefix watch.
// Each reopens itself after a break, and registers its stop in `closers` so closing the store ends it.

/** First wait before reopening a broken stream; doubles up to the cap, and starts again once the stream works. */
const RETRY_FIRST_MS = 100;
const RETRY_CAP_MS = 2_000;

type Duplex<Req, Res> = IDuplexStream<Req, Res>;

/**
 * The life of one reopening stream: the stream open now (if any), its one timer, the retry delay, and the stop.
 * `open` opens a new stream and wires it (calling `broke` on its error or end); `broke` cancels it, reports, and
 * runs `reopen` after the retry delay.
 */
class ReopeningStream<Req, Res> {
  stream: Duplex<Req, Res> | undefined;
  stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;

  constructor(
    private readonly closers: Set<() => void>,
    private readonly reopen: () => void,
    private readonly interrupted: ((error: Error) => void) | undefined,
  ) {
    closers.add(this.stop);
  }

  readonly stop = (): void => {
    if (this.stopped) return;
    this.stopped = true;
    this.closers.delete(this.stop);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.stream?.cancel();
    this.stream = undefined;
  };

  /** The stream works: the next break waits the first delay again. */
  working(): void {
    this.retryMs = RETRY_FIRST_MS;
  }

  /** Runs `work` after `delayMs`, replacing whatever was scheduled. */
  after(delayMs: number, work: () => void): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) work();
    }, delayMs);
    this.timer.unref();
  }

  broke(error: unknown): void {
    if (this.stopped) return;
    this.stream?.cancel();
    this.stream = undefined;
    this.interrupted?.(error instanceof Error ? error : new Error(String(error)));
    this.after(this.retryMs, this.reopen);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_CAP_MS);
  }

  /** Makes `opened` the stream (or cancels it when stopped meanwhile); its error or end is a break. */
  adopt(opened: Duplex<Req, Res>, what: string, onData: (res: Res) => void): boolean {
    if (this.stopped) {
      opened.cancel();
      return false;
    }
    this.stream = opened;
    opened.on('data', (res: Res) => {
      if (!this.stopped && this.stream === opened) onData(res);
    });
    opened.on('error', (error: Error) => {
      if (this.stream === opened) this.broke(error);
    });
    opened.on('end', () => {
      if (this.stream === opened) this.broke(new Error(`${what} stream ended`));
    });
    return true;
  }
}

/** Keeps `lease` alive over one stream (see EtcdStore.keepAlive). */
export function keepAliveStream(
  client: Etcd3,
  closers: Set<() => void>,
  lease: string,
  intervalMs: number,
  listener: EtcdKeepAliveListener,
): EtcdKeepAlive {
  const life: ReopeningStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> = new ReopeningStream(
    closers,
    () => tick(),
    listener.interrupted,
  );
  const onData = (res: ILeaseKeepAliveResponse): void => {
    life.working();
    const ttl = Number(res.TTL);
    if (ttl > 0) {
      listener.renewed(ttl);
      return;
    }
    life.stop();
    listener.gone();
  };
  const tick = (): void => {
    if (life.stopped) return;
    const stream = life.stream;
    if (stream === undefined) {
      client.leaseClient.leaseKeepAlive().then(
        (opened) => {
          if (life.adopt(opened, 'keep-alive', onData)) tick();
        },
        (error: unknown) => life.broke(error),
      );
      return;
    }
    stream.write({ ID: lease });
    life.after(intervalMs, tick);
  };
  tick();
  return { close: life.stop };
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
  const life: ReopeningStream<IWatchRequest, IWatchResponse> = new ReopeningStream(closers, () => start(), listener.interrupted);
  const onData = (res: IWatchResponse): void => {
    if (res.created) {
      life.working();
      listener.connected?.();
    }
    if (res.canceled) {
      const compactRevision = BigInt(res.compact_revision || '0');
      if (compactRevision > 0n) {
        life.stop();
        listener.compacted(compactRevision);
      } else {
        life.broke(new Error(`watch canceled by etcd: ${res.cancel_reason || 'no reason given'}`));
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
    if (life.stopped) return;
    client.watchClient.watch().then(
      (opened) => {
        if (!life.adopt(opened, 'watch', onData)) return;
        opened.write({
          create_request: {
            key: Buffer.from(prefix, 'utf8'),
            range_end: prefixEnd(prefix),
            start_revision: next.toString(),
            progress_notify: true,
          },
        });
      },
      (error: unknown) => life.broke(error),
    );
  };
  start();
  return { cancel: life.stop };
}
