import { compareCandidates, type Candidate } from '../../src/scheduler/pick-worker';
import { RankedHeap, type Ranked } from '../../src/scheduler/ranked-heap';
import { makeWorker } from '../helpers/domain-builders';
import { seededRandom } from '../helpers/seeded-random';

describe('RankedHeap', () => {
  test('an empty heap has no first candidate', () => {
    expect(new RankedHeap().first(() => true)).toBeUndefined();
  });

  test.each([[1], [2], [3], [4], [5]])(
    'agrees with a sorted list through inserts, removals and filtered firsts (seed %i)',
    (seed) => {
      const random = seededRandom(seed);
      const heap = new RankedHeap();
      const live = new Map<string, { candidate: Candidate; ranked: Ranked }>();
      for (let step = 0; step < 3_000; step++) {
        const hiveId = `h-${Math.floor(random() * 400)}`;
        const existing = live.get(hiveId);
        if (existing !== undefined && random() < 0.5) {
          heap.remove(existing.ranked);
          heap.remove(existing.ranked); // a second removal is a no-op
          live.delete(hiveId);
        } else if (existing === undefined) {
          const gpu = random() < 0.1 ? undefined : Math.floor(random() * 20);
          const candidate = { hiveId, worker: makeWorker(`w-${step}`, { gpuPercent: gpu }) };
          live.set(hiveId, { candidate, ranked: heap.insert(candidate) });
        }
        if (step % 50 === 0) {
          expect(heap.size).toBe(live.size);
          const sorted = [...live.values()].map((l) => l.candidate).sort(compareCandidates);
          const offline = new Set([...live.keys()].filter(() => random() < 0.7));
          const accept = (c: Candidate): boolean => !offline.has(c.hiveId);
          expect(heap.first(accept)).toBe(sorted.find(accept));
          expect(heap.first(() => true)).toBe(sorted[0]);
          expect(heap.first(() => false)).toBeUndefined();
        }
      }
    },
  );
});
