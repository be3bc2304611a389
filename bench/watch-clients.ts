import { create } from '@bufbuild/protobuf';
import type { Client, ClientReadableStream } from '@grpc/grpc-js';
import { WatchEventType, WatchRequestSchema, type WatchEvent } from '../gen/hive/v1/registry_pb.js';
import { hiveId } from './fleet.js';
import { monotonicMs, processStats } from './protocol.js';
import { openClient, openWatch } from './registry-client.js';
import { nowMs, Samples, sleep } from './stats.js';
import {
  markerKey,
  markerMs,
  type WatchChildEvent,
  type WatchReport,
  type WatchReportRequest,
  type WatcherSpec,
} from './watch-protocol.js';

/** How long every watcher may take to receive its snapshot and SYNCED. */
const SYNC_TIMEOUT_MS = 60_000;

interface Watch {
  readonly index: number;
  readonly call: ClientReadableStream<WatchEvent>;
  synced: boolean;
  snapshotEvents: number;
  lastRevision: bigint;
  /** Changes received after SYNCED: marker key -> latency in ms (receive time - marker). */
  readonly received: Map<string, number>;
  duplicates: number;
  revisionGaps: number;
  firstGap?: string;
}

/**
 * Counts what every watcher got of `request.expected`: per-watcher completeness, duplicates, revision gaps, and
 * latency percentiles over every expected change received.
 */
function report(watches: readonly Watch[], request: WatchReportRequest): WatchReport {
  const samples = new Samples(watches.length * request.expected.length + 1);
  let receivedMin = Number.POSITIVE_INFINITY;
  let receivedMax = 0;
  let missing = 0;
  let watchersMissing = 0;
  let firstMissing: string | undefined;
  let latencyMaxMs = Number.NEGATIVE_INFINITY;
  for (const w of watches) {
    let received = 0;
    for (const key of request.expected) {
      const latency = w.received.get(key);
      if (latency === undefined) {
        firstMissing ??= `watcher ${w.index} did not receive the change marked ${key}`;
        continue;
      }
      received++;
      samples.add(latency);
      latencyMaxMs = Math.max(latencyMaxMs, latency);
    }
    receivedMin = Math.min(receivedMin, received);
    receivedMax = Math.max(receivedMax, received);
    missing += request.expected.length - received;
    if (received < request.expected.length) watchersMissing++;
  }
  const [latencyP50Ms = Number.NaN, latencyP99Ms = Number.NaN] = samples.percentiles(50, 99);
  const firstGap = watches.find((w) => w.firstGap !== undefined)?.firstGap;
  return {
    watchers: watches.length,
    expected: request.expected.length,
    receivedMin: watches.length === 0 ? 0 : receivedMin,
    receivedMax,
    missing,
    watchersMissing,
    ...(firstMissing === undefined ? {} : { firstMissing }),
    duplicates: watches.reduce((sum, w) => sum + w.duplicates, 0),
    revisionGaps: watches.reduce((sum, w) => sum + w.revisionGaps, 0),
    ...(firstGap === undefined ? {} : { firstGap }),
    latencyP50Ms,
    latencyP99Ms,
    latencyMaxMs: Number.isFinite(latencyMaxMs) ? latencyMaxMs : Number.NaN,
    samples: watches.length * request.expected.length - missing,
  };
}

/**
 * The watch scenario's watchers: opens `spec.watchers` Watch calls from revision 0 over
 * ceil(watchers / watchersPerConnection) connections, says 'synced' once every one has its snapshot, then keeps
 * reading until stopped, answering 'stats' and 'report' commands. Every live event's revision must be the previous
 * one + 1 (a watch without filter sees every event); every WORKER_UPSERTED of a changer hive must carry a marker.
 * A call that ends or fails before the stop throws (the run is then not a valid measurement).
 */
export async function runWatchClients(
  spec: WatcherSpec,
  say: (event: WatchChildEvent) => void,
  stopped: () => boolean,
  onCommand: (listener: (command: string) => void) => void,
): Promise<void> {
  const changerHives = new Set(Array.from({ length: spec.changerHives }, (_, k) => hiveId(spec.changerFirstHive + k)));
  const clients: Client[] = [];
  const watches: Watch[] = [];
  let problem: string | undefined;

  onCommand((line) => {
    const text = line.trim();
    if (text === 'stats') say({ event: 'stats', stats: processStats() });
    else if (text.startsWith('report ')) {
      say({ event: 'report', report: report(watches, JSON.parse(text.slice(7)) as WatchReportRequest) });
    }
  });

  const onEvent = (w: Watch, event: WatchEvent): void => {
    const atMs = monotonicMs();
    if (!w.synced) {
      if (event.type === WatchEventType.SYNCED) {
        w.synced = true;
        w.lastRevision = event.revision;
      } else if (event.type === WatchEventType.RESYNC) {
        problem ??= `watcher ${w.index}: RESYNC on a watch from revision 0`;
      } else {
        w.snapshotEvents++;
      }
      return;
    }
    if (event.revision !== w.lastRevision + 1n) {
      w.revisionGaps++;
      w.firstGap ??= `watcher ${w.index}: revision ${event.revision} after ${w.lastRevision}`;
    }
    w.lastRevision = event.revision;
    if (event.type !== WatchEventType.WORKER_UPSERTED || !changerHives.has(event.hiveId)) return;
    const marker = event.worker?.lastHeartbeat;
    if (marker === undefined) {
      problem ??= `watcher ${w.index}: a change of ${event.hiveId} without last_heartbeat`;
      return;
    }
    const key = markerKey(marker);
    if (w.received.has(key)) w.duplicates++;
    else w.received.set(key, atMs - markerMs(marker));
  };

  const started = nowMs();
  for (let i = 0; i < spec.watchers; i++) {
    if (i % spec.watchersPerConnection === 0) clients.push(openClient(spec.address, true));
    const client = clients[clients.length - 1];
    if (client === undefined) throw new Error('no client');
    const w: Watch = {
      index: i,
      call: openWatch(client, create(WatchRequestSchema, {})),
      synced: false,
      snapshotEvents: 0,
      lastRevision: 0n,
      received: new Map(),
      duplicates: 0,
      revisionGaps: 0,
    };
    w.call.on('data', (event: WatchEvent) => onEvent(w, event));
    w.call.on('error', (error: Error) => {
      if (!stopped()) problem ??= `watcher ${i}: stream failed: ${error.message}`;
    });
    w.call.on('end', () => {
      if (!stopped()) problem ??= `watcher ${i}: stream ended by the server`;
    });
    watches.push(w);
  }
  while (problem === undefined && watches.some((w) => !w.synced) && nowMs() - started < SYNC_TIMEOUT_MS) {
    await sleep(10);
  }
  if (problem !== undefined) throw new Error(problem);
  const unsynced = watches.filter((w) => !w.synced).length;
  if (unsynced > 0) throw new Error(`${unsynced} of ${spec.watchers} watchers not synced within ${SYNC_TIMEOUT_MS} ms`);
  say({
    event: 'synced',
    watchers: spec.watchers,
    elapsedMs: nowMs() - started,
    snapshotEvents: Math.max(...watches.map((w) => w.snapshotEvents)),
  });

  while (!stopped() && problem === undefined && nowMs() - started < spec.maxLifetimeMs) await sleep(20);
  for (const w of watches) w.call.cancel();
  for (const client of clients) client.close();
  if (problem !== undefined && !stopped()) throw new Error(problem);
}
