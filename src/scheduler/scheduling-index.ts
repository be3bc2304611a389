import type { Worker, WorkerEntry } from '../common/worker.js';
import { isBusy, isEligible, ranksBefore, type Pick } from './pick-worker.js';

/** What scheduling needs of one hive's snapshot, computed once per snapshot instead of once per request. */
interface HiveSummary {
  /** The best eligible IDLE worker, whatever its model. */
  readonly bestIdle?: Worker;
  /** The best eligible IDLE worker per loaded model. */
  readonly bestIdleByModel: ReadonlyMap<string, Worker>;
  /** Eligible (not DEGRADED) workers. */
  readonly eligible: number;
  /** Eligible workers that are BUSY or LOADING. */
  readonly busy: number;
}

function summarize(workers: readonly Worker[]): HiveSummary {
  let bestIdle: Worker | undefined;
  const bestIdleByModel = new Map<string, Worker>();
  let eligible = 0;
  let busy = 0;
  for (const worker of workers) {
    if (!isEligible(worker)) continue;
    eligible++;
    if (isBusy(worker)) busy++;
    if (worker.state !== 'idle') continue;
    // Within one hive the hive id ties, so the order is GPU load, then worker id.
    if (bestIdle === undefined || ranksBefore('', worker, '', bestIdle)) bestIdle = worker;
    if (worker.modelId !== undefined) {
      const best = bestIdleByModel.get(worker.modelId);
      if (best === undefined || ranksBefore('', worker, '', best)) bestIdleByModel.set(worker.modelId, worker);
    }
  }
  return bestIdle === undefined ? { bestIdleByModel, eligible, busy } : { bestIdle, bestIdleByModel, eligible, busy };
}

/**
 * FindBestWorkerForModel's policy (see pickWorker) kept incrementally: each hive's snapshot is summarized when it
 * arrives (its best idle worker overall and per model, its eligible and busy counts), and hives are indexed by the
 * models their idle workers hold. A request then looks only at the hives holding the model idle, or, for the
 * fallback and the error cases, at one summary per hive: never at every worker.
 *
 * Liveness is not stored here (it changes with time alone): each request is given an `isOnline` check.
 * Implements the registry's SnapshotObserver, so the registry keeps it in step with every snapshot.
 */
export class SchedulingIndex {
  private readonly hives = new Map<string, HiveSummary>();
  private readonly hivesByIdleModel = new Map<string, Set<string>>();

  /** A hive's new snapshot replaces what the index knew of it. */
  snapshotReplaced(hiveId: string, workers: readonly Worker[]): void {
    this.hiveRemoved(hiveId);
    const summary = summarize(workers);
    this.hives.set(hiveId, summary);
    for (const modelId of summary.bestIdleByModel.keys()) {
      let hives = this.hivesByIdleModel.get(modelId);
      if (hives === undefined) {
        hives = new Set();
        this.hivesByIdleModel.set(modelId, hives);
      }
      hives.add(hiveId);
    }
  }

  /** A hive left the registry. Idempotent. */
  hiveRemoved(hiveId: string): void {
    const summary = this.hives.get(hiveId);
    if (summary === undefined) return;
    this.hives.delete(hiveId);
    for (const modelId of summary.bestIdleByModel.keys()) {
      const hives = this.hivesByIdleModel.get(modelId);
      hives?.delete(hiveId);
      if (hives?.size === 0) this.hivesByIdleModel.delete(modelId);
    }
  }

  /** The same answer as pickWorker over every worker, with `isOnline` deciding each hive's liveness. */
  pick(modelId: string, isOnline: (hiveId: string) => boolean): Pick {
    let bestHive: string | undefined;
    let best: Worker | undefined;
    for (const hiveId of this.hivesByIdleModel.get(modelId) ?? []) {
      const worker = this.hives.get(hiveId)?.bestIdleByModel.get(modelId);
      if (worker === undefined || !isOnline(hiveId)) continue;
      if (best === undefined || bestHive === undefined || ranksBefore(hiveId, worker, bestHive, best)) {
        bestHive = hiveId;
        best = worker;
      }
    }
    if (best !== undefined && bestHive !== undefined) {
      return { kind: 'picked', entry: entry(bestHive, best), modelLoaded: true };
    }
    let eligible = 0;
    let busy = 0;
    for (const [hiveId, summary] of this.hives) {
      if (!isOnline(hiveId)) continue;
      eligible += summary.eligible;
      busy += summary.busy;
      const worker = summary.bestIdle;
      if (worker === undefined) continue;
      if (best === undefined || bestHive === undefined || ranksBefore(hiveId, worker, bestHive, best)) {
        bestHive = hiveId;
        best = worker;
      }
    }
    if (best !== undefined && bestHive !== undefined) {
      return { kind: 'picked', entry: entry(bestHive, best), modelLoaded: false };
    }
    return busy > 0 ? { kind: 'no_capacity', eligible, busy } : { kind: 'unavailable', eligible };
  }
}

function entry(hiveId: string, worker: Worker): WorkerEntry {
  return { hiveId, worker, hiveOnline: true };
}
