import type { Worker } from '../common/worker.js';
import { compareCandidates, isBusy, isEligible, type Candidate, type Pick } from './pick-worker.js';
import { RankedList } from './ranked-list.js';

/** What scheduling needs of one hive's snapshot, computed once per snapshot instead of once per request. */
interface HiveSummary {
  /** The best eligible IDLE worker, whatever its model (in `anyIdle`). */
  readonly bestIdle?: Candidate;
  /** The best eligible IDLE worker per loaded model (in `idleByModel`). */
  readonly bestIdleByModel: ReadonlyMap<string, Candidate>;
  /** Eligible (not DEGRADED) workers. */
  readonly eligible: number;
  /** Eligible workers that are BUSY or LOADING. */
  readonly busy: number;
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
  return bestIdle === undefined ? { bestIdleByModel, eligible, busy } : { bestIdle, bestIdleByModel, eligible, busy };
}

/**
 * FindBestWorkerForModel's policy (see pickWorker) kept incrementally. Each hive's snapshot is summarized when it
 * arrives: its best idle worker overall and per model, its eligible and busy counts. Each hive's best per model
 * goes into that model's RankedList, its best overall into `anyIdle`, both kept in scheduling order. A request
 * takes the first candidate on an online hive from the model's list, else from `anyIdle`: usually the very first.
 * Only when no idle worker is online at all does it add up one summary per online hive, to tell "busy" (retry)
 * from "nothing there".
 *
 * Liveness is not stored here (it changes with time alone): each request is given an `isOnline` check.
 * Implements the registry's SnapshotObserver, so the registry keeps it in step with every snapshot.
 */
export class SchedulingIndex {
  private readonly hives = new Map<string, HiveSummary>();
  private readonly idleByModel = new Map<string, RankedList>();
  private readonly anyIdle = new RankedList();

  /** A hive's new snapshot replaces what the index knew of it. */
  snapshotReplaced(hiveId: string, workers: readonly Worker[]): void {
    this.hiveRemoved(hiveId);
    const summary = summarize(hiveId, workers);
    this.hives.set(hiveId, summary);
    if (summary.bestIdle !== undefined) this.anyIdle.insert(summary.bestIdle);
    for (const [modelId, candidate] of summary.bestIdleByModel) {
      let list = this.idleByModel.get(modelId);
      if (list === undefined) {
        list = new RankedList();
        this.idleByModel.set(modelId, list);
      }
      list.insert(candidate);
    }
  }

  /** A hive left the registry. Idempotent. */
  hiveRemoved(hiveId: string): void {
    const summary = this.hives.get(hiveId);
    if (summary === undefined) return;
    this.hives.delete(hiveId);
    if (summary.bestIdle !== undefined) this.anyIdle.remove(summary.bestIdle);
    for (const [modelId, candidate] of summary.bestIdleByModel) {
      const list = this.idleByModel.get(modelId);
      if (list === undefined) continue;
      list.remove(candidate);
      if (list.size === 0) this.idleByModel.delete(modelId);
    }
  }

  /** The same answer as pickWorker over every worker, with `isOnline` deciding each hive's liveness. */
  pick(modelId: string, isOnline: (hiveId: string) => boolean): Pick {
    const online = (candidate: Candidate): boolean => isOnline(candidate.hiveId);
    const withModel = this.idleByModel.get(modelId)?.first(online);
    if (withModel !== undefined) return { kind: 'picked', entry: { ...withModel, hiveOnline: true }, modelLoaded: true };
    const anyIdle = this.anyIdle.first(online);
    if (anyIdle !== undefined) return { kind: 'picked', entry: { ...anyIdle, hiveOnline: true }, modelLoaded: false };
    let eligible = 0;
    let busy = 0;
    for (const [hiveId, summary] of this.hives) {
      if (!isOnline(hiveId)) continue;
      eligible += summary.eligible;
      busy += summary.busy;
    }
    return busy > 0 ? { kind: 'no_capacity', eligible, busy } : { kind: 'unavailable', eligible };
  }
}
