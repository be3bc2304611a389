import { toBinary } from '@bufbuild/protobuf';
import type { Client, ClientDuplexStream } from '@grpc/grpc-js';
import {
  HiveHeartbeatPayloadSchema,
  type Device,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
  type WorkerState,
} from '../gen/hive/v1/registry_pb.js';
import { snapshotPayload, tickPayload, wireDevices, wireWorkers } from './fleet.js';
import type { HeartbeatLoadSpec, LoadEvent, LoadResult } from './protocol.js';
import { hiveMetadata, readAccess } from './bench-access.js';
import { openClient, openHeartbeat } from './registry-client.js';
import { loadResult, measureWindow, nowMs, Samples, sleep } from './stats.js';

/** Most latency samples kept (a few seconds at the transport's ceiling). */
const MAX_SAMPLES = 1_000_000;
/** How long to wait for the last acks after the window closes. */
const DRAIN_MS = 2_000;

type Phase = 'warmup' | 'measure' | 'stopping';

interface HiveStream {
  readonly index: number;
  readonly call: ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;
  readonly workers: WorkerState[];
  readonly devices: Device[];
  nextSequence: bigint;
  /** Send times of the payloads not yet acked, oldest first (acks come in payload order). */
  readonly sentAt: number[];
  ended: boolean;
}

/**
 * Drives `spec.hives` Heartbeat streams as fast as the server acks, each with at most `spec.window` payloads
 * unacked, and counts the acks that arrive inside the measurement window. Every payload must be accepted: a
 * rejection or a stream error counts as a failure (the run is then not a valid measurement).
 */
export async function runHeartbeatLoad(spec: HeartbeatLoadSpec, say: (event: LoadEvent) => void): Promise<LoadResult> {
  const samples = new Samples(MAX_SAMPLES);
  let phase: Phase = 'warmup';
  let ops = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const fail = (why: string): void => {
    failures++;
    firstFailure ??= why;
  };

  const access = readAccess(spec.access);
  const clients: Client[] = [];
  const streams: HiveStream[] = [];
  const payload = (s: HiveStream): HiveHeartbeatPayload => {
    const sequence = s.nextSequence++;
    return spec.variant === 'tick' && sequence > 1n
      ? tickPayload(s.index, sequence)
      : snapshotPayload(s.index, sequence, s.workers, s.devices);
  };
  const send = (s: HiveStream): void => {
    s.sentAt.push(nowMs());
    s.call.write(payload(s));
  };

  for (let k = 0; k < spec.hives; k++) {
    if (k % spec.streamsPerConnection === 0) clients.push(openClient(spec.address, true));
    const client = clients[clients.length - 1];
    if (client === undefined) throw new Error('no client');
    const index = spec.firstHive + k;
    const s: HiveStream = {
      index,
      call: openHeartbeat(client, hiveMetadata(access, index)),
      workers: wireWorkers(index),
      devices: wireDevices(),
      nextSequence: 1n,
      sentAt: [],
      ended: false,
    };
    s.call.on('data', (ack: HeartbeatAck) => {
      const sent = s.sentAt.shift();
      if (!ack.accepted) fail(`hive ${index}: ${ack.error}`);
      if (phase === 'measure') {
        ops++;
        if (sent !== undefined) samples.add(nowMs() - sent);
      }
      if (phase !== 'stopping' && !s.ended) send(s);
    });
    s.call.on('error', (error: Error) => {
      if (phase !== 'stopping') fail(`hive ${index}: stream error: ${error.message}`);
    });
    s.call.on('status', () => {
      s.ended = true;
    });
    streams.push(s);
  }

  for (const s of streams) for (let n = 0; n < spec.window; n++) send(s);

  const { elapsedMs, cpu } = await measureWindow(spec, say, (next) => {
    phase = next;
  });

  // Let the acks in flight come back, then say goodbye (half-close) and close the connections.
  const drainUntil = nowMs() + DRAIN_MS;
  while (streams.some((s) => s.sentAt.length > 0 && !s.ended) && nowMs() < drainUntil) await sleep(20);
  for (const s of streams) if (!s.ended) s.call.end();
  const closeUntil = nowMs() + DRAIN_MS;
  while (streams.some((s) => !s.ended) && nowMs() < closeUntil) await sleep(20);
  for (const s of streams) if (!s.ended) s.call.cancel();
  for (const client of clients) client.close();

  const first = streams[0];
  const messageBytes =
    first === undefined
      ? 0
      : toBinary(
          HiveHeartbeatPayloadSchema,
          spec.variant === 'tick' ? tickPayload(first.index, 2n) : snapshotPayload(first.index, 2n),
        ).byteLength;
  return loadResult({ ops, elapsedMs, cpu, failures, firstFailure, samples, messageBytes });
}
