import { inspect, isDeepStrictEqual } from 'node:util';
import type { Worker, WorkerEntry } from '../../src/common/worker';
import type { HiveRegistry } from '../../src/registry/hive-registry';
import { compareIds } from '../../src/registry/ids';
import type { Resources } from '../../src/registry/resources';
import type { HiveView, WatchSnapshot } from '../../src/registry/types';
import { pickWorker, type Pick } from '../../src/scheduler/pick-worker';
import type { SchedulingIndex } from '../../src/scheduler/scheduling-index';
import { PICKED_MODELS, WORKER_IDS } from './domain-arbitraries';

/**
 * Everything the registry lets a caller read, at one instant: two snapshots are deep-equal exactly when no read
 * could tell them apart (for the worker ids and models in play).
 */
export interface RegistrySnapshot {
  readonly hiveIds: readonly string[];
  readonly activeHiveIds: readonly string[];
  readonly hiveCount: number;
  readonly totalWorkerCount: number;
  readonly streamCount: number;
  readonly revision: number;
  readonly nextEvictionAt: number | undefined;
  readonly hives: readonly HiveReads[];
  /** findWorker for the pool's ids and every id some hive reports, in that order. */
  readonly lookups: readonly (readonly [string, WorkerEntry | undefined])[];
  readonly allWorkers: readonly WorkerEntry[];
  readonly onlineWorkers: readonly WorkerEntry[];
  readonly watch: WatchSnapshot;
  /** The scheduling index's pick per model; undefined when picks are not compared (see takeSnapshot). */
  readonly picks: readonly Pick[] | undefined;
}

export interface HiveReads {
  readonly view: HiveView | undefined;
  readonly workersOnHive: readonly Worker[];
  readonly online: boolean;
}

/** `withPicks`: off when loads may be NaN (malformed input), where the scheduling order is not defined. */
export function takeSnapshot(registry: HiveRegistry, index: SchedulingIndex, withPicks: boolean): RegistrySnapshot {
  const hiveIds = [...registry.allHiveIds()];
  const allWorkers = registry.listWorkers(() => true, true);
  const workerIds = [...new Set<string>([...WORKER_IDS, ...allWorkers.map((e) => e.worker.workerId)])];
  const onlineCheck = registry.onlineCheck();
  return {
    hiveIds,
    activeHiveIds: registry.activeHiveIds(),
    hiveCount: registry.hiveCount,
    totalWorkerCount: registry.totalWorkerCount,
    streamCount: registry.streamCount,
    revision: registry.revision,
    nextEvictionAt: registry.nextEvictionAt(),
    hives: hiveIds.map((hiveId) => ({
      view: registry.getHive(hiveId),
      workersOnHive: registry.workersOnHive(hiveId),
      online: registry.isHiveOnline(hiveId),
    })),
    lookups: workerIds.map((workerId) => [workerId, registry.findWorker(workerId)] as const),
    allWorkers,
    onlineWorkers: registry.listWorkers(() => true, false),
    watch: registry.watchSnapshot(),
    picks: withPicks ? PICKED_MODELS.map((modelId) => index.pick({ modelId }, onlineCheck)) : undefined,
  };
}

/**
 * The registry's documented invariants, each checked against a brute-force reading of the same snapshot.
 * `exclusiveWorkerIds`: each worker id has at most one online holder.
 */
export function checkInvariants(s: RegistrySnapshot, exclusiveWorkerIds: boolean): void {
  const hiveIdsSorted = isStrictlySorted(s.hiveIds, compareIds);
  expectSame({ hiveIdsSorted, hiveCount: s.hiveCount }, { hiveIdsSorted: true, hiveCount: s.hiveIds.length });
  expectSame(s.activeHiveIds, s.hiveIds.filter((_, i) => s.hives[i]?.online));

  const flat: WorkerEntry[] = [];
  s.hives.forEach((hive, i) => {
    const hiveId = s.hiveIds[i] as string;
    expectSame({ hiveId: hive.view?.hiveId, online: hive.view?.online }, { hiveId, online: hive.online });
    expectSame(hive.view?.workers, hive.workersOnHive);
    expectSame(hive.view?.resources, bruteForceResources(hive.view as HiveView));
    for (const worker of hive.workersOnHive) flat.push({ hiveId, worker, hiveOnline: hive.online });
  });
  // Sorted by hive id then worker id, and no worker id twice within one hive.
  const byHiveThenWorker = (a: WorkerEntry, b: WorkerEntry): number =>
    compareIds(a.hiveId, b.hiveId) || compareIds(a.worker.workerId, b.worker.workerId);
  expectSame({ workersSortedAndUnique: isStrictlySorted(flat, byHiveThenWorker) }, { workersSortedAndUnique: true });
  expectSame(s.allWorkers, flat);
  expectSame(s.totalWorkerCount, flat.length);
  expectSame(s.onlineWorkers, flat.filter((e) => e.hiveOnline));

  for (const [workerId, found] of s.lookups) {
    expectSame({ workerId, found }, { workerId, found: bruteForceLookup(flat, workerId) });
  }
  if (exclusiveWorkerIds) {
    const onlineHolders = new Map<string, string[]>();
    for (const e of s.onlineWorkers) {
      onlineHolders.set(e.worker.workerId, [...(onlineHolders.get(e.worker.workerId) ?? []), e.hiveId]);
    }
    const shared = [...onlineHolders].filter(([, hives]) => hives.length > 1);
    expectSame({ workerIdsWithSeveralOnlineHolders: shared }, { workerIdsWithSeveralOnlineHolders: [] });
  }
  if (s.picks !== undefined) {
    // No reservations, exclusions, labels or cordon here: every worker as the registry alone knows it.
    const scheduled = flat.map((e) => ({ ...e, reserved: 0, excluded: false, cordoned: false, labels: {}, lastPicked: 0 }));
    expectSame(s.picks, PICKED_MODELS.map((modelId) => pickWorker(scheduled, { modelId })));
  }

  // A hive online by the registry's clock was announced online to watchers (the converse lags by up to a sweep).
  expectSame(s.watch.revision, s.revision);
  expectSame(s.watch.hives.map((h) => h.hiveId), s.hiveIds);
  s.watch.hives.forEach((watched, i) => {
    if (s.hives[i]?.online === true) {
      expectSame({ hiveId: watched.hiveId, announcedOnline: watched.online }, { hiveId: watched.hiveId, announcedOnline: true });
    }
    expectSame(watched.workers, s.hives[i]?.workersOnHive);
  });
}

/** findWorker's rule: the online holder if any, else the lowest hive id. */
function bruteForceLookup(flat: readonly WorkerEntry[], workerId: string): WorkerEntry | undefined {
  const holders = flat.filter((e) => e.worker.workerId === workerId);
  return holders.find((e) => e.hiveOnline) ?? holders[0];
}

/** The README's Resources rules, summed the slow way. */
function bruteForceResources(view: HiveView): Resources {
  const sum = (values: readonly (number | undefined)[]): bigint =>
    values.reduce<bigint>((total, v) => total + BigInt(v ?? 0), 0n);
  let vramFreeBytes = 0n;
  for (const device of view.devices) {
    // Map keys compare like SameValueZero: NaN matches NaN (malformed input).
    const onDevice = (w: Worker): boolean =>
      w.deviceId === device.deviceId || (Number.isNaN(w.deviceId) && Number.isNaN(device.deviceId));
    const used = sum(view.workers.filter(onDevice).map((w) => w.vramBytes));
    const free = BigInt(device.vramTotalBytes) - used;
    if (free > 0n) vramFreeBytes += free;
  }
  return {
    workerCount: view.workers.length,
    vramUsedBytes: sum(view.workers.map((w) => w.vramBytes)),
    ramUsedBytes: sum(view.workers.map((w) => w.ramBytes)),
    vramTotalBytes: sum(view.devices.map((d) => d.vramTotalBytes)),
    vramFreeBytes,
    ramTotalBytes: view.resources.ramTotalBytes,
  };
}

function isStrictlySorted<T>(items: readonly T[], compare: (a: T, b: T) => number): boolean {
  return items.every((item, i) => i === 0 || compare(items[i - 1] as T, item) < 0);
}

/**
 * `expect(actual).toStrictEqual(expected)`, but only built when the values differ: these checks run thousands of
 * times per property and Jest's matcher costs far more than a plain deep comparison. Node's comparison is the
 * stricter of the two (Object.is on primitives), so a difference Jest's matcher lets through still fails.
 */
export function expectSame(actual: unknown, expected: unknown): void {
  if (isDeepStrictEqual(actual, expected)) return;
  expect(actual).toStrictEqual(expected);
  const show = (value: unknown): string => inspect(value, { depth: 8 });
  throw new Error(`values differ:\n  actual   ${show(actual)}\n  expected ${show(expected)}`);
}
