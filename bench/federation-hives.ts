import type { Client, ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import {
  WorkerStatus,
  type Device,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
  type WorkerState,
} from '../gen/hive/v1/registry_pb.js';
import { QueenRotation } from '../src/agent/queen-rotation.js';
import { Backoff } from '../src/common/backoff.js';
import { seededRandom } from '../src/common/seeded-random.js';
import { hiveId, snapshotPayload, tickPayload, wireDevices, wireWorkers } from './fleet.js';
import type { FederationChildEvent, HiveMove, HivesSpec, SentChange } from './federation-protocol.js';
import { monotonicMs } from './protocol.js';
import { openClient, openHeartbeat } from './registry-client.js';
import { sleep } from './stats.js';
import { markerKey, markerMs, markerNow } from './watch-protocol.js';

/** How long the first snapshots may take to be accepted. */
const READY_TIMEOUT_MS = 40_000;
/** Granularity of the tick and change schedules. */
const STEP_MS = 20;
/** The agent's rule: a stream without an ack for this long is cancelled and reopened. */
const SILENT_STREAM_MS = 15_000;
/** Workers 0-6 of a fleet hive carry a gpu_percent (worker 7 has no model); changes rotate over them. */
const CHANGED_WORKERS = 7;
/** Random draws to find a hive free to change before the change is skipped (none free: counted). */
const PICK_ATTEMPTS = 32;

type HiveState = 'connecting' | 'streaming' | 'backoff' | 'stranded' | 'aborted';

interface Hive {
  readonly index: number;
  readonly id: string;
  readonly workers: WorkerState[];
  readonly devices: Device[];
  readonly rotation: QueenRotation;
  readonly backoff: Backoff;
  readonly stranded: boolean;
  state: HiveState;
  call: ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck> | undefined;
  /** The queen of the current stream (index into the addresses). */
  queen: number;
  nextSequence: bigint;
  /** Send times of the payloads not acked yet, oldest first. */
  readonly unacked: number[];
  changes: number;
  lastChangeAtMs: number;
  /** Set at a loss, cleared once a new stream's snapshot is accepted. */
  lostAtMs: number | undefined;
  attempts: number;
}

/** Connections to one queen, `perConnection` streams each, opened as streams need them. */
class ConnectionPool {
  private readonly clients: Client[] = [];
  private streams = 0;

  constructor(
    private readonly address: string,
    private readonly perConnection: number,
  ) {}

  next(): Client {
    if (this.streams % this.perConnection === 0) this.clients.push(openClient(this.address, true));
    this.streams += 1;
    const client = this.clients[this.clients.length - 1];
    if (client === undefined) throw new Error('no connection');
    return client;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

/**
 * Change `n` of a hive, in place: one worker (rotating over 0-6) moves its gpu_percent by 17 points (even rounds)
 * or flips between BUSY and IDLE (odd rounds), and its last_heartbeat becomes `marker`: exactly one worker differs
 * from the previous snapshot.
 */
function change(hive: Hive, marker: ReturnType<typeof markerNow>): void {
  const n = hive.changes++;
  const worker = hive.workers[n % CHANGED_WORKERS];
  if (worker === undefined) throw new Error(`hive ${hive.id}: no worker ${n % CHANGED_WORKERS}`);
  if (Math.floor(n / CHANGED_WORKERS) % 2 === 0) worker.gpuPercent = ((worker.gpuPercent ?? 0) + 17) % 100;
  else worker.state = worker.state === WorkerStatus.BUSY ? WorkerStatus.IDLE : WorkerStatus.BUSY;
  worker.lastHeartbeat = marker;
}

/**
 * The federation scenario's fleet (see HivesSpec): agent-like hives over several queens, liveness ticks, changes
 * on command, and reconnection after a queen is lost. Runs until stopped.
 */
export async function runHives(
  spec: HivesSpec,
  say: (event: FederationChildEvent) => void,
  stopped: () => boolean,
  onCommand: (listener: (command: string) => void) => void,
): Promise<void> {
  const started = monotonicMs();
  const rng = seededRandom(spec.seed);
  const pools = spec.addresses.map((address) => new ConnectionPool(address, spec.streamsPerConnection));
  const strandedSet = new Set(spec.stranded);
  const hives: Hive[] = [];
  const sent: SentChange[] = [];
  const moves: HiveMove[] = [];
  let acks = 0;
  let rejected = 0;
  let firstRejection: string | undefined;
  let aborted = 0;
  let changing = false;
  let skipped = 0;
  let ending = false;

  const send = (hive: Hive, payload: HiveHeartbeatPayload): void => {
    hive.unacked.push(monotonicMs());
    hive.call?.write(payload);
  };

  const connect = (hive: Hive): void => {
    if (ending) return;
    const queen = spec.addresses.indexOf(hive.rotation.current);
    const pool = pools[queen];
    if (pool === undefined) throw new Error(`no pool for ${hive.rotation.current}`);
    const call = openHeartbeat(pool.next());
    hive.call = call;
    hive.queen = queen;
    hive.state = 'connecting';
    hive.unacked.length = 0;
    call.on('data', (ack: HeartbeatAck) => {
      if (hive.call !== call) return;
      hive.unacked.shift();
      acks += 1;
      if (!ack.accepted) {
        rejected += 1;
        firstRejection ??= `hive ${hive.id} on queen ${queen}: ${ack.error}`;
        return;
      }
      if (hive.state !== 'connecting') return;
      hive.state = 'streaming';
      hive.backoff.reset();
      if (hive.lostAtMs !== undefined) {
        const { id: hiveId, lostAtMs, attempts } = hive;
        moves.push({ hiveId, lostAtMs, acceptedAtMs: monotonicMs(), queen, attempts });
        hive.lostAtMs = undefined;
        hive.attempts = 0;
      }
    });
    call.on('error', () => undefined); // the status says it all
    call.on('status', (end: StatusObject) => {
      if (hive.call !== call || ending) return;
      hive.call = undefined;
      if (end.code === status.ABORTED) {
        // The agent stops for good: another stream took the hive over, or it was removed.
        hive.state = 'aborted';
        aborted += 1;
        return;
      }
      hive.lostAtMs ??= monotonicMs();
      hive.attempts += 1;
      if (hive.stranded) {
        hive.state = 'stranded';
        return;
      }
      hive.state = 'backoff';
      const delayMs = hive.backoff.next();
      hive.rotation.moveOn();
      setTimeout(() => connect(hive), delayMs);
    });
    send(hive, snapshotPayload(hive.index, hive.nextSequence++, hive.workers, hive.devices));
  };

  onCommand((line) => {
    const [command, a, b] = line.trim().split(/\s+/);
    if (command === 'changes' && a === 'on') changing = true;
    else if (command === 'changes' && a === 'off') changing = false;
    else if (command === 'acks') {
      say({ event: 'acks', acks, rejected, ...(firstRejection === undefined ? {} : { firstRejection }) });
    } else if (command === 'changes') {
      const [fromMs, toMs] = [Number(a), Number(b)];
      const changes = sent.filter((c) => c.atMs >= fromMs && c.atMs < toMs);
      say({ event: 'changes', changes, skipped });
    } else if (command === 'moves') say({ event: 'moves', moves, aborted });
  });

  const queens = spec.addresses.length;
  for (const seat of spec.seats) {
    const hive: Hive = {
      index: seat.index,
      id: hiveId(seat.index),
      workers: wireWorkers(seat.index),
      devices: wireDevices(),
      // The agent starts at a random queen of its list; here the seat's, so the fleet spreads evenly.
      rotation: new QueenRotation(spec.addresses, () => (seat.home + 0.5) / queens),
      backoff: new Backoff({ capMs: spec.backoffCapMs, rng }),
      stranded: strandedSet.has(seat.index),
      state: 'connecting',
      call: undefined,
      queen: seat.home,
      nextSequence: 1n,
      unacked: [],
      changes: 0,
      lastChangeAtMs: Number.NEGATIVE_INFINITY,
      lostAtMs: undefined,
      attempts: 0,
    };
    hives.push(hive);
    connect(hive);
  }
  while (hives.some((h) => h.state !== 'streaming') && rejected === 0 && monotonicMs() - started < READY_TIMEOUT_MS) {
    await sleep(10);
  }
  if (rejected > 0) throw new Error(`a first snapshot was rejected: ${firstRejection ?? '?'}`);
  const waiting = hives.filter((h) => h.state !== 'streaming').length;
  if (waiting > 0) throw new Error(`${waiting} of ${hives.length} hives not accepted within ${READY_TIMEOUT_MS} ms`);
  say({ event: 'ready', hives: hives.length, elapsedMs: monotonicMs() - started });

  // Hive i ticks at offsets i * tickEveryMs / hives within each period; change n is due n / rate after the start.
  const periodStart = monotonicMs();
  let nextTick = 0;
  let changeStart: number | undefined;
  let nextChange = 0;
  let lastMarker: ReturnType<typeof markerNow> | undefined;
  while (!stopped() && monotonicMs() - started < spec.maxLifetimeMs) {
    await sleep(STEP_MS);
    const now = monotonicMs();
    const due = Math.floor(((now - periodStart) / spec.tickEveryMs) * hives.length);
    for (; nextTick < due; nextTick++) {
      const hive = hives[nextTick % hives.length];
      if (hive === undefined || hive.state !== 'streaming') continue;
      const oldest = hive.unacked[0];
      if (oldest !== undefined && now - oldest > SILENT_STREAM_MS) hive.call?.cancel(); // then lost, as any other
      else send(hive, tickPayload(hive.index, hive.nextSequence++));
    }
    if (!changing) {
      changeStart = undefined;
      continue;
    }
    if (changeStart === undefined) [changeStart, nextChange] = [now, 0];
    for (; nextChange <= ((now - changeStart) * spec.changesPerSecond) / 1_000; nextChange++) {
      let hive: Hive | undefined;
      for (let attempt = 0; attempt < PICK_ATTEMPTS && hive === undefined; attempt++) {
        const candidate = hives[Math.floor(rng() * hives.length)];
        if (candidate?.state === 'streaming' && now - candidate.lastChangeAtMs >= spec.minChangeGapMs) hive = candidate;
      }
      if (hive === undefined) {
        skipped += 1;
        continue;
      }
      const marker = markerNow(lastMarker);
      lastMarker = marker;
      change(hive, marker);
      hive.lastChangeAtMs = now;
      send(hive, snapshotPayload(hive.index, hive.nextSequence++, hive.workers, hive.devices));
      sent.push({ hiveId: hive.id, queen: hive.queen, key: `${hive.id}/${markerKey(marker)}`, atMs: markerMs(marker) });
    }
  }
  ending = true;
  for (const hive of hives) hive.call?.cancel();
  for (const pool of pools) pool.close();
}
