import { compareCandidates, type Candidate } from './pick-worker.js';

/**
 * Candidates kept in scheduling order, at most one per hive (a hive's best for what the list is about): the first
 * one on an online hive is the pick. A sorted array: insertion and removal are a binary search plus one move of
 * pointers, which for a fleet's worth of hives costs less than any tree would in JavaScript.
 */
export class RankedList {
  private readonly items: Candidate[] = [];

  get size(): number {
    return this.items.length;
  }

  insert(candidate: Candidate): void {
    this.items.splice(this.lowerBound(candidate), 0, candidate);
  }

  /** Removes this very candidate (by identity); no-op when absent. */
  remove(candidate: Candidate): void {
    const index = this.lowerBound(candidate);
    if (this.items[index] === candidate) this.items.splice(index, 1);
  }

  /** The first candidate, in order, that `accept` takes. */
  first(accept: (candidate: Candidate) => boolean): Candidate | undefined {
    for (const candidate of this.items) if (accept(candidate)) return candidate;
    return undefined;
  }

  private lowerBound(candidate: Candidate): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareCandidates(this.items[mid] as Candidate, candidate) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
