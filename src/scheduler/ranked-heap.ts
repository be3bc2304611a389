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
    // Best-first walk: a small heap of frontier positions, ordered like the main heap.
    const frontier: number[] = [];
    const push = (index: number): void => {
      if (index >= this.heap.length) return;
      frontier.push(index);
      let i = frontier.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (this.compareAt(frontier[i] as number, frontier[parent] as number) >= 0) break;
        [frontier[i], frontier[parent]] = [frontier[parent] as number, frontier[i] as number];
        i = parent;
      }
    };
    const pop = (): number => {
      const best = frontier[0] as number;
      const last = frontier.pop() as number;
      if (frontier.length > 0) {
        frontier[0] = last;
        let i = 0;
        for (;;) {
          const left = 2 * i + 1;
          const right = left + 1;
          let smallest = i;
          if (left < frontier.length && this.compareAt(frontier[left] as number, frontier[smallest] as number) < 0) {
            smallest = left;
          }
          if (right < frontier.length && this.compareAt(frontier[right] as number, frontier[smallest] as number) < 0) {
            smallest = right;
          }
          if (smallest === i) break;
          [frontier[i], frontier[smallest]] = [frontier[smallest] as number, frontier[i] as number];
          i = smallest;
        }
      }
      return best;
    };
    push(1);
    push(2);
    while (frontier.length > 0) {
      const index = pop();
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
    let index = start;
    const ranked = this.heap[index] as Ranked;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.heap[parentIndex] as Ranked;
      if (compareCandidates(ranked.candidate, parent.candidate) >= 0) break;
      this.place(parent, index);
      index = parentIndex;
    }
    this.place(ranked, index);
  }

  private siftDown(start: number): void {
    let index = start;
    const ranked = this.heap[index] as Ranked;
    const length = this.heap.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && this.compareAt(right, left) < 0) child = right;
      const childRanked = this.heap[child] as Ranked;
      if (compareCandidates(childRanked.candidate, ranked.candidate) >= 0) break;
      this.place(childRanked, index);
      index = child;
    }
    this.place(ranked, index);
  }
}
