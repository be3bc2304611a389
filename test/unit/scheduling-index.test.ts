import type { Backend, Health, Worker, WorkerStatus } from '../../src/common/worker';
import { pickWorker, type Pick } from '../../src/scheduler/pick-worker';
import { SchedulingIndex } from '../../src/scheduler/scheduling-index';
import { makeWorker } from '../helpers/domain-builders';
import { seededRandom } from '../helpers/seeded-random';

const STATES: WorkerStatus[] = ['idle', 'idle', 'idle', 'busy', 'loading', 'error', 'stopping', 'unspecified'];
const HEALTHS: Health[] = ['healthy', 'unspecified', 'degraded'];
const MODELS = ['org/a', 'org/b', 'org/c', undefined];
const BACKENDS: Backend[] = ['cuda', 'cpu'];
const GPU = [undefined, 0, 10, 10, 50, 99, 100];

function pickOf<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
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
    }),
  );
}

/** A fleet the way the registry holds it, kept beside an index fed the same changes. */
class Fleet {
  readonly index = new SchedulingIndex();
  readonly hives = new Map<string, { workers: Worker[]; online: boolean }>();

  set(hiveId: string, workers: Worker[], online: boolean): void {
    this.hives.set(hiveId, { workers, online });
    this.index.snapshotReplaced(hiveId, workers);
  }

  remove(hiveId: string): void {
    this.hives.delete(hiveId);
    this.index.hiveRemoved(hiveId);
  }

  /** The flat reference policy over every worker. */
  reference(modelId: string): Pick {
    const entries = [...this.hives].flatMap(([hiveId, hive]) =>
      hive.workers.map((worker) => ({ hiveId, worker, hiveOnline: hive.online })),
    );
    return pickWorker(entries, modelId);
  }

  indexed(modelId: string): Pick {
    return this.index.pick(modelId, (hiveId) => this.hives.get(hiveId)?.online ?? false);
  }
}

describe('SchedulingIndex', () => {
  test.each(Array.from({ length: 40 }, (_, seed) => [seed]))(
    'gives the same answer as the flat policy on random fleet %i, through updates and removals',
    (seed) => {
      const random = seededRandom(seed + 1);
      const fleet = new Fleet();
      const hiveCount = 1 + Math.floor(random() * 12);
      for (let round = 0; round < 6; round++) {
        for (let h = 0; h < hiveCount; h++) {
          const roll = random();
          if (roll < 0.15) fleet.remove(`hive-${h}`);
          else if (roll < 0.8) fleet.set(`hive-${h}`, randomWorkers(random, h), random() < 0.8);
        }
        for (const modelId of ['org/a', 'org/b', 'org/c', 'org/none']) {
          expect({ round, modelId, pick: fleet.indexed(modelId) }).toEqual({
            round,
            modelId,
            pick: fleet.reference(modelId),
          });
        }
      }
    },
  );

  test('picks the least loaded idle holder of the model across hives, ties on hive id then worker id', () => {
    const fleet = new Fleet();
    fleet.set('h-b', [makeWorker('w-1', { modelId: 'm', gpuPercent: 20 })], true);
    fleet.set('h-a', [makeWorker('w-9', { modelId: 'm', gpuPercent: 20 }), makeWorker('w-2', { modelId: 'm', gpuPercent: 20 })], true);
    expect(fleet.indexed('m')).toMatchObject({ kind: 'picked', modelLoaded: true, entry: { hiveId: 'h-a', worker: { workerId: 'w-2' } } });
  });

  test('a new snapshot replaces the old one: a worker that became busy is no longer picked', () => {
    const fleet = new Fleet();
    fleet.set('h', [makeWorker('w', { modelId: 'm' })], true);
    expect(fleet.indexed('m')).toMatchObject({ kind: 'picked', modelLoaded: true });
    fleet.set('h', [makeWorker('w', { modelId: 'm', state: 'busy' })], true);
    expect(fleet.indexed('m')).toEqual({ kind: 'no_capacity', eligible: 1, busy: 1 });
  });

  test('a removed hive is forgotten, and removing twice is harmless', () => {
    const fleet = new Fleet();
    fleet.set('h', [makeWorker('w', { modelId: 'm' })], true);
    fleet.remove('h');
    fleet.remove('h');
    expect(fleet.indexed('m')).toEqual({ kind: 'unavailable', eligible: 0 });
  });

  test('liveness is asked at pick time: an offline hive is skipped without any update', () => {
    const fleet = new Fleet();
    fleet.set('h-a', [makeWorker('a', { modelId: 'm', gpuPercent: 0 })], true);
    fleet.set('h-b', [makeWorker('b', { gpuPercent: 50 })], true);
    const online = new Set(['h-b']);
    expect(fleet.index.pick('m', (id) => online.has(id))).toMatchObject({
      kind: 'picked',
      modelLoaded: false,
      entry: { hiveId: 'h-b', hiveOnline: true, worker: { workerId: 'b' } },
    });
  });
});
