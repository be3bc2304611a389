import { slotsOf } from '../common/worker.js';
import { ABSENT_GPU_PERCENT, ABSENT_KV_CACHE_USAGE, comparePlain, loadOf, slotsInUse, standingOf, type Pick, type ScheduledWorker } from './pick-worker.js';

/**
 * Why a plain pick for a model came out as it did, in words an operator reads: what the dashboard's "best worker"
 * box shows. Pure: it restates, over the model's workers, the order pickWorker applies; it decides nothing.
 */

/** How one of the model's workers stands for a request now. */
export type Verdict =
  | 'picked'
  /** Could take the request; ranked behind the pick. */
  | 'candidate'
  | 'hive_offline'
  | 'cordoned'
  | 'degraded'
  | 'excluded'
  /** Idle, but every slot is in use (reserved here or running in its engine). */
  | 'full'
  | 'busy'
  | 'loading'
  /** ERROR, STOPPING or UNSPECIFIED: not idle, and not on its way back. */
  | 'not_ready';

export interface RankedWorker<W extends ScheduledWorker = ScheduledWorker> {
  readonly entry: W;
  readonly verdict: Verdict;
}

export interface PickExplanation<W extends ScheduledWorker = ScheduledWorker> {
  /** Sentences, most important first. */
  readonly reasons: readonly string[];
  /** The model's workers: the pick first, then the other candidates in pick order, then the rest by hive and id. */
  readonly ranked: readonly RankedWorker<W>[];
}

/** Verdicts of workers that cannot take a request, soonest back first: the order they are listed in. */
const VERDICT_ORDER: readonly Verdict[] = ['full', 'busy', 'loading', 'excluded', 'not_ready', 'degraded', 'cordoned', 'hive_offline'];

function compareIds(a: ScheduledWorker, b: ScheduledWorker): number {
  if (a.hiveId !== b.hiveId) return a.hiveId < b.hiveId ? -1 : 1;
  return a.worker.workerId < b.worker.workerId ? -1 : a.worker.workerId > b.worker.workerId ? 1 : 0;
}

function verdictOf(entry: ScheduledWorker): Verdict {
  if (!entry.hiveOnline) return 'hive_offline';
  if (entry.cordoned) return 'cordoned';
  if (entry.worker.health === 'degraded') return 'degraded';
  switch (standingOf(entry.worker, entry.reserved, entry.excluded, entry.cordoned)) {
    case 'candidate':
      return 'candidate';
    case 'busy':
      if (entry.worker.state === 'busy') return 'busy';
      if (entry.worker.state === 'loading') return 'loading';
      return entry.excluded ? 'excluded' : 'full';
    default:
      return 'not_ready';
  }
}

/** A load fraction as people read it: "0.375". */
function fraction(load: number): string {
  return Number.isInteger(load) ? String(load) : String(Math.round(load * 1000) / 1000);
}

/** What its load is made of: "load 0.375 (3 of 8 slots in use, 0 waiting)". */
function loadText(entry: ScheduledWorker): string {
  const w = entry.worker;
  const inUse = slotsInUse(w, entry.reserved);
  const counted = w.requestsRunning === undefined ? `${entry.reserved} reserved here` : `${w.requestsRunning} running, ${entry.reserved} reserved here`;
  return `load ${fraction(loadOf(w, entry.reserved))} (${inUse} of ${slotsOf(w)} slot${slotsOf(w) === 1 ? '' : 's'} in use: ${counted}; ${w.requestsWaiting ?? 0} waiting)`;
}

function kvText(entry: ScheduledWorker): string {
  const kv = entry.worker.kvCacheUsage;
  return kv === undefined ? 'no KV cache use reported (counts as 0%)' : `KV cache ${round(kv * 100)}% in use`;
}

function gpuText(entry: ScheduledWorker): string {
  const gpu = entry.worker.gpuPercent;
  return gpu === undefined ? `no GPU load reported (counts as ${ABSENT_GPU_PERCENT}%)` : `GPU load ${round(gpu)}%`;
}

function round(percent: number): string {
  return Number.isInteger(percent) ? String(percent) : percent.toFixed(1);
}

function name(entry: ScheduledWorker): string {
  return `${entry.worker.workerId} on ${entry.hiveId}`;
}

/** Why `first` ranks before `next` in the plain order (they are both candidates, `first` ahead). */
function edge(first: ScheduledWorker, next: ScheduledWorker): string {
  const loadA = loadOf(first.worker, first.reserved);
  const loadB = loadOf(next.worker, next.reserved);
  if (loadA !== loadB) {
    return `it is less loaded than the runner-up ${name(next)} (${fraction(loadA)} against ${fraction(loadB)}: slots in use plus requests waiting, over max_concurrency)`;
  }
  const kvA = first.worker.kvCacheUsage ?? ABSENT_KV_CACHE_USAGE;
  const kvB = next.worker.kvCacheUsage ?? ABSENT_KV_CACHE_USAGE;
  if (kvA !== kvB) {
    return `it is as loaded as the runner-up ${name(next)} (${fraction(loadA)}) but has less KV cache in use (${round(kvA * 100)}% against ${round(kvB * 100)}%)`;
  }
  const a = first.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
  const b = next.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
  if (a !== b) {
    return `it ties with the runner-up ${name(next)} on load and KV cache use, and has a lower GPU load (${round(a)}% against ${round(b)}%)`;
  }
  return `it ties with the runner-up ${name(next)} on load, KV cache use and GPU load; ties go to the lower hive id, then worker id`;
}

/**
 * Explains `pick` (a plain pick for `modelId`) given every worker that has the model loaded (`withModel`, any hive,
 * online or not) and, when the pick fell back to a worker without the model, that worker. `failure` is the
 * message a failed pick answers with (the RPC's words).
 */
export function explainPick<W extends ScheduledWorker>(
  modelId: string,
  withModel: readonly W[],
  pick: Pick,
  failure?: string,
): PickExplanation<W> {
  const judged: RankedWorker<W>[] = withModel.map((entry) => ({ entry, verdict: verdictOf(entry) }));
  const candidates = judged.filter((w) => w.verdict === 'candidate').sort((a, b) => comparePlain(a.entry, b.entry));
  const others = judged
    .filter((w) => w.verdict !== 'candidate')
    .sort((a, b) => VERDICT_ORDER.indexOf(a.verdict) - VERDICT_ORDER.indexOf(b.verdict) || compareIds(a.entry, b.entry));
  const reasons: string[] = [];
  const counted = `${candidates.length} of the ${withModel.length} worker${withModel.length === 1 ? '' : 's'} with ${modelId} loaded can take a request now`;

  if (pick.kind === 'picked' && pick.modelLoaded) {
    const chosen = candidates.findIndex(
      (w) => w.entry.hiveId === pick.entry.hiveId && w.entry.worker.workerId === pick.entry.worker.workerId,
    );
    const [picked] = chosen >= 0 ? candidates.splice(chosen, 1) : [];
    if (picked !== undefined) {
      reasons.push(`${name(picked.entry)}: the model is loaded, it is idle and healthy, ${loadText(picked.entry)}, ${kvText(picked.entry)}, ${gpuText(picked.entry)}`);
      reasons.push(`${counted} (idle, healthy, a free slot, not excluded, on an online hive that is not cordoned)`);
      const next = candidates[0];
      reasons.push(next === undefined ? 'it is the only one that can' : edge(picked.entry, next.entry));
      return { reasons, ranked: [{ entry: picked.entry, verdict: 'picked' }, ...candidates, ...others] };
    }
  }
  if (pick.kind === 'picked') {
    const entry = pick.entry;
    reasons.push(`${entry.worker.workerId} on ${entry.hiveId} has ${entry.worker.modelId === undefined ? 'no model' : entry.worker.modelId} loaded: its hive would have to load ${modelId} first`);
    reasons.push(`${counted}, so the pick fell back to the best idle worker without it (lowest load, then KV cache use, then GPU load)`);
    return { reasons, ranked: [...candidates, ...others] };
  }
  if (failure !== undefined) reasons.push(failure);
  reasons.push(counted);
  return { reasons, ranked: [...candidates, ...others] };
}
