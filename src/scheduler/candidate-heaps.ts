import { IndexedHeap, type HeapNode } from './indexed-heap.js';
import { comparePlain, compareSpread, type Ranked } from './pick-worker.js';

/** Where a candidate sits in the heaps; kept on the candidate itself so moving it costs no lookup. */
export interface HeapPlaces<T> {
  modelPlain?: HeapNode<T>;
  modelSpread?: HeapNode<T>;
  anyPlain?: HeapNode<T>;
  anySpread?: HeapNode<T>;
  /** The model whose heaps it sits in. */
  heapModel?: string;
}

/** Which order a pick takes: plain (ties by hive id, worker id) or spread (ties to the least recently reserved). */
export type PickOrder = 'plain' | 'spread';

interface Ranking<T> {
  readonly plain: IndexedHeap<T>;
  readonly spread: IndexedHeap<T>;
}

function newRanking<T extends Ranked>(): Ranking<T> {
  return { plain: new IndexedHeap<T>(comparePlain), spread: new IndexedHeap<T>(compareSpread) };
}

/**
 * The candidates in scheduling order: each in its model's heaps and in the fleet-wide ones, in both orders. A
 * candidate whose rank changed (reservations, load) is moved in place; one that stops being a candidate leaves.
 */
export class CandidateHeaps<T extends Ranked & HeapPlaces<T>> {
  private readonly byModel = new Map<string, Ranking<T>>();
  private readonly any = newRanking<T>();

  /** Puts `candidate` (with `model` loaded, or none) in its heaps, or re-sorts it there. */
  place(candidate: T, model: string | undefined): void {
    if (candidate.heapModel !== model) this.leaveModel(candidate);
    if (model !== undefined) {
      if (candidate.modelPlain === undefined) {
        let ranking = this.byModel.get(model);
        if (ranking === undefined) this.byModel.set(model, (ranking = newRanking<T>()));
        candidate.modelPlain = ranking.plain.insert(candidate);
        candidate.modelSpread = ranking.spread.insert(candidate);
        candidate.heapModel = model;
      } else {
        const ranking = this.byModel.get(model) as Ranking<T>;
        ranking.plain.update(candidate.modelPlain);
        ranking.spread.update(candidate.modelSpread as HeapNode<T>);
      }
    }
    if (candidate.anyPlain === undefined) {
      candidate.anyPlain = this.any.plain.insert(candidate);
      candidate.anySpread = this.any.spread.insert(candidate);
    } else {
      this.any.plain.update(candidate.anyPlain);
      this.any.spread.update(candidate.anySpread as HeapNode<T>);
    }
  }

  /** Takes a former candidate out of every heap. No-op when it is in none. */
  remove(candidate: T): void {
    this.leaveModel(candidate);
    if (candidate.anyPlain !== undefined) this.any.plain.remove(candidate.anyPlain);
    if (candidate.anySpread !== undefined) this.any.spread.remove(candidate.anySpread);
    candidate.anyPlain = undefined;
    candidate.anySpread = undefined;
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
      if (candidate.modelPlain !== undefined) ranking.plain.remove(candidate.modelPlain);
      if (candidate.modelSpread !== undefined) ranking.spread.remove(candidate.modelSpread);
      if (ranking.plain.size === 0) this.byModel.delete(candidate.heapModel);
    }
    candidate.modelPlain = undefined;
    candidate.modelSpread = undefined;
    candidate.heapModel = undefined;
  }
}
