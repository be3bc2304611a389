import { compareCandidates, type Candidate } from './pick-worker.js';

/** A candidate's place in one RankedHeap; kept by its owner to update or remove it later. */
export interface Ranked {
  candidate: Candidate;
  /** Position in the list's heap array; -1 once removed. */
  index: number;
}

/**
 * Candidates in scheduling order, at most one per hive (the hive's best for what the list is about); the first on
 * an online hive is the pick. An indexed binary min-heap: insert and remove cost O(log n) (a fleet's snapshots keep
 * changing it), and `first` walks the heap best-first, so it costs O(1) when the best candidate's hive is online
 * and O(k log k) when k better candidates sit on offline hives.
 */
export class RankedHeap {
  private readonly heap: Ranked[] = [];

  get size(): number {
    return this.heap.length;
  }

  insert(candidate: Candidate): Ranked {
    const ranked: Ranked = { candidate, index: this.heap.length };
    this.heap.push(ranked);
    this.siftUp(ranked.index);
    return ranked;
  }

  /** Replaces a candidate in place (the same hive's newer best) and restores the order: one sift, not two. */
  update(ranked: Ranked, candidate: Candidate): void {
    if (ranked.index < 0 || this.heap[ranked.index] !== ranked) throw new RangeError('not in this heap');
    ranked.candidate = candidate;
    this.siftUp(ranked.index);
    this.siftDown(ranked.index);
  }

  /** Removes a candidate inserted here; no-op when already removed. */
  remove(ranked: Ranked): void {
    const index = ranked.index;
    if (index < 0 || this.heap[index] !== ranked) return;
    ranked.index = -1;
    const last = this.heap.pop() as Ranked;
    if (index === this.heap.length) return;
    this.place(last, index);
    this.siftUp(index);
    this.siftDown(last.index);
  }

  /** The first candidate, in scheduling order, that `accept` takes. */
  first(accept: (candidate: Candidate) => boolean): Candidate | undefined {
    const top = this.heap[0];
    if (top === undefined || accept(top.candidate)) return top?.candidate;
    // Best-first walk: a small heap of frontier positions, ordered like the main heap and kept by the same sifts.
    const frontier: number[] = [];
    const before = (a: number, b: number): boolean => this.compareAt(a, b) < 0;
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
      const candidate = (this.heap[index] as Ranked).candidate;
      if (accept(candidate)) return candidate;
      push(2 * index + 1);
      push(2 * index + 2);
    }
    return undefined;
  }

  private compareAt(a: number, b: number): number {
    return compareCandidates((this.heap[a] as Ranked).candidate, (this.heap[b] as Ranked).candidate);
  }

  private place(ranked: Ranked, index: number): void {
    this.heap[index] = ranked;
    ranked.index = index;
  }

  private siftUp(start: number): void {
    siftUp(this.heap, start, rankedBefore, placed);
  }

  private siftDown(start: number): void {
    siftDown(this.heap, start, rankedBefore, placed);
  }
}

const rankedBefore = (a: Ranked, b: Ranked): boolean => compareCandidates(a.candidate, b.candidate) < 0;
const placed = (ranked: Ranked, index: number): void => {
  ranked.index = index;
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
