import { IndexedHeap, type HeapPosition } from '../../src/scheduler/indexed-heap';
import { seededRandom } from '../helpers/seeded-random';

interface Item {
  readonly id: string;
  load: number;
  at: number;
  other: number;
}

const byLoad = (a: Item, b: Item): number => a.load - b.load || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const AT: HeapPosition<Item> = { get: (i) => i.at, set: (i, index) => (i.at = index) };
const OTHER: HeapPosition<Item> = { get: (i) => i.other, set: (i, index) => (i.other = index) };
const item = (id: string, load: number): Item => ({ id, load, at: -1, other: -1 });

describe('IndexedHeap', () => {
  test('an empty heap has no first item and pops nothing', () => {
    const heap = new IndexedHeap<Item>(byLoad, AT);
    expect(heap.first(() => true)).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
    expect(heap.pop()).toBeUndefined();
  });

  test('update re-sorts an item changed in place; remove twice is a no-op; update after remove throws', () => {
    const heap = new IndexedHeap<Item>(byLoad, AT);
    const a = item('a', 1);
    const b = item('b', 2);
    heap.insert(a);
    heap.insert(b);
    a.load = 3;
    heap.update(a);
    expect(heap.peek()).toBe(b);
    heap.remove(a);
    heap.remove(a);
    expect(heap.size).toBe(1);
    expect(heap.has(a)).toBe(false);
    expect(a.at).toBe(-1);
    expect(() => heap.update(a)).toThrow(RangeError);
  });

  test('one item in two heaps keeps a position in each', () => {
    const first = new IndexedHeap<Item>(byLoad, AT);
    const second = new IndexedHeap<Item>((x, y) => y.load - x.load, OTHER);
    const items = [item('a', 1), item('b', 2), item('c', 3)];
    for (const i of items) {
      first.insert(i);
      second.insert(i);
    }
    expect([first.peek()?.id, second.peek()?.id]).toEqual(['a', 'c']);
    first.remove(items[0] as Item);
    expect([first.has(items[0] as Item), second.has(items[0] as Item)]).toEqual([false, true]);
  });

  test.each([[1], [2], [3], [4], [5]])(
    'agrees with a sorted list through inserts, updates, removals, pops and filtered firsts (seed %i)',
    (seed) => {
      const random = seededRandom(seed);
      const heap = new IndexedHeap<Item>(byLoad, AT);
      const live = new Map<string, Item>();
      const sorted = (): Item[] => [...live.values()].sort(byLoad);
      for (let step = 0; step < 3_000; step++) {
        const id = `i-${Math.floor(random() * 400)}`;
        const existing = live.get(id);
        const roll = random();
        if (existing !== undefined && roll < 0.3) {
          heap.remove(existing);
          live.delete(id);
        } else if (existing !== undefined && roll < 0.7) {
          existing.load = Math.floor(random() * 20);
          heap.update(existing);
        } else if (existing === undefined) {
          const fresh = item(id, Math.floor(random() * 20));
          heap.insert(fresh);
          live.set(id, fresh);
        } else if (roll < 0.75) {
          const popped = heap.pop() as Item;
          expect(popped).toBe(sorted()[0]);
          live.delete(popped.id);
        }
        if (step % 50 === 0) {
          expect(heap.size).toBe(live.size);
          const order = sorted();
          const skipped = new Set([...live.keys()].filter(() => random() < 0.7));
          const accept = (i: Item): boolean => !skipped.has(i.id);
          expect(heap.first(accept)).toBe(order.find(accept));
          expect(heap.first(() => true)).toBe(order[0]);
          expect(heap.first(() => false)).toBeUndefined();
        }
      }
    },
  );
});
