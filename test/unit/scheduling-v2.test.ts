// Scheduling v2 in the pure domain, on a manual clock: reservations and their expiry, spread, failure feedback,
// VRAM fit, selectors and cordon.
import { ManualClock } from '../../src/common/manual-clock';
import type { Device, Worker } from '../../src/common/worker';
import { exclusionMs } from '../../src/scheduler/exclusions';
import type { Pick, PickRequest } from '../../src/scheduler/pick-worker';
import { SchedulingIndex } from '../../src/scheduler/scheduling-index';
import { makeDevice, makeWorker } from '../helpers/domain-builders';

const MODEL = 'org/model';
const GiB = 2 ** 30;

function setup(): { clock: ManualClock; index: SchedulingIndex; pick: (request: Partial<PickRequest>) => Pick } {
  const clock = new ManualClock();
  const index = new SchedulingIndex(() => clock.now());
  const pick = (request: Partial<PickRequest>): Pick => index.pick({ modelId: MODEL, ...request }, () => true);
  return { clock, index, pick };
}

function picked(pick: Pick): string {
  if (pick.kind !== 'picked') throw new Error(`expected a pick, got ${JSON.stringify(pick)}`);
  return `${pick.entry.hiveId}/${pick.entry.worker.workerId}`;
}

function reservationOf(pick: Pick): string {
  if (pick.kind !== 'picked' || pick.reservation === undefined) throw new Error(`expected a reservation, got ${JSON.stringify(pick)}`);
  return pick.reservation.reservationId;
}

function hive(index: SchedulingIndex, hiveId: string, workers: Worker[], devices: Device[] = []): void {
  index.snapshotReplaced(hiveId, workers, devices);
}

describe('reservations', () => {
  test('a reservation holds one slot; a worker with every slot reserved is not picked by any call', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL, maxConcurrency: 2 })]);
    reservationOf(pick({ reserve: true }));
    reservationOf(pick({ reserve: true }));
    expect(pick({})).toEqual({ kind: 'no_capacity', eligible: 1, busy: 1 });
    expect(pick({ reserve: true })).toEqual({ kind: 'no_capacity', eligible: 1, busy: 1 });
    expect(index.reservationCount).toBe(2);
  });

  test('absent max_concurrency means one slot', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    reservationOf(pick({ reserve: true }));
    expect(pick({ reserve: true }).kind).toBe('no_capacity');
  });

  test('release frees the slot at once; a second release, or one of an unknown id, releases nothing', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    const id = reservationOf(pick({ reserve: true }));
    expect(index.release(id, true)).toMatchObject({ reservationId: id, hiveId: 'h', workerId: 'w' });
    expect(index.release(id, true)).toBeUndefined();
    expect(index.release('nope', true)).toBeUndefined();
    expect(picked(pick({}))).toBe('h/w');
  });

  test('a reservation expires after its TTL, exactly: not a millisecond before', () => {
    const { clock, index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    const id = reservationOf(pick({ reserve: true, reservationTtlMs: 5_000 }));
    clock.advance(4_999);
    expect(pick({}).kind).toBe('no_capacity');
    clock.advance(1);
    expect(picked(pick({}))).toBe('h/w');
    expect(index.reservationCount).toBe(0);
    expect(index.release(id, true)).toBeUndefined();
  });

  test('the default TTL is 30 s', () => {
    const { clock, index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    reservationOf(pick({ reserve: true }));
    clock.advance(29_999);
    expect(pick({}).kind).toBe('no_capacity');
    clock.advance(1);
    expect(pick({}).kind).toBe('picked');
  });

  test('fewest reserved slots ranks before GPU load', () => {
    const { index, pick } = setup();
    hive(index, 'h', [
      makeWorker('cool', { modelId: MODEL, gpuPercent: 0, maxConcurrency: 4 }),
      makeWorker('warm', { modelId: MODEL, gpuPercent: 50, maxConcurrency: 4 }),
    ]);
    expect(picked(pick({ reserve: true }))).toBe('h/cool');
    // cool now holds one reservation: warm, with none, comes first despite its load.
    expect(picked(pick({}))).toBe('h/warm');
    expect(picked(pick({ reserve: true }))).toBe('h/warm');
    expect(picked(pick({}))).toBe('h/cool');
  });

  test('reservations survive a new snapshot of their worker, and apply when it comes back after leaving it', () => {
    const { index, pick } = setup();
    const w = makeWorker('w', { modelId: MODEL });
    hive(index, 'h', [w]);
    reservationOf(pick({ reserve: true }));
    hive(index, 'h', [{ ...w, gpuPercent: 10 }]);
    expect(pick({}).kind).toBe('no_capacity');
    hive(index, 'h', []);
    hive(index, 'h', [w]);
    expect(pick({}).kind).toBe('no_capacity');
  });
});

describe('spread', () => {
  test('reserving picks rotate among exact ties; plain picks keep the hive id, worker id order', () => {
    const { index, pick } = setup();
    hive(index, 'h-b', [makeWorker('w-1', { modelId: MODEL, maxConcurrency: 8 })]);
    hive(index, 'h-a', [makeWorker('w-2', { modelId: MODEL, maxConcurrency: 8 }), makeWorker('w-1', { modelId: MODEL, maxConcurrency: 8 })]);
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reserving = pick({ reserve: true });
      order.push(picked(reserving));
      index.release(reservationOf(reserving), true);
    }
    // Each reservation was released before the next pick: reserved counts stay equal, so only rotation spreads.
    expect(order).toEqual(['h-a/w-1', 'h-a/w-2', 'h-b/w-1', 'h-a/w-1', 'h-a/w-2', 'h-b/w-1']);
    expect(picked(pick({}))).toBe('h-a/w-1');
  });

  test('a burst of 1,000 reserving picks over 100 equal idle workers (16 slots) puts no worker above twice the mean', () => {
    const { index, pick } = setup();
    for (let h = 0; h < 10; h++) {
      hive(index, `hive-${h}`, Array.from({ length: 10 }, (_, w) => makeWorker(`w-${h}-${w}`, { modelId: MODEL, gpuPercent: 5, maxConcurrency: 16 })));
    }
    const spread = new Map<string, number>();
    for (let i = 0; i < 1_000; i++) {
      const where = picked(pick({ reserve: true }));
      spread.set(where, (spread.get(where) ?? 0) + 1);
    }
    const counts = [...spread.values()];
    expect(counts.length).toBe(100);
    expect(Math.max(...counts)).toBeLessThanOrEqual(2 * (1_000 / 100));
    expect(Math.max(...counts) - Math.min(...counts)).toBe(0);

    // The plain rule, between two heartbeats, sends every one of them to the same worker.
    const plain = setup();
    for (let h = 0; h < 10; h++) {
      hive(plain.index, `hive-${h}`, Array.from({ length: 10 }, (_, w) => makeWorker(`w-${h}-${w}`, { modelId: MODEL, gpuPercent: 5, maxConcurrency: 16 })));
    }
    const plainPicks = new Set(Array.from({ length: 1_000 }, () => picked(plain.pick({}))));
    expect([...plainPicks]).toEqual(['hive-0/w-0-0']);
  });
});

describe('failure feedback', () => {
  test('the exclusion doubles with each failure in a row: 1 s, 2 s, 4 s ... at most 5 min', () => {
    expect([1, 2, 3, 4, 9, 10, 50].map(exclusionMs)).toEqual([1_000, 2_000, 4_000, 8_000, 256_000, 300_000, 300_000]);
  });

  test('an excluded worker is not picked until its exclusion ends; then it is', () => {
    const { clock, index, pick } = setup();
    hive(index, 'h', [makeWorker('bad', { modelId: MODEL, gpuPercent: 0 }), makeWorker('ok', { modelId: MODEL, gpuPercent: 50 })]);
    const start = clock.now();
    expect(index.reportFailure('bad')).toEqual({ workerId: 'bad', failures: 1, excludedUntil: start + 1_000 });
    expect(picked(pick({}))).toBe('h/ok');
    clock.advance(999);
    expect(picked(pick({}))).toBe('h/ok');
    clock.advance(1);
    expect(picked(pick({}))).toBe('h/bad');
    // Failures in a row: the record outlives the exclusion, so the next one doubles.
    expect(index.reportFailure('bad')).toEqual({ workerId: 'bad', failures: 2, excludedUntil: start + 3_000 });
  });

  test('the only worker excluded: RESOURCE_EXHAUSTED (capacity comes back), not UNAVAILABLE', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    index.reportFailure('w');
    expect(pick({})).toEqual({ kind: 'no_capacity', eligible: 1, busy: 1 });
  });

  test('a successful release clears the record at once; a failed one does not', () => {
    const { clock, index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL, maxConcurrency: 4 })]);
    const first = reservationOf(pick({ reserve: true }));
    const second = reservationOf(pick({ reserve: true }));
    index.reportFailure('w');
    index.release(first, false);
    expect(index.failureOf('w')).toMatchObject({ failures: 1 });
    expect(pick({}).kind).toBe('no_capacity');
    index.release(second, true);
    expect(index.failureOf('w')).toBeUndefined();
    expect(picked(pick({}))).toBe('h/w');
    clock.advance(10);
    expect(index.reportFailure('w')).toMatchObject({ failures: 1, excludedUntil: clock.now() + 1_000 });
  });

  test('a heartbeat reporting it HEALTHY after the exclusion ends clears the record; during it, or UNSPECIFIED, does not', () => {
    const { clock, index } = setup();
    const w = makeWorker('w', { modelId: MODEL, health: 'healthy' });
    hive(index, 'h', [w]);
    index.reportFailure('w');
    hive(index, 'h', [w]);
    expect(index.failureOf('w')).toMatchObject({ failures: 1 });
    clock.advance(1_000);
    hive(index, 'h', [{ ...w, health: 'unspecified' }]);
    expect(index.failureOf('w')).toMatchObject({ failures: 1 });
    index.heartbeatAccepted('h');
    expect(index.failureOf('w')).toMatchObject({ failures: 1 });
    hive(index, 'h', [w]);
    expect(index.failureOf('w')).toBeUndefined();
  });

  test('a liveness tick counts as the heartbeat reporting it HEALTHY, and the worker is picked again at once', () => {
    const { clock, index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL, health: 'healthy' })]);
    index.reportFailure('w');
    clock.advance(1_000);
    // The tick comes before any pick has noticed that the exclusion ended.
    index.heartbeatAccepted('h');
    expect(index.failureOf('w')).toBeUndefined();
    expect(picked(pick({}))).toBe('h/w');
  });
});

describe('VRAM fit (the fallback only)', () => {
  const devices = [makeDevice(0, 24 * GiB), makeDevice(1, 80 * GiB)];

  test('exact fit is a fit; one byte more is not, and the answer names the most that is free', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { deviceId: 0, vramBytes: 4 * GiB })], devices);
    expect(picked(pick({ minVramBytes: 20 * GiB }))).toBe('h/w');
    expect(pick({ minVramBytes: 20 * GiB + 1 })).toEqual({ kind: 'no_vram_fit', askedBytes: 20 * GiB + 1, mostFreeBytes: 20 * GiB });
  });

  test('several devices: each worker is judged by its own device', () => {
    const { index, pick } = setup();
    hive(
      index,
      'h',
      [makeWorker('small', { deviceId: 0, gpuPercent: 0 }), makeWorker('big', { deviceId: 1, gpuPercent: 90, vramBytes: 10 * GiB })],
      devices,
    );
    expect(picked(pick({ minVramBytes: 30 * GiB }))).toBe('h/big');
    expect(picked(pick({ minVramBytes: 10 * GiB }))).toBe('h/small');
    expect(pick({ minVramBytes: 71 * GiB })).toEqual({ kind: 'no_vram_fit', askedBytes: 71 * GiB, mostFreeBytes: 70 * GiB });
  });

  test('no devices reported, or no device on the worker: nothing fits (0 free)', () => {
    const { index, pick } = setup();
    hive(index, 'bare', [makeWorker('w1', { deviceId: 0 })]);
    hive(index, 'h', [makeWorker('w2')], devices);
    expect(pick({ minVramBytes: 1 })).toEqual({ kind: 'no_vram_fit', askedBytes: 1, mostFreeBytes: 0 });
    expect(pick({ minVramBytes: 0 }).kind).toBe('picked');
  });

  test('a worker with the model loaded is picked whatever the VRAM asked', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    expect(pick({ minVramBytes: 1_000 * GiB })).toMatchObject({ kind: 'picked', modelLoaded: true });
  });

  test("workers' VRAM comes off their device's total, floored at 0", () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('a', { deviceId: 0, vramBytes: 30 * GiB }), makeWorker('b', { deviceId: 0, state: 'busy', vramBytes: 1 })], devices);
    expect(pick({ minVramBytes: 1 })).toEqual({ kind: 'no_vram_fit', askedBytes: 1, mostFreeBytes: 0 });
  });
});

describe('selectors and cordon', () => {
  test('a selector picks among the hives whose labels include every entry', () => {
    const { index, pick } = setup();
    hive(index, 'eu', [makeWorker('w-eu', { modelId: MODEL, gpuPercent: 50 })]);
    hive(index, 'us', [makeWorker('w-us', { modelId: MODEL, gpuPercent: 0 })]);
    index.setPolicy('eu', { labels: { zone: 'eu', gpu: 'h100' }, cordoned: false });
    index.setPolicy('us', { labels: { zone: 'us', gpu: 'h100' }, cordoned: false });
    expect(picked(pick({}))).toBe('us/w-us');
    expect(picked(pick({ selector: { zone: 'eu' } }))).toBe('eu/w-eu');
    expect(picked(pick({ selector: { zone: 'eu', gpu: 'h100' } }))).toBe('eu/w-eu');
    expect(pick({ selector: { zone: 'eu', gpu: 'a100' } })).toEqual({ kind: 'no_selector_match' });
    expect(pick({ selector: { rack: '1' } })).toEqual({ kind: 'no_selector_match' });
  });

  test('labels follow the catalog: changed labels and a hive gone from it', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    index.setPolicy('h', { labels: { zone: 'eu' }, cordoned: false });
    index.setPolicy('h', { labels: { zone: 'us' }, cordoned: false });
    expect(pick({ selector: { zone: 'eu' } })).toEqual({ kind: 'no_selector_match' });
    expect(picked(pick({ selector: { zone: 'us' } }))).toBe('h/w');
    index.setPolicy('h', undefined);
    expect(pick({ selector: { zone: 'us' } })).toEqual({ kind: 'no_selector_match' });
  });

  test('a selector matching only offline hives, or hives without workers, matches nothing', () => {
    const clock = new ManualClock();
    const index = new SchedulingIndex(() => clock.now());
    index.snapshotReplaced('off', [makeWorker('w', { modelId: MODEL })], []);
    index.snapshotReplaced('empty', [], []);
    index.setPolicy('off', { labels: { zone: 'eu' }, cordoned: false });
    index.setPolicy('empty', { labels: { zone: 'eu' }, cordoned: false });
    expect(index.pick({ modelId: MODEL, selector: { zone: 'eu' } }, (id) => id !== 'off')).toEqual({ kind: 'no_selector_match' });
  });

  test('a wide selector (more hives than a scan is worth) gives the same answer through the heaps', () => {
    const { index, pick } = setup();
    for (let h = 0; h < 200; h++) {
      hive(index, `h-${String(h).padStart(3, '0')}`, [makeWorker(`w-${h}`, { modelId: MODEL, gpuPercent: h % 7 === 0 ? 1 : 50 })]);
      index.setPolicy(`h-${String(h).padStart(3, '0')}`, { labels: { zone: h % 2 === 0 ? 'even' : 'odd' }, cordoned: false });
    }
    expect(picked(pick({ selector: { zone: 'odd' } }))).toBe('h-007/w-7');
    expect(picked(pick({ selector: { zone: 'even' } }))).toBe('h-000/w-0');
  });

  test('a cordoned hive stays known but is never picked; uncordoned, it is again', () => {
    const { index, pick } = setup();
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    index.setPolicy('h', { labels: {}, cordoned: true });
    expect(pick({})).toEqual({ kind: 'unavailable', eligible: 0 });
    expect(pick({ reserve: true })).toEqual({ kind: 'unavailable', eligible: 0 });
    index.setPolicy('h', { labels: {}, cordoned: false });
    expect(picked(pick({}))).toBe('h/w');
  });

  test('a hive cordoned before it ever heartbeats is cordoned when it does', () => {
    const { index, pick } = setup();
    index.setPolicy('h', { labels: {}, cordoned: true });
    hive(index, 'h', [makeWorker('w', { modelId: MODEL })]);
    expect(pick({}).kind).toBe('unavailable');
  });
});
