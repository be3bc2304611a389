import type { Worker } from '../common/worker.js';
import { compareCandidates, isBusy, isEligible, type Candidate, type Pick } from './pick-worker.js';
import { RankedHeap, type Ranked } from './ranked-heap.js';

/** What scheduling needs of one hive's snapshot, computed once per snapshot instead of once per request. */
interface HiveSummary {
  /** The best eligible IDLE worker, whatever its model. */
  readonly bestIdle?: Candidate;
  /** The best eligible IDLE worker per loaded model. */
  readonly bestIdleByModel: ReadonlyMap<string, Candidate>;
  /** Eligible (not DEGRADED) workers. */
  readonly eligible: number;
  /** Eligible workers that are BUSY or LOADING. */
  readonly busy: number;
}

/** A hive as the index holds it: its counts, and its best candidates' places in the heaps. */
interface IndexedHive {
  readonly eligible: number;
  readonly busy: number;
  readonly anyIdle?: Ranked;
  readonly byModel: ReadonlyMap<string, Ranked>;
}

function summarize(hiveId: string, workers: readonly Worker[]): HiveSummary {
  let bestIdle: Candidate | undefined;
  const bestIdleByModel = new Map<string, Candidate>();
  let eligible = 0;
  let busy = 0;
  for (const worker of workers) {
    if (!isEligible(worker)) continue;
    eligible++;
    if (isBusy(worker)) busy++;
    if (worker.state !== 'idle') continue;
    const candidate: Candidate = { hiveId, worker };
    if (bestIdle === undefined || compareCandidates(candidate, bestIdle) < 0) bestIdle = candidate;
    if (worker.modelId !== undefined) {
      const best = bestIdleByModel.get(worker.modelId);
      if (best === undefined || compareCandidates(candidate, best) < 0) bestIdleByModel.set(worker.modelId, candidate);
    }
  }
  return { bestIdle, bestIdleByModel, eligible, busy };
}

/**
 * FindBestWorkerForModel's policy (see pickWorker) kept incrementally. Each hive's snapshot is summarized when it
 * arrives: its best idle worker overall and per model, its eligible and busy counts. Each hive's best per model
 * goes into that model's RankedHeap, its best overall into `anyIdle`, both kept in scheduling order. A request
 * takes the first candidate on an online hive from the model's heap, else from `anyIdle`: usually the very first.
 * Only when no idle worker is online at all does it add up the counts of every online hive, to tell "busy" (retry)
 * from "nothing there".
 *
 * Liveness is not stored here (it changes with time alone): each request is given an `isOnline` check.
 * Implements the registry's SnapshotObserver, so the registry keeps it in step with every snapshot.
 */
export class SchedulingIndex {
  private readonly hives = new Map<string, IndexedHive>();
  private readonly idleByModel = new Map<string, RankedHeap>();
  private readonly anyIdle = new RankedHeap();

  /**
   * A hive's new snapshot replaces what the index knew of it. A candidate that stays (same model, newer worker
   * state) is updated in place in its heap rather than removed and inserted again.
   */
  snapshotReplaced(hiveId: string, workers: readonly Worker[]): void {
    const old = this.hives.get(hiveId);
    const summary = summarize(hiveId, workers);
    const byModel = new Map<string, Ranked>();
    for (const [modelId, candidate] of summary.bestIdleByModel) {
      let heap = this.idleByModel.get(modelId);
      if (heap === undefined) {
        heap = new RankedHeap();
        this.idleByModel.set(modelId, heap);
      }
      byModel.set(modelId, reposition(heap, old?.byModel.get(modelId), candidate) as Ranked);
    }
    for (const [modelId, ranked] of old?.byModel ?? []) {
      if (!byModel.has(modelId)) this.removeFromModel(modelId, ranked);
    }
    const anyIdle = reposition(this.anyIdle, old?.anyIdle, summary.bestIdle);
    const { eligible, busy } = summary;
    this.hives.set(hiveId, anyIdle === undefined ? { eligible, busy, byModel } : { eligible, busy, anyIdle, byModel });
  }

  /** A hive left the registry. Idempotent. */
  hiveRemoved(hiveId: string): void {
    const entry = this.hives.get(hiveId);
    if (entry === undefined) return;
    this.hives.delete(hiveId);
    if (entry.anyIdle !== undefined) this.anyIdle.remove(entry.anyIdle);
    for (const [modelId, ranked] of entry.byModel) this.removeFromModel(modelId, ranked);
  }

  private removeFromModel(modelId: string, ranked: Ranked): void {
    const heap = this.idleByModel.get(modelId);
    if (heap === undefined) return;
    heap.remove(ranked);
    if (heap.size === 0) this.idleByModel.delete(modelId);
  }

  /** The same answer as pickWorker over every worker, with `isOnline` deciding each hive's liveness. */
  pick(modelId: string, isOnline: (hiveId: string) => boolean): Pick {
    const online = (candidate: Candidate): boolean => isOnline(candidate.hiveId);
    const withModel = this.idleByModel.get(modelId)?.first(online);
    if (withModel !== undefined) {
      return { kind: 'picked', entry: { ...withModel, hiveOnline: true }, modelLoaded: true };
    }
    const anyIdle = this.anyIdle.first(online);
    if (anyIdle !== undefined) {
      return { kind: 'picked', entry: { ...anyIdle, hiveOnline: true }, modelLoaded: false };
    }
    let eligible = 0;
    let busy = 0;
    for (const [hiveId, hive] of this.hives) {
      if (!isOnline(hiveId)) continue;
      eligible += hive.eligible;
      busy += hive.busy;
    }
    return busy > 0 ? { kind: 'no_capacity', eligible, busy } : { kind: 'unavailable', eligible };
  }
}

/** Moves a hive's place in `heap` to its new best `candidate`: update, insert or remove as the case may be. */
function reposition(heap: RankedHeap, ranked: Ranked | undefined, candidate: Candidate | undefined): Ranked | undefined {
  if (candidate === undefined) {
    if (ranked !== undefined) heap.remove(ranked);
    return undefined;
  }
  if (ranked === undefined) return heap.insert(candidate);
  heap.update(ranked, candidate);
  return ranked;
}
