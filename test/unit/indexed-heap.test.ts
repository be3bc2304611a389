import { IndexedHeap, type HeapNode } from '../../src/scheduler/indexed-heap';
import { seededRandom } from '../helpers/seeded-random';

interface Item {
  readonly id: string;
  load: number;
}

const byLoad = (a: Item, b: Item): number => a.load - b.load || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

describe('IndexedHeap', () => {
  test('an empty heap has no first item and pops nothing', () => {
    const heap = new IndexedHeap<Item>(byLoad);
    expect(heap.first(() => true)).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
    expect(heap.pop()).toBeUndefined();
  });

  test('update re-sorts an item changed in place; remove twice is a no-op; update after remove throws', () => {
    const heap = new IndexedHeap<Item>(byLoad);
    const a = { id: 'a', load: 1 };
    const b = { id: 'b', load: 2 };
    const nodeA = heap.insert(a);
    heap.insert(b);
    a.load = 3;
    heap.update(nodeA);
    expect(heap.peek()).toBe(b);
    heap.remove(nodeA);
    heap.remove(nodeA);
    expect(heap.size).toBe(1);
    expect(() => heap.update(nodeA)).toThrow(RangeError);
  });

  test.each([[1], [2], [3], [4], [5]])(
    'agrees with a sorted list through inserts, updates, removals, pops and filtered firsts (seed %i)',
    (seed) => {
      const random = seededRandom(seed);
      const heap = new IndexedHeap<Item>(byLoad);
      const live = new Map<string, { item: Item; node: HeapNode<Item> }>();
      for (let step = 0; step < 3_000; step++) {
        const id = `i-${Math.floor(random() * 400)}`;
        const existing = live.get(id);
        const roll = random();
        if (existing !== undefined && roll < 0.3) {
          heap.remove(existing.node);
          live.delete(id);
        } else if (existing !== undefined && roll < 0.7) {
          existing.item.load = Math.floor(random() * 20);
          heap.update(existing.node);
        } else if (existing === undefined) {
          const item = { id, load: Math.floor(random() * 20) };
          live.set(id, { item, node: heap.insert(item) });
        } else if (roll < 0.75) {
          const popped = heap.pop() as Item;
          expect(popped).toBe([...live.values()].map((l) => l.item).sort(byLoad)[0]);
          live.delete(popped.id);
        }
        if (step % 50 === 0) {
          expect(heap.size).toBe(live.size);
          const sorted = [...live.values()].map((l) => l.item).sort(byLoad);
          const skipped = new Set([...live.keys()].filter(() => random() < 0.7));
          const accept = (item: Item): boolean => !skipped.has(item.id);
          expect(heap.first(accept)).toBe(sorted.find(accept));
          expect(heap.first(() => true)).toBe(sorted[0]);
          expect(heap.first(() => false)).toBeUndefined();
        }
      }
    },
  );
});
