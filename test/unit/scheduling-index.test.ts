import type { Backend, Device, Health, Worker, WorkerStatus } from '../../src/common/worker';
import { ManualClock } from '../../src/common/manual-clock';
import { loadOf, pickWorker, standingOf, type Pick, type PickRequest, type ScheduledWorker, type Selector } from '../../src/scheduler/pick-worker';
import { SchedulingIndex } from '../../src/scheduler/scheduling-index';
import { makeDevice, makeWorker } from '../helpers/domain-builders';
import { seededRandom } from '../helpers/seeded-random';

const STATES: WorkerStatus[] = ['idle', 'idle', 'idle', 'busy', 'loading', 'error', 'stopping', 'unspecified'];
const HEALTHS: Health[] = ['healthy', 'unspecified', 'degraded', 'healthy'];
const MODELS = ['org/a', 'org/b', 'org/c', undefined];
const BACKENDS: Backend[] = ['cuda', 'cpu'];
const GPU = [undefined, 0, 10, 10, 50, 99, 100];
const GiB = 2 ** 30;

function pickOf<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/**
 * A full snapshot that mostly repeats the last one, as hives send them: each worker the very same object (as the
 * heartbeat conversion reuses it), a fresh random one, or dropped.
 */
function resent(random: () => number, previous: readonly Worker[], hive: number): Worker[] {
  const fresh = randomWorkers(random, hive);
  const kept = previous.filter(() => random() < 0.8).map((worker) => (random() < 0.7 ? worker : (fresh.find((w) => w.workerId === worker.workerId) ?? worker)));
  return [...kept, ...fresh.filter((w) => !kept.some((k) => k.workerId === w.workerId) && random() < 0.3)];
}

function randomWorkers(random: () => number, hive: number): Worker[] {
  const count = Math.floor(random() * 5);
  return Array.from({ length: count }, (_, i) =>
    makeWorker(`w-${hive}-${i}`, {
      state: pickOf(random, STATES),
      health: pickOf(random, HEALTHS),
      modelId: pickOf(random, MODELS),
      backend: pickOf(random, BACKENDS),
      gpuPercent: pickOf(random, GPU),
      maxConcurrency: pickOf(random, [undefined, 1, 2, 4, 8]),
      // Routing v3's load fields, absent often and small, so loads and KV use tie as often as they differ.
      requestsRunning: pickOf(random, [undefined, undefined, 0, 1, 2, 3, 8]),
      requestsWaiting: pickOf(random, [undefined, undefined, 0, 0, 1, 4]),
      kvCacheUsage: pickOf(random, [undefined, undefined, 0, 0.25, 0.25, 0.5, 1]),
      deviceId: pickOf(random, [undefined, 0, 1]),
      vramBytes: pickOf(random, [undefined, 4 * GiB, 20 * GiB]),
    }),
  );
}

function randomDevices(random: () => number): Device[] {
  return pickOf(random, [[], [makeDevice(0, 24 * GiB)], [makeDevice(0, 24 * GiB), makeDevice(1, 80 * GiB)]]);
}

/**
 * A fleet as the registry and the catalog hold it, plus a model of reservations and exclusions kept by the test
 * itself, beside an index fed the same changes: the index must answer as the flat policy over this model.
 */
class Fleet {
  readonly clock = new ManualClock();
  readonly index = new SchedulingIndex(() => this.clock.now());
  readonly hives = new Map<string, { workers: Worker[]; devices: Device[]; online: boolean }>();
  readonly policies = new Map<string, { labels: Selector; cordoned: boolean }>();
  /** reservation id -> hive, worker, expiry (the test's own model). */
  readonly reservations = new Map<string, { hiveId: string; workerId: string; expiresAt: number }>();
  readonly lastPicked = new Map<string, number>();
  readonly failures = new Map<string, { failures: number; until: number }>();
  private sequence = 0;

  set(hiveId: string, workers: Worker[], online: boolean, devices: Device[] = []): void {
    // The rotation order is kept while a worker is reported; one that leaves starts afresh if it comes back.
    for (const old of this.hives.get(hiveId)?.workers ?? []) {
      if (!workers.some((w) => w.workerId === old.workerId)) this.lastPicked.delete(`${hiveId}/${old.workerId}`);
    }
    this.hives.set(hiveId, { workers, devices, online });
    this.index.snapshotReplaced(hiveId, workers, devices);
    const now = this.clock.now();
    for (const worker of workers) {
      const failure = this.failures.get(worker.workerId);
      if (worker.health === 'healthy' && failure !== undefined && failure.until <= now) this.failures.delete(worker.workerId);
    }
  }

  /** A liveness tick: a HEALTHY worker of the hive whose exclusion is over starts afresh. */
  tick(hiveId: string): void {
    this.index.heartbeatAccepted(hiveId);
    const now = this.clock.now();
    for (const worker of this.hives.get(hiveId)?.workers ?? []) {
      const failure = this.failures.get(worker.workerId);
      if (worker.health === 'healthy' && failure !== undefined && failure.until <= now) this.failures.delete(worker.workerId);
    }
  }

  remove(hiveId: string): void {
    for (const old of this.hives.get(hiveId)?.workers ?? []) this.lastPicked.delete(`${hiveId}/${old.workerId}`);
    this.hives.delete(hiveId);
    this.index.hiveRemoved(hiveId);
  }

  policy(hiveId: string, labels: Selector, cordoned: boolean): void {
    this.policies.set(hiveId, { labels, cordoned });
    this.index.setPolicy(hiveId, { labels, cordoned });
  }

  private expire(): void {
    const now = this.clock.now();
    for (const [id, r] of this.reservations) if (r.expiresAt <= now) this.reservations.delete(id);
  }

  /** The flat reference policy over every worker, with the test's model of reservations and exclusions. */
  reference(request: PickRequest): Pick {
    return pickWorker(this.entries(), request);
  }

  /** Every worker as the reference policy sees it, with the test's model of reservations and exclusions. */
  entries(): ScheduledWorker[] {
    this.expire();
    const now = this.clock.now();
    return [...this.hives].flatMap(([hiveId, hive]) => {
      const used = new Map<number, number>();
      for (const w of hive.workers) {
        if (w.deviceId !== undefined && w.vramBytes !== undefined) used.set(w.deviceId, (used.get(w.deviceId) ?? 0) + w.vramBytes);
      }
      return hive.workers.map((worker) => {
        const device = worker.deviceId === undefined ? undefined : hive.devices.find((d) => d.deviceId === worker.deviceId);
        const free = device === undefined ? undefined : Math.max(0, device.vramTotalBytes - (used.get(device.deviceId) ?? 0));
        const key = `${hiveId}/${worker.workerId}`;
        return {
          hiveId,
          worker,
          hiveOnline: hive.online,
          reserved: [...this.reservations.values()].filter((r) => r.hiveId === hiveId && r.workerId === worker.workerId).length,
          excluded: (this.failures.get(worker.workerId)?.until ?? 0) > now,
          cordoned: this.policies.get(hiveId)?.cordoned ?? false,
          labels: this.policies.get(hiveId)?.labels ?? {},
          ...(free === undefined ? {} : { freeVramBytes: free }),
          lastPicked: this.lastPicked.get(key) ?? 0,
        };
      });
    });
  }

  /**
   * The gateway's single-worker view, from the reference: the least load among candidates with `modelId` on online
   * hives, and each worker's load and candidacy (undefined when offline or without the model).
   */
  referenceLoads(modelId: string): { least: number | undefined; workers: Map<string, { load: number; free: boolean } | undefined> } {
    let least: number | undefined;
    const workers = new Map<string, { load: number; free: boolean } | undefined>();
    for (const e of this.entries()) {
      const key = `${e.hiveId}/${e.worker.workerId}`;
      if (!e.hiveOnline || e.worker.modelId !== modelId) {
        workers.set(key, undefined);
        continue;
      }
      const load = loadOf(e.worker, e.reserved);
      const free = standingOf(e.worker, e.reserved, e.excluded, e.cordoned) === 'candidate';
      workers.set(key, { load, free });
      if (free && (least === undefined || load < least)) least = load;
    }
    return { least, workers };
  }

  /** The index's reserving pick of one given worker; recorded in the test's model when it succeeds. */
  reserveOn(hiveId: string, workerId: string, modelId: string): Pick | undefined {
    const online = (id: string): boolean => this.hives.get(id)?.online ?? false;
    const pick = this.index.reserveOn(hiveId, workerId, modelId, 5_000, online);
    if (pick?.kind === 'picked' && pick.reservation !== undefined) {
      this.reservations.set(pick.reservation.reservationId, { hiveId, workerId, expiresAt: this.clock.now() + 5_000 });
      this.lastPicked.set(`${hiveId}/${workerId}`, ++this.sequence);
    }
    return pick;
  }

  /** The index's pick; a reserving one is recorded in the test's model as well. */
  indexed(request: PickRequest): Pick {
    const pick = this.index.pick(request, (hiveId) => this.hives.get(hiveId)?.online ?? false);
    if (pick.kind === 'picked' && pick.reservation !== undefined) {
      const { hiveId, worker } = pick.entry;
      this.reservations.set(pick.reservation.reservationId, {
        hiveId,
        workerId: worker.workerId,
        expiresAt: this.clock.now() + (request.reservationTtlMs ?? 30_000),
      });
      this.lastPicked.set(`${hiveId}/${worker.workerId}`, ++this.sequence);
    }
    return pick;
  }

  release(reservationId: string, success: boolean): boolean {
    this.expire();
    const known = this.reservations.delete(reservationId);
    const released = this.index.release(reservationId, success);
    expect(released !== undefined).toBe(known);
    if (known && success && released !== undefined) this.failures.delete(released.workerId);
    return known;
  }

  fail(workerId: string): void {
    const now = this.clock.now();
    const failures = (this.failures.get(workerId)?.failures ?? 0) + 1;
    const until = now + Math.min(300_000, 1_000 * 2 ** (failures - 1));
    this.failures.set(workerId, { failures, until });
    expect(this.index.reportFailure(workerId)).toEqual({ workerId, failures, excludedUntil: until });
  }
}

/** What the test compares of a pick: without the reservation (its id and expiry are the index's). */
function comparable(pick: Pick): unknown {
  if (pick.kind !== 'picked') return pick;
  return { kind: pick.kind, hiveId: pick.entry.hiveId, workerId: pick.entry.worker.workerId, modelLoaded: pick.modelLoaded };
}

/** The gateway's calls (standingFor, leastLoad, reserveOn) against the reference, for one model. */
function checkSingleWorkers(fleet: Fleet, modelId: string, random: () => number): void {
  const online = (hiveId: string): boolean => fleet.hives.get(hiveId)?.online ?? false;
  const { least, workers } = fleet.referenceLoads(modelId);
  expect({ modelId, least: fleet.index.leastLoad(modelId, online) }).toEqual({ modelId, least });
  for (const [key, expected] of workers) {
    const [hiveId = '', workerId = ''] = key.split('/');
    expect({ key, standing: fleet.index.standingFor(hiveId, workerId, modelId, online) }).toEqual({ key, standing: expected });
  }
  const keys = [...workers.keys()];
  if (keys.length === 0 || random() < 0.5) return;
  const key = pickOf(random, keys);
  const [hiveId = '', workerId = ''] = key.split('/');
  const pick = fleet.reserveOn(hiveId, workerId, modelId);
  expect({ key, reserved: pick?.kind === 'picked' }).toEqual({ key, reserved: workers.get(key)?.free ?? false });
}

describe('SchedulingIndex', () => {
  test.each(Array.from({ length: 60 }, (_, seed) => [seed]))(
    'gives the same answer as the flat policy on random fleet %i, through snapshots, reservations, failures, labels and cordon',
    (seed) => {
      const random = seededRandom(seed + 1);
      const fleet = new Fleet();
      const hiveCount = 1 + Math.floor(random() * 12);
      for (let round = 0; round < 12; round++) {
        for (let h = 0; h < hiveCount; h++) {
          const roll = random();
          if (roll < 0.1) fleet.remove(`hive-${h}`);
          else if (roll < 0.3) fleet.tick(`hive-${h}`);
          else if (roll < 0.6) fleet.set(`hive-${h}`, randomWorkers(random, h), random() < 0.85, randomDevices(random));
          else if (roll < 0.7) fleet.set(`hive-${h}`, resent(random, fleet.hives.get(`hive-${h}`)?.workers ?? [], h), random() < 0.85, randomDevices(random));
          if (random() < 0.2) {
            fleet.policy(`hive-${h}`, pickOf<Selector>(random, [{}, { zone: 'a' }, { zone: 'b' }, { zone: 'a', gpu: 'h100' }]), random() < 0.15);
          }
        }
        for (let step = 0; step < 8; step++) {
          const request: PickRequest = {
            modelId: pickOf(random, ['org/a', 'org/b', 'org/c', 'org/none']),
            reserve: random() < 0.6,
            reservationTtlMs: pickOf(random, [1_000, 5_000, 30_000]),
            minVramBytes: pickOf(random, [0, 0, 4 * GiB, 30 * GiB, 100 * GiB]),
            selector: pickOf<Selector>(random, [{}, {}, { zone: 'a' }, { gpu: 'h100' }, { zone: 'c' }]),
            loadedOnly: random() < 0.3,
          };
          const expected = comparable(fleet.reference(request));
          expect({ round, step, request, pick: comparable(fleet.indexed(request)) }).toEqual({ round, step, request, pick: expected });
          checkSingleWorkers(fleet, pickOf(random, ['org/a', 'org/b', 'org/c']), random);
        }
        const ids = [...fleet.reservations.keys()];
        for (const id of ids) if (random() < 0.3) fleet.release(id, random() < 0.5);
        if (random() < 0.3) fleet.release('unknown', true);
        for (let f = 0; f < 2; f++) if (random() < 0.4) fleet.fail(`w-${Math.floor(random() * hiveCount)}-${Math.floor(random() * 4)}`);
        fleet.clock.advance(pickOf(random, [0, 500, 1_000, 3_000, 40_000]));
      }
      // Both drop expired reservations when asked: after one more call each, they hold the same ones.
      fleet.reference({ modelId: 'org/none' });
      fleet.indexed({ modelId: 'org/none' });
      expect(fleet.index.reservationCount).toBe(fleet.reservations.size);
    },
  );

  test('picks the least loaded idle holder of the model across hives, ties on hive id then worker id', () => {
    const fleet = new Fleet();
    fleet.set('h-b', [makeWorker('w-1', { modelId: 'm', gpuPercent: 20 })], true);
    fleet.set('h-a', [makeWorker('w-9', { modelId: 'm', gpuPercent: 20 }), makeWorker('w-2', { modelId: 'm', gpuPercent: 20 })], true);
    expect(fleet.indexed({ modelId: 'm' })).toMatchObject({ kind: 'picked', modelLoaded: true, entry: { hiveId: 'h-a', worker: { workerId: 'w-2' } } });
  });

  test('a new snapshot replaces the old one: a worker that became busy is no longer picked', () => {
    const fleet = new Fleet();
    fleet.set('h', [makeWorker('w', { modelId: 'm' })], true);
    expect(fleet.indexed({ modelId: 'm' })).toMatchObject({ kind: 'picked', modelLoaded: true });
    fleet.set('h', [makeWorker('w', { modelId: 'm', state: 'busy' })], true);
    expect(fleet.indexed({ modelId: 'm' })).toEqual({ kind: 'no_capacity', eligible: 1, busy: 1 });
  });

  test('a removed hive is forgotten, and removing twice is harmless', () => {
    const fleet = new Fleet();
    fleet.set('h', [makeWorker('w', { modelId: 'm' })], true);
    fleet.remove('h');
    fleet.remove('h');
    expect(fleet.indexed({ modelId: 'm' })).toEqual({ kind: 'unavailable', eligible: 0 });
  });

  test('liveness is asked at pick time: an offline hive is skipped without any update', () => {
    const fleet = new Fleet();
    fleet.set('h-a', [makeWorker('a', { modelId: 'm', gpuPercent: 0 })], true);
    fleet.set('h-b', [makeWorker('b', { gpuPercent: 50 })], true);
    const online = new Set(['h-b']);
    expect(fleet.index.pick({ modelId: 'm' }, (id) => online.has(id))).toMatchObject({
      kind: 'picked',
      modelLoaded: false,
      entry: { hiveId: 'h-b', hiveOnline: true, worker: { workerId: 'b' } },
    });
  });
});
