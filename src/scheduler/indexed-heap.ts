/** An item's place in one IndexedHeap; kept by its owner to update or remove it later. */
export interface HeapNode<T> {
  item: T;
  /** Position in the heap array; -1 once removed. */
  index: number;
}

/**
 * A binary min-heap whose items know their place: insert, update and remove cost O(log n), so an index that keeps
 * changing (snapshots, reservations, expiries) never rebuilds anything. `first(accept)` walks the heap best-first:
 * O(1) when the best item is accepted, O(k log k) when k better items are passed over.
 */
export class IndexedHeap<T> {
  private readonly heap: HeapNode<T>[] = [];

  /** `compare` orders items: negative when the first comes before the second. */
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.heap.length;
  }

  /** The first item, or undefined when empty. */
  peek(): T | undefined {
    return this.heap[0]?.item;
  }

  insert(item: T): HeapNode<T> {
    const node: HeapNode<T> = { item, index: this.heap.length };
    this.heap.push(node);
    this.siftUp(node.index);
    return node;
  }

  /** Replaces a node's item (or re-sorts it after its item changed in place): one sift each way. */
  update(node: HeapNode<T>, item: T = node.item): void {
    if (node.index < 0 || this.heap[node.index] !== node) throw new RangeError('not in this heap');
    node.item = item;
    this.siftUp(node.index);
    this.siftDown(node.index);
  }

  /** Removes a node inserted here; no-op when already removed. */
  remove(node: HeapNode<T>): void {
    const index = node.index;
    if (index < 0 || this.heap[index] !== node) return;
    node.index = -1;
    const last = this.heap.pop() as HeapNode<T>;
    if (index === this.heap.length) return;
    this.heap[index] = last;
    last.index = index;
    this.siftUp(index);
    this.siftDown(last.index);
  }

  /** Removes and returns the first item; undefined when empty. */
  pop(): T | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    this.remove(top);
    return top.item;
  }

  /** The first item, in heap order, that `accept` takes. */
  first(accept: (item: T) => boolean): T | undefined {
    const top = this.heap[0];
    if (top === undefined || accept(top.item)) return top?.item;
    // Best-first walk: a small heap of frontier positions, ordered like the main heap.
    const frontier: number[] = [];
    const before = (a: number, b: number): boolean =>
      this.compare((this.heap[a] as HeapNode<T>).item, (this.heap[b] as HeapNode<T>).item) < 0;
    const push = (index: number): void => {
      if (index >= this.heap.length) return;
      frontier.push(index);
      siftUp(frontier, frontier.length - 1, before);
    };
    push(1);
    push(2);
    while (frontier.length > 0) {
      const index = frontier[0] as number;
      const last = frontier.pop() as number;
      if (frontier.length > 0) {
        frontier[0] = last;
        siftDown(frontier, 0, before);
      }
      const item = (this.heap[index] as HeapNode<T>).item;
      if (accept(item)) return item;
      push(2 * index + 1);
      push(2 * index + 2);
    }
    return undefined;
  }

  private siftUp(start: number): void {
    siftUp(this.heap, start, this.nodeBefore, placed);
  }

  private siftDown(start: number): void {
    siftDown(this.heap, start, this.nodeBefore, placed);
  }

  private readonly nodeBefore = (a: HeapNode<T>, b: HeapNode<T>): boolean => this.compare(a.item, b.item) < 0;
}

const placed = <T>(node: HeapNode<T>, index: number): void => {
  node.index = index;
};

/** Moves items[start] up a binary min-heap ordered by `before`; `moved` hears every item's new position. */
function siftUp<T>(
  items: T[],
  start: number,
  before: (a: T, b: T) => boolean,
  moved?: (item: T, index: number) => void,
): void {
  const item = items[start] as T;
  let index = start;
  while (index > 0) {
    const parentIndex = (index - 1) >> 1;
    const parent = items[parentIndex] as T;
    if (!before(item, parent)) break;
    items[index] = parent;
    moved?.(parent, index);
    index = parentIndex;
  }
  items[index] = item;
  moved?.(item, index);
}

/** Moves items[start] down a binary min-heap ordered by `before`; `moved` hears every item's new position. */
function siftDown<T>(
  items: T[],
  start: number,
  before: (a: T, b: T) => boolean,
  moved?: (item: T, index: number) => void,
): void {
  const item = items[start] as T;
  let index = start;
  for (;;) {
    const left = 2 * index + 1;
    if (left >= items.length) break;
    const right = left + 1;
    const child = right < items.length && before(items[right] as T, items[left] as T) ? right : left;
    const childItem = items[child] as T;
    if (!before(childItem, item)) break;
    items[index] = childItem;
    moved?.(childItem, index);
    index = child;
  }
  items[index] = item;
  moved?.(item, index);
}
