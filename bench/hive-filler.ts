import type { Client, ClientDuplexStream } from '@grpc/grpc-js';
import type { HeartbeatAck, HiveHeartbeatPayload } from '../gen/hive/v1/registry_pb.js';
import { WORKERS_PER_HIVE, snapshotPayload, tickPayload } from './fleet.js';
import { monotonicMs, type FillSpec, type LoadEvent } from './protocol.js';
import { hiveMetadata, readAccess } from './bench-access.js';
import { openClient, openHeartbeat } from './registry-client.js';
import { nowMs, sleep } from './stats.js';

/** How long the initial snapshots may take to be acked. */
const FILL_TIMEOUT_MS = 30_000;
/** Granularity of the tick schedule. */
const TICK_STEP_MS = 50;

interface FillStream {
  readonly index: number;
  readonly call: ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;
  nextSequence: bigint;
}

/**
 * Keeps a fleet online in the background (while unary load runs, or while the catalog scenario measures): hives
 * firstHive..firstHive+hives-1 each send one full snapshot, then a liveness tick every `spec.tickEveryMs` (spread
 * evenly, as a real fleet's are), until `stopped()` says so or the lifetime runs out. Throws if a snapshot is
 * rejected or the fill takes too long. Commands handed to the listener given to `onCommand` ('acks') are answered
 * with an 'acks' event, so a coordinator can count the heartbeats acked over a window of its choosing.
 */
export async function runFiller(
  spec: FillSpec,
  say: (event: LoadEvent) => void,
  stopped: () => boolean,
  onCommand: (listener: (command: string) => void) => void = () => undefined,
): Promise<void> {
  const started = nowMs();
  const access = readAccess(spec.access);
  const clients: Client[] = [];
  const streams: FillStream[] = [];
  let acked = 0;
  let rejected = 0;
  let problem: string | undefined;
  onCommand((command) => {
    if (command.trim() === 'acks') say({ event: 'acks', acks: acked, rejected, atMs: monotonicMs() });
  });
  const firstHive = spec.firstHive ?? 0;
  for (let k = 0; k < spec.hives; k++) {
    const i = firstHive + k;
    if (k % spec.streamsPerConnection === 0) clients.push(openClient(spec.address, true));
    const client = clients[clients.length - 1];
    if (client === undefined) throw new Error('no client');
    const s: FillStream = { index: i, call: openHeartbeat(client, hiveMetadata(access, i)), nextSequence: 1n };
    s.call.on('data', (ack: HeartbeatAck) => {
      acked++;
      if (!ack.accepted) {
        rejected++;
        problem ??= `hive ${i}: ${ack.error}`;
      }
    });
    s.call.on('error', (error: Error) => {
      if (!stopped()) problem ??= `hive ${i}: stream error: ${error.message}`;
    });
    s.call.write(snapshotPayload(i, s.nextSequence++));
    streams.push(s);
  }
  while (acked < spec.hives && problem === undefined && nowMs() - started < FILL_TIMEOUT_MS) await sleep(10);
  if (problem !== undefined) throw new Error(`fill failed: ${problem}`);
  if (acked < spec.hives) throw new Error(`fill failed: ${acked} of ${spec.hives} snapshots acked in time`);
  say({ event: 'filled', hives: spec.hives, workers: spec.hives * WORKERS_PER_HIVE, elapsedMs: nowMs() - started });

  // Tick hive i at offsets i * tickEveryMs / hives within each period.
  let nextToTick = 0;
  const periodStart = nowMs();
  while (!stopped() && nowMs() - started < spec.maxLifetimeMs && problem === undefined) {
    await sleep(TICK_STEP_MS);
    const elapsed = nowMs() - periodStart;
    const due = Math.floor((elapsed / spec.tickEveryMs) * spec.hives);
    for (; nextToTick < due; nextToTick++) {
      const s = streams[nextToTick % spec.hives];
      if (s !== undefined) s.call.write(tickPayload(s.index, s.nextSequence++));
    }
  }
  for (const s of streams) s.call.cancel();
  for (const client of clients) client.close();
  if (problem !== undefined && !stopped()) throw new Error(`filler: ${problem}`);
}
