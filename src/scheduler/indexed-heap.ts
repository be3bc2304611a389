/**
 * Where an item keeps its position in one IndexedHeap (-1 when it is not in it). An item may sit in several
 * heaps, each with its own field.
 */
export interface HeapPosition<T> {
  get(item: T): number;
  set(item: T, index: number): void;
}

/**
 * A binary min-heap whose items know their place: insert, update and remove cost O(log n), so an index that keeps
 * changing (snapshots, reservations, expiries) never rebuilds anything. The array holds the items themselves and
 * each item records its own position, so a comparison reads the items and nothing else (at 100,000 items every
 * pointer followed is a cache miss). `first(accept)` walks the heap best-first: O(1) when the best item is
 * accepted, O(k log k) when k better items are passed over.
 */
export class IndexedHeap<T> {
  private readonly heap: T[] = [];

  /** `compare` orders items: negative when the first comes before the second. */
  constructor(
    private readonly compare: (a: T, b: T) => number,
    private readonly position: HeapPosition<T>,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Whether `item` is in this heap. */
  has(item: T): boolean {
    const index = this.position.get(item);
    return index >= 0 && this.heap[index] === item;
  }

  /** The first item, or undefined when empty. */
  peek(): T | undefined {
    return this.heap[0];
  }

  /** Adds an item that is not in this heap. */
  insert(item: T): void {
    this.heap.push(item);
    this.position.set(item, this.heap.length - 1);
    this.siftUp(this.heap.length - 1);
  }

  /** Re-sorts an item whose key changed in place: one sift each way. RangeError when it is not here. */
  update(item: T): void {
    if (!this.has(item)) throw new RangeError('not in this heap');
    const index = this.position.get(item);
    this.siftUp(index);
    this.siftDown(this.position.get(item));
  }

  /** Removes an item; no-op when it is not here. */
  remove(item: T): void {
    if (!this.has(item)) return;
    const index = this.position.get(item);
    this.position.set(item, -1);
    const last = this.heap.pop() as T;
    if (index === this.heap.length) return;
    this.heap[index] = last;
    this.position.set(last, index);
    this.siftUp(index);
    this.siftDown(this.position.get(last));
  }

  /** Removes and returns the first item; undefined when empty. */
  pop(): T | undefined {
    const top = this.heap[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** The first item, in heap order, that `accept` takes. */
  first(accept: (item: T) => boolean): T | undefined {
    const top = this.heap[0];
    if (top === undefined || accept(top)) return top;
    // Best-first walk: a small heap of frontier positions, ordered like the main heap.
    const frontier: number[] = [];
    const before = (a: number, b: number): boolean => this.compare(this.heap[a] as T, this.heap[b] as T) < 0;
    const push = (index: number): void => {
      if (index >= this.heap.length) return;
      frontier.push(index);
      let i = frontier.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!before(frontier[i] as number, frontier[parent] as number)) break;
        [frontier[i], frontier[parent]] = [frontier[parent] as number, frontier[i] as number];
        i = parent;
      }
    };
    const shift = (): number => {
      const top = frontier[0] as number;
      const last = frontier.pop() as number;
      if (frontier.length > 0) {
        frontier[0] = last;
        let i = 0;
        for (;;) {
          const left = 2 * i + 1;
          if (left >= frontier.length) break;
          const right = left + 1;
          const child =
            right < frontier.length && before(frontier[right] as number, frontier[left] as number) ? right : left;
          if (!before(frontier[child] as number, frontier[i] as number)) break;
          [frontier[i], frontier[child]] = [frontier[child] as number, frontier[i] as number];
          i = child;
        }
      }
      return top;
    };
    push(1);
    push(2);
    while (frontier.length > 0) {
      const index = shift();
      const item = this.heap[index] as T;
      if (accept(item)) return item;
      push(2 * index + 1);
      push(2 * index + 2);
    }
    return undefined;
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    const item = heap[start] as T;
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as T;
      if (this.compare(item, parent) >= 0) break;
      heap[index] = parent;
      this.position.set(parent, index);
      index = parentIndex;
    }
    heap[index] = item;
    this.position.set(item, index);
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const item = heap[start] as T;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && this.compare(heap[right] as T, heap[left] as T) < 0 ? right : left;
      const childItem = heap[child] as T;
      if (this.compare(childItem, item) >= 0) break;
      heap[index] = childItem;
      this.position.set(childItem, index);
      index = child;
    }
    heap[index] = item;
    this.position.set(item, index);
  }
}
