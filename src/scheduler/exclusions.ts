import { IndexedHeap } from './indexed-heap.js';

/** First exclusion after a failure, in ms; each further failure in a row doubles it. */
export const FIRST_EXCLUSION_MS = 1_000;
/** Longest exclusion, in ms. */
export const MAX_EXCLUSION_MS = 300_000;

/** A worker's failures in a row and until when it is not picked (monotonic ms). */
export interface FailureRecord {
  readonly workerId: string;
  readonly failures: number;
  readonly excludedUntil: number;
}

/** How long the n-th failure in a row (n >= 1) excludes a worker: 1 s, 2 s, 4 s, ... at most 5 min. */
export function exclusionMs(failures: number): number {
  return Math.min(MAX_EXCLUSION_MS, FIRST_EXCLUSION_MS * 2 ** Math.min(failures - 1, 30));
}

/**
 * Failure feedback: a reported failure excludes a worker (by worker id) for a time that doubles with each failure
 * in a row. The record outlives the exclusion (the next failure doubles it) until it is cleared: a successful
 * release, or a heartbeat reporting the worker HEALTHY after the exclusion ended. Ends of exclusions come from a
 * heap: `expire(now)` pops exactly those that ended.
 */
/** A worker's record, and its place in the heap of exclusion ends (-1 once its exclusion ended). */
interface Entry {
  readonly record: FailureRecord;
  index: number;
}

export class Exclusions {
  private readonly records = new Map<string, Entry>();
  private readonly ends = new IndexedHeap<Entry>((a, b) => a.record.excludedUntil - b.record.excludedUntil, {
    get: (entry) => entry.index,
    set: (entry, index) => {
      entry.index = index;
    },
  });

  /** Workers with a failure record (excluded now or not). */
  get size(): number {
    return this.records.size;
  }

  get(workerId: string): FailureRecord | undefined {
    return this.records.get(workerId)?.record;
  }

  /** Whether `workerId` must not be picked at `now`. */
  isExcluded(workerId: string, now: number): boolean {
    const until = this.records.get(workerId)?.record.excludedUntil;
    return until !== undefined && until > now;
  }

  /** One more failure in a row at `now`: the worker is excluded until the returned record's `excludedUntil`. */
  report(workerId: string, now: number): FailureRecord {
    const previous = this.records.get(workerId);
    if (previous !== undefined) this.ends.remove(previous);
    const failures = (previous?.record.failures ?? 0) + 1;
    const record: FailureRecord = { workerId, failures, excludedUntil: now + exclusionMs(failures) };
    const entry: Entry = { record, index: -1 };
    this.records.set(workerId, entry);
    this.ends.insert(entry);
    return record;
  }

  /** Forgets a worker's failures (it is picked again at once). True when it had a record. */
  clear(workerId: string): boolean {
    const entry = this.records.get(workerId);
    if (entry === undefined) return false;
    this.ends.remove(entry);
    this.records.delete(workerId);
    return true;
  }

  /** Exclusions that ended at `now` (excludedUntil <= now): the records stay, the workers may be picked again. */
  expire(now: number): FailureRecord[] {
    const ended: FailureRecord[] = [];
    for (let next = this.ends.peek(); next !== undefined && next.record.excludedUntil <= now; next = this.ends.peek()) {
      // Out of the heap (its index is -1 now); the record stays for the next failure in a row.
      this.ends.pop();
      ended.push(next.record);
    }
    return ended;
  }
}
