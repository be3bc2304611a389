import { IndexedHeap, type HeapPosition } from './indexed-heap.js';

/**
 * Where a candidate sits in each of its four heaps (-1: not there); kept on the candidate itself, so moving it
 * costs no lookup. Start them at -1.
 */
export interface HeapPlaces {
  modelPlainIndex: number;
  modelSpreadIndex: number;
  anyPlainIndex: number;
  anySpreadIndex: number;
  /** The model whose heaps it sits in. */
  heapModel?: string;
}

type IndexField = 'modelPlainIndex' | 'modelSpreadIndex' | 'anyPlainIndex' | 'anySpreadIndex';

function positionIn<T extends HeapPlaces>(field: IndexField): HeapPosition<T> {
  return {
    get: (item) => item[field],
    set: (item, index) => {
      item[field] = index;
    },
  };
}

/** Which order a pick takes: plain (ties by hive id, worker id) or spread (ties to the least recently reserved). */
export type PickOrder = 'plain' | 'spread';

interface Ranking<T> {
  readonly plain: IndexedHeap<T>;
  readonly spread: IndexedHeap<T>;
}

/** The two orders of a pick, as comparators of candidates. */
export interface PickOrders<T> {
  readonly plain: (a: T, b: T) => number;
  readonly spread: (a: T, b: T) => number;
}

/**
 * The candidates in scheduling order: each in its model's heaps and in the fleet-wide ones, in both orders. A
 * candidate whose rank changed (reservations, load) is moved in place; one that stops being a candidate leaves.
 */
export class CandidateHeaps<T extends HeapPlaces> {
  private readonly byModel = new Map<string, Ranking<T>>();
  private readonly any: Ranking<T>;

  constructor(private readonly orders: PickOrders<T>) {
    this.any = {
      plain: new IndexedHeap<T>(orders.plain, positionIn<T>('anyPlainIndex')),
      spread: new IndexedHeap<T>(orders.spread, positionIn<T>('anySpreadIndex')),
    };
  }

  private newModelRanking(): Ranking<T> {
    return {
      plain: new IndexedHeap<T>(this.orders.plain, positionIn<T>('modelPlainIndex')),
      spread: new IndexedHeap<T>(this.orders.spread, positionIn<T>('modelSpreadIndex')),
    };
  }

  /** Puts `candidate` (with `model` loaded, or none) in its heaps, or re-sorts it there. */
  place(candidate: T, model: string | undefined): void {
    if (candidate.heapModel !== model) this.leaveModel(candidate);
    if (model !== undefined) {
      let ranking = this.byModel.get(model);
      if (ranking === undefined) this.byModel.set(model, (ranking = this.newModelRanking()));
      candidate.heapModel = model;
      placeIn(ranking.plain, candidate);
      placeIn(ranking.spread, candidate);
    }
    placeIn(this.any.plain, candidate);
    placeIn(this.any.spread, candidate);
  }

  /** Takes a former candidate out of every heap. No-op when it is in none. */
  remove(candidate: T): void {
    this.leaveModel(candidate);
    this.any.plain.remove(candidate);
    this.any.spread.remove(candidate);
  }

  /** The first candidate with `model` loaded (or, for undefined, any candidate) in `order` that `accept` takes. */
  first(model: string | undefined, order: PickOrder, accept: (candidate: T) => boolean): T | undefined {
    const ranking = model === undefined ? this.any : this.byModel.get(model);
    return ranking?.[order].first(accept);
  }

  private leaveModel(candidate: T): void {
    if (candidate.heapModel === undefined) return;
    const ranking = this.byModel.get(candidate.heapModel);
    if (ranking !== undefined) {
      ranking.plain.remove(candidate);
      ranking.spread.remove(candidate);
      if (ranking.plain.size === 0) this.byModel.delete(candidate.heapModel);
    }
    candidate.heapModel = undefined;
  }
}

/** Inserts `item`, or re-sorts it when it is there already. */
function placeIn<T>(heap: IndexedHeap<T>, item: T): void {
  if (heap.has(item)) heap.update(item);
  else heap.insert(item);
}
