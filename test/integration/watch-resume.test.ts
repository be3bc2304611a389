// The randomized Watch test: a seeded generator drives a fleet of hives through random changes (snapshots with
// worker changes, ticks, stream ends and cancels, reconnects, supersedes, RemoveHive, lapses, an eviction) while a
// watcher built on the typed client's `watch()` keeps a local model of the registry and is disconnected at random
// moments. It resumes as the iterator does (start_revision and epoch of where it stands), once after the history
// window was exceeded (RESYNC). At random quiet points and at the end, the model must equal what the reads report.
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { createRegistryClient, type RegistryClient } from '../../src/client/registry-client';
import { eventually, expectStatus, type HeartbeatStream } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { seededRandom } from '../helpers/seeded-random';
import { snapshotPayload, tickPayload, wireWorker, type WorkerInit } from '../helpers/wire-builders';
import { WatchModel, within } from '../helpers/watch-events';
import { status } from '@grpc/grpc-js';

const SEED = Number(process.env['WATCH_SEED'] ?? 20_260_101);
const HIVE_COUNT = 10;
const STEPS = 300;
/** Small, so a watcher away for a while falls out of it. */
const HISTORY_EVENTS = 100;
const MAX_WORKERS_PER_HIVE = 8;

/** One call of the watcher: where it resumed from, and what came first. */
interface CallRecord {
  readonly fromRevision: number;
  /** The registry's revision when the call was opened. */
  readonly revisionAtOpen: number;
  first?: string;
}

/**
 * A watcher over the typed client's `watch()`. `disconnect()` aborts the iterator (what a lost connection does to
 * it); `connect()` opens a new one from the model's position: the start_revision and epoch of the last SYNCED or
 * live event it applied, which is what the iterator itself resumes with.
 */
class ResumingWatcher {
  readonly model = new WatchModel();
  readonly calls: CallRecord[] = [];
  failure: unknown;
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: RegistryClient,
    private readonly revisionNow: () => number,
  ) {}

  get connected(): boolean {
    return this.running !== undefined;
  }

  /** Opens a call and waits for its first event, so the queen has taken the request before anything else changes. */
  async connect(): Promise<void> {
    if (this.running !== undefined) throw new Error('already connected');
    this.model.beginCall();
    const { revision, epoch } = this.model.position;
    const record: CallRecord = { fromRevision: revision, revisionAtOpen: this.revisionNow() };
    this.calls.push(record);
    const controller = new AbortController();
    this.controller = controller;
    this.running = (async () => {
      for await (const update of this.client.watch({ startRevision: revision, epoch, signal: controller.signal })) {
        record.first ??= update.type;
        this.model.apply(update);
      }
    })().catch((error: unknown) => {
      this.failure = error;
    });
    await this.model.until(
      () => record.first !== undefined || this.failure !== undefined,
      `the first event of a watch from revision ${revision} (registry at ${record.revisionAtOpen})`,
    );
  }

  async disconnect(): Promise<void> {
    if (this.running === undefined) return;
    this.controller?.abort();
    await within(this.running, 5_000, 'the aborted watch to end');
    this.running = undefined;
    this.controller = undefined;
  }
}

/** A hive of the simulation: its open stream (if any) and the workers it reports. */
interface SimHive {
  readonly hiveId: string;
  stream?: HeartbeatStream;
  sequence: number;
  workers: WorkerInit[];
  nextWorker: number;
}

describe('Watch, randomized', () => {
  let q: TestQueen;
  let client: RegistryClient;
  let watcher: ResumingWatcher | undefined;

  beforeEach(async () => {
    q = await TestQueen.start({ watchHistoryEvents: HISTORY_EVENTS });
    client = createRegistryClient(q.address);
  });

  afterEach(async () => {
    await watcher?.disconnect();
    client.close();
    await q.stop();
  });

  it(`a resuming watcher's model equals the registry's reads (seed ${SEED})`, async () => {
    const rng = seededRandom(SEED);
    const below = (n: number): number => Math.floor(rng() * n);
    const chance = (p: number): boolean => rng() < p;
    const revision = (): number => q.queen.registry.revision;
    const w = new ResumingWatcher(client, revision);
    watcher = w;
    const log: string[] = [];
    const hives: SimHive[] = Array.from({ length: HIVE_COUNT }, (_, i) => ({
      hiveId: `hive-${String(i).padStart(2, '0')}`,
      sequence: 0,
      workers: [],
      nextWorker: 0,
    }));
    const openStreams = (): number => hives.filter((h) => h.stream !== undefined).length;

    /** Sends on the hive's stream (opening one if needed); the payload must be accepted. */
    async function send(hive: SimHive, tick: boolean): Promise<void> {
      if (hive.stream === undefined) {
        hive.stream = q.client.heartbeat();
        tick = false; // a stream's first payload is a full snapshot
      }
      hive.sequence += 1;
      const payload = tick ? tickPayload(hive.hiveId, hive.sequence) : snapshotPayload(hive.hiveId, hive.sequence, hive.workers);
      const ack = await hive.stream.send(payload);
      expect({ hiveId: hive.hiveId, accepted: ack.accepted, error: ack.error }).toEqual({ hiveId: hive.hiveId, accepted: true, error: '' });
    }

    /** Random changes to a hive's workers: load, state, model, removals and additions (maybe none at all). */
    function mutate(hive: SimHive): void {
      const states = [WorkerStatus.IDLE, WorkerStatus.BUSY, WorkerStatus.LOADING, WorkerStatus.ERROR];
      const next: WorkerInit[] = [];
      for (const worker of hive.workers) {
        if (chance(0.08)) continue;
        let changed = worker;
        if (chance(0.3)) changed = { ...changed, gpuPercent: below(101) };
        if (chance(0.15)) changed = { ...changed, cpuPercent: below(101) };
        if (chance(0.1)) changed = { ...changed, state: states[below(states.length)] as WorkerStatus };
        if (chance(0.05)) changed = { ...changed, modelId: `model-${below(4)}` };
        next.push(changed);
      }
      if (chance(0.3)) {
        for (let n = 1 + below(3); n > 0 && next.length < MAX_WORKERS_PER_HIVE; n--) {
          next.push(wireWorker(`${hive.hiveId}-w${hive.nextWorker++}`, { gpuPercent: below(101), vramBytes: BigInt(below(8)) << 30n }));
        }
      }
      hive.workers = next;
    }

    async function endStream(hive: SimHive, how: 'end' | 'cancel'): Promise<void> {
      const stream = hive.stream;
      if (stream === undefined) return;
      hive.stream = undefined;
      if (how === 'end') {
        stream.end();
        expectStatus(await within(stream.status, 5_000, 'the half-closed stream to end'), status.OK);
      } else {
        stream.cancel();
        // The cancel reaches the server asynchronously.
        expect(await eventually(async () => q.queen.registry.streamCount === openStreams())).toBe(true);
      }
    }

    /** The queen ended these streams (removal, eviction, supersede): wait for each to see it. */
    async function serverEnded(streams: HeartbeatStream[]): Promise<void> {
      for (const stream of streams) {
        expectStatus(await within(stream.status, 5_000, 'a stream ended by the queen'), status.ABORTED);
      }
    }

    /**
     * A quiet point: the sweep announces lapses (the watch's liveness follows the sweep), the watcher catches up to
     * the registry's revision, then its model must equal the reads.
     */
    async function check(label: string): Promise<void> {
      q.queen.sweep();
      const target = revision();
      await w.model.until(
        () => w.model.synced && w.model.position.revision === target,
        `${label}: the watcher synced at revision ${target}; failure: ${String(w.failure)}; last steps: ${log.slice(-5).join(' | ')}`,
      );
      const [hiveIds, activeIds, entries] = await Promise.all([client.listAllHives(), client.listActiveHives(), client.listAllWorkers()]);
      const online = await Promise.all(hiveIds.map((hiveId) => client.isHiveOnline(hiveId)));
      expect({ label, violations: w.model.violations }).toEqual({ label, violations: [] });
      expect({ label, hives: w.model.hiveIds(), online: w.model.onlineHiveIds(), workers: w.model.entries() }).toEqual({
        label,
        hives: hiveIds,
        online: hiveIds.filter((_, i) => online[i] === true),
        // Watch events carry no owner queen: compare the rest.
        workers: entries.map(({ queenId: _queen, ...entry }) => entry),
      });
      expect(activeIds).toEqual(hiveIds.filter((_, i) => online[i] === true));
      expect(revision()).toBe(target); // nothing moved while comparing
      checks += 1;
    }

    let checks = 0;
    let reconnectAtStep = -1;
    /** The scripted long absence: back only once more than the history happened meanwhile. */
    let awayUntilRevision: number | undefined;
    const longAbsenceAt = Math.floor(STEPS / 3);
    const evictionAt = Math.floor((STEPS * 2) / 3);

    await w.connect();
    for (let step = 0; step < STEPS; step++) {
      // The watcher: away, back, and the long absence.
      if (step === longAbsenceAt) {
        await w.disconnect();
        awayUntilRevision = w.model.position.revision + HISTORY_EVENTS + 20;
        log.push(`${step}: watcher away until revision ${awayUntilRevision}`);
      } else if (!w.connected && awayUntilRevision === undefined && step >= reconnectAtStep) {
        await w.connect();
        log.push(`${step}: watcher back from ${w.model.position.revision}`);
      } else if (!w.connected && awayUntilRevision !== undefined && revision() > awayUntilRevision) {
        awayUntilRevision = undefined;
        await w.connect();
        log.push(`${step}: watcher back after the long absence, from ${w.model.position.revision} at ${revision()}`);
      } else if (w.connected && chance(0.05)) {
        await w.disconnect();
        reconnectAtStep = step + 1 + below(15);
        log.push(`${step}: watcher away until step ${reconnectAtStep}`);
      }

      if (step === evictionAt) {
        // Everyone silent for the eviction threshold: every hive is removed, its stream ended by the queen.
        const streams = hives.flatMap((h) => (h.stream === undefined ? [] : [h.stream]));
        for (const hive of hives) hive.stream = undefined;
        q.clock.advance(q.config.evictAfterMs);
        q.queen.sweep();
        await serverEnded(streams);
        expect((await client.listAllHives()).length).toBe(0);
        log.push(`${step}: everyone evicted`);
        continue;
      }

      const hive = hives[below(hives.length)] as SimHive;
      const roll = rng();
      if (roll < 0.45) {
        mutate(hive);
        await send(hive, false);
        log.push(`${step}: ${hive.hiveId} snapshot of ${hive.workers.length}`);
      } else if (roll < 0.6) {
        await send(hive, true);
        log.push(`${step}: ${hive.hiveId} tick`);
      } else if (roll < 0.68) {
        await endStream(hive, 'end');
        log.push(`${step}: ${hive.hiveId} stream end`);
      } else if (roll < 0.74) {
        await endStream(hive, 'cancel');
        log.push(`${step}: ${hive.hiveId} stream cancel`);
      } else if (roll < 0.78) {
        // A reconnect while the old stream is still open: the new one supersedes it.
        const old = hive.stream;
        hive.stream = undefined;
        mutate(hive);
        await send(hive, false);
        if (old !== undefined) await serverEnded([old]);
        log.push(`${step}: ${hive.hiveId} superseded`);
      } else if (roll < 0.82) {
        const old = hive.stream;
        hive.stream = undefined;
        const { removed } = await q.rpc.removeHive({ hiveId: hive.hiveId });
        if (old !== undefined) await serverEnded([old]);
        log.push(`${step}: ${hive.hiveId} removed (${removed})`);
      } else if (roll < 0.94) {
        q.clock.advance(1_000 + below(q.config.offlineAfterMs));
        q.queen.sweep();
        log.push(`${step}: clock advanced, swept`);
      } else if (w.connected && awayUntilRevision === undefined) {
        await check(`step ${step}`);
        log.push(`${step}: checked`);
      }
    }

    if (!w.connected) await w.connect();
    await check('the end');

    // The run exercised what it is about.
    const resumed = w.calls.filter((call) => call.fromRevision > 0);
    const replays = resumed.filter((call) => call.first !== 'resync');
    const resyncs = resumed.filter((call) => call.first === 'resync');
    expect({
      checksAtLeast3: checks >= 3,
      replaysAtLeast3: replays.length >= 3,
      resyncAfterTheHistory: resyncs.some((call) => call.revisionAtOpen - call.fromRevision > HISTORY_EVENTS),
      // A resume within the history is always a replay, never a RESYNC.
      resyncsWithinTheHistory: resyncs.filter((call) => call.revisionAtOpen - call.fromRevision <= HISTORY_EVENTS).length,
    }).toEqual({ checksAtLeast3: true, replaysAtLeast3: true, resyncAfterTheHistory: true, resyncsWithinTheHistory: 0 });
    expect(w.failure).toBeUndefined();
  });
});
