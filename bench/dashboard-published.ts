import { WatchEventType, WorkerStatus } from '../gen/hive/v1/registry_pb.js';
import { RegistryClient } from '../src/client/registry-client.js';
import { monotonicMs } from './protocol.js';
import { markerKey, markerMs } from './watch-protocol.js';

/** One change of the watched worker, as the bench's own Watch client received it. */
export interface PublishedChange {
  /** The change's marker (its worker's last_heartbeat, see watch-protocol.ts), as markerKey writes it. */
  readonly key: string;
  readonly revision: number;
  /** The worker's new state as the page writes it in `data-state` ('idle', 'busy', ...). */
  readonly state: string;
  /** Date.now() on receipt: the wall clock, which the browser's Date.now() also reads. */
  readonly receivedWallMs: number;
  /** Receipt time - marker, both on the monotonic clock: the changer's send to the queen's publication, and back. */
  readonly sentToReceivedMs: number;
}

/** How long the Watch call may take to say SYNCED (its snapshot is one hive at most). */
const SYNC_TIMEOUT_MS = 10_000;

/** WorkerStatus as the dashboard names it (its `enumName(state, 'WORKER_STATUS_')`, lower-cased). */
function pageState(status: WorkerStatus): string {
  return (WorkerStatus[status] ?? 'unspecified').toLowerCase();
}

/**
 * "When was the change published": a Watch call from the bench process (src/client's RegistryClient, filtered to
 * the changer's hive) records, for every WORKER_UPSERTED of one worker after SYNCED, the wall time it arrived, its
 * revision and its marker. The pages follow the same queen's feed, so a page's time minus this one is the
 * dashboard's own delay (it can be slightly negative: the page's stream may be served first). A RESYNC or a lost
 * stream is a failure, not something to ride out: the reference would have a hole.
 */
export class PublishedChanges {
  private readonly byKey = new Map<string, PublishedChange>();
  /** In revision order (the stream's order). */
  private readonly inOrder: PublishedChange[] = [];
  private failure: string | undefined;

  private constructor(
    private readonly client: RegistryClient,
    private readonly abort: AbortController,
  ) {}

  /** Opens the Watch call on `hiveId` and resolves once it is SYNCED. */
  static async start(address: string, hiveId: string, workerId: string): Promise<PublishedChanges> {
    const published = new PublishedChanges(new RegistryClient(address), new AbortController());
    await published.follow(hiveId, workerId);
    return published;
  }

  /** The change a page shows when it has applied every event up to `revision`: the last one at or before it. */
  atRevision(revision: number): PublishedChange | undefined {
    let [low, high] = [0, this.inOrder.length];
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((this.inOrder[mid]?.revision ?? 0) <= revision) low = mid + 1;
      else high = mid;
    }
    return this.inOrder[low - 1];
  }

  /** The change marked `key`; throws if the stream failed or never brought it. */
  get(key: string): PublishedChange {
    if (this.failure !== undefined) throw new Error(`dashboard: the bench's Watch call ${this.failure}`);
    const change = this.byKey.get(key);
    if (change === undefined) throw new Error(`dashboard: the bench's Watch call never received the change ${key}`);
    return change;
  }

  close(): void {
    this.abort.abort();
    this.client.close();
  }

  private follow(hiveId: string, workerId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let synced = false;
      const timer = setTimeout(
        () => reject(new Error(`dashboard: no SYNCED within ${SYNC_TIMEOUT_MS} ms`)),
        SYNC_TIMEOUT_MS,
      );
      const fail = (text: string): void => {
        this.failure ??= text;
        clearTimeout(timer);
        reject(new Error(`dashboard: the bench's Watch call ${text}`));
      };
      void (async () => {
        for await (const event of this.client.watchEvents({ hiveId, signal: this.abort.signal })) {
          if (event.type === WatchEventType.RESYNC) return fail('was resynced');
          if (event.type === WatchEventType.SYNCED && !synced) {
            synced = true;
            clearTimeout(timer);
            resolve();
          }
          const worker = event.worker;
          const marker = worker?.lastHeartbeat;
          if (!synced || event.type !== WatchEventType.WORKER_UPSERTED || worker?.workerId !== workerId) continue;
          if (marker === undefined) return fail(`received ${workerId} without a last_heartbeat`);
          const change: PublishedChange = {
            key: markerKey(marker),
            revision: Number(event.revision),
            state: pageState(worker.state),
            receivedWallMs: Date.now(),
            sentToReceivedMs: monotonicMs() - markerMs(marker),
          };
          this.byKey.set(change.key, change);
          this.inOrder.push(change);
        }
        if (!this.abort.signal.aborted) fail('ended');
      })().catch((error: unknown) => {
        if (!this.abort.signal.aborted) fail(`failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    });
  }
}
