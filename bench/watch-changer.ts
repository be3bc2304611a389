import type { Timestamp } from '@bufbuild/protobuf/wkt';
import type { Client, ClientDuplexStream } from '@grpc/grpc-js';
import {
  WorkerStatus,
  type Device,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
  type WorkerState,
} from '../gen/hive/v1/registry_pb.js';
import { snapshotPayload, wireDevices, wireWorkers } from './fleet.js';
import { openClient, openHeartbeat } from './registry-client.js';
import { nowMs, sleep } from './stats.js';
import { markerKey, markerMs, markerNow, type ChangerSpec, type WatchChildEvent } from './watch-protocol.js';

/** How long the initial snapshots may take to be acked. */
const READY_TIMEOUT_MS = 10_000;
/** Workers 0-6 of a fleet hive carry a gpu_percent (worker 7 has no model); changes rotate over them. */
const CHANGED_WORKERS = 7;

interface ChangerHive {
  readonly index: number;
  readonly call: ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;
  readonly workers: WorkerState[];
  readonly devices: Device[];
  nextSequence: bigint;
}

/** One change sent: its marker's key and its send time (the marker, in monotonic ms). */
interface SentChange {
  readonly key: string;
  readonly atMs: number;
}

/**
 * Change `n` of one hive's worker, in place: even changes move its gpu_percent by 17 points (mod 100), odd ones
 * flip its state between BUSY and IDLE; either way its last_heartbeat becomes `marker`. Exactly one worker of the
 * hive differs from its previous snapshot, so the queen makes exactly one WORKER_UPSERTED.
 */
function change(worker: WorkerState, n: number, marker: Timestamp): void {
  if (n % 2 === 0) worker.gpuPercent = ((worker.gpuPercent ?? 0) + 17) % 100;
  else worker.state = worker.state === WorkerStatus.BUSY ? WorkerStatus.IDLE : WorkerStatus.BUSY;
  worker.lastHeartbeat = marker;
}

/**
 * The watch and dashboard scenarios' source of real changes: `spec.hives` hives on one connection send one snapshot
 * each, say 'ready', then send `spec.changesPerSecond` changed snapshots per second (on a fixed schedule,
 * round-robin over the hives and, unless `spec.changes` is 'flip', their workers) until stopped. Every ack must say
 * accepted. Answers 'markers FROM TO' commands with the changes sent inside that window, so the parent can tell the
 * watchers which changes each must have received.
 */
export async function runChanger(
  spec: ChangerSpec,
  say: (event: WatchChildEvent) => void,
  stopped: () => boolean,
  onCommand: (listener: (command: string) => void) => void,
): Promise<void> {
  const started = nowMs();
  const client: Client = openClient(spec.address, true);
  const hives: ChangerHive[] = [];
  const sent: SentChange[] = [];
  let acked = 0;
  let rejected = 0;
  let firstRejection: string | undefined;
  let problem: string | undefined;

  onCommand((line) => {
    const [command, from, to] = line.trim().split(/\s+/);
    if (command !== 'markers') return;
    const [fromMs, toMs] = [Number(from), Number(to)];
    const keys = sent.filter((c) => c.atMs >= fromMs && c.atMs < toMs).map((c) => c.key);
    const answer: WatchChildEvent = { event: 'markers', keys, sent: sent.length, acked, rejected };
    say(firstRejection === undefined ? answer : { ...answer, firstRejection });
  });

  for (let k = 0; k < spec.hives; k++) {
    const index = spec.firstHive + k;
    const hive: ChangerHive = {
      index,
      call: openHeartbeat(client),
      workers: wireWorkers(index),
      devices: wireDevices(),
      nextSequence: 1n,
    };
    hive.call.on('data', (ack: HeartbeatAck) => {
      acked++;
      if (!ack.accepted) {
        rejected++;
        firstRejection ??= `hive ${index}: ${ack.error}`;
      }
    });
    hive.call.on('error', (error: Error) => {
      if (!stopped()) problem ??= `changer hive ${index}: stream error: ${error.message}`;
    });
    hive.call.write(snapshotPayload(index, hive.nextSequence++, hive.workers, hive.devices));
    hives.push(hive);
  }
  while (acked < spec.hives && problem === undefined && nowMs() - started < READY_TIMEOUT_MS) await sleep(10);
  if (problem !== undefined) throw new Error(problem);
  if (rejected > 0) throw new Error(`changer: a snapshot was rejected: ${firstRejection ?? '?'}`);
  if (acked < spec.hives) throw new Error(`changer: ${acked} of ${spec.hives} snapshots acked in time`);
  say({ event: 'ready', hives: spec.hives, elapsedMs: nowMs() - started });

  // Change n is due at scheduleStart + n * intervalMs, whatever the timers' jitter: a steady rate.
  const intervalMs = 1_000 / spec.changesPerSecond;
  const flip = spec.changes === 'flip';
  const scheduleStart = nowMs();
  let n = 0;
  let lastMarker: Timestamp | undefined;
  while (!stopped() && problem === undefined && nowMs() - started < spec.maxLifetimeMs) {
    for (; n <= (nowMs() - scheduleStart) / intervalMs; n++) {
      const hive = hives[n % spec.hives];
      const round = Math.floor(n / spec.hives);
      const worker = hive?.workers[flip ? 0 : round % CHANGED_WORKERS];
      if (hive === undefined || worker === undefined) throw new Error('changer: no such hive or worker');
      const marker = markerNow(lastMarker);
      lastMarker = marker;
      // An odd change number flips the state.
      change(worker, flip ? 1 : Math.floor(round / CHANGED_WORKERS), marker);
      hive.call.write(snapshotPayload(hive.index, hive.nextSequence++, hive.workers, hive.devices));
      sent.push({ key: markerKey(marker), atMs: markerMs(marker) });
    }
    await sleep(Math.max(1, scheduleStart + n * intervalMs - nowMs()));
  }
  for (const hive of hives) hive.call.cancel();
  client.close();
  if (problem !== undefined && !stopped()) throw new Error(problem);
}
