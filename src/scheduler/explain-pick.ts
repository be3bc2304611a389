import { slotsOf } from '../common/worker.js';
import { ABSENT_GPU_PERCENT, comparePlain, standingOf, type Pick, type ScheduledWorker } from './pick-worker.js';

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
  /** Idle, but every slot is reserved. */
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

function load(entry: ScheduledWorker): string {
  const gpu = entry.worker.gpuPercent;
  return gpu === undefined ? `no GPU load reported (counts as ${ABSENT_GPU_PERCENT}%)` : `GPU load ${round(gpu)}%`;
}

function round(percent: number): string {
  return Number.isInteger(percent) ? String(percent) : percent.toFixed(1);
}

function slots(entry: ScheduledWorker): string {
  return `${entry.reserved} of ${slotsOf(entry.worker)} slot${slotsOf(entry.worker) === 1 ? '' : 's'} reserved`;
}

function name(entry: ScheduledWorker): string {
  return `${entry.worker.workerId} on ${entry.hiveId}`;
}

/** Why `first` ranks before `next` in the plain order (they are both candidates, `first` ahead). */
function edge(first: ScheduledWorker, next: ScheduledWorker): string {
  if (first.reserved !== next.reserved) {
    return `it has fewer reserved slots than the runner-up ${name(next)} (${first.reserved} against ${next.reserved})`;
  }
  const a = first.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
  const b = next.worker.gpuPercent ?? ABSENT_GPU_PERCENT;
  if (a !== b) return `it has a lower GPU load than the runner-up ${name(next)} (${round(a)}% against ${round(b)}%)`;
  return `it ties with the runner-up ${name(next)} on reserved slots and GPU load; ties go to the lower hive id, then worker id`;
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
      reasons.push(`${name(picked.entry)}: the model is loaded, it is idle and healthy, ${slots(picked.entry)}, ${load(picked.entry)}`);
      reasons.push(`${counted} (idle, healthy, a free slot, not excluded, on an online hive that is not cordoned)`);
      const next = candidates[0];
      reasons.push(next === undefined ? 'it is the only one that can' : edge(picked.entry, next.entry));
      return { reasons, ranked: [{ entry: picked.entry, verdict: 'picked' }, ...candidates, ...others] };
    }
  }
  if (pick.kind === 'picked') {
    const entry = pick.entry;
    reasons.push(`${entry.worker.workerId} on ${entry.hiveId} has ${entry.worker.modelId === undefined ? 'no model' : entry.worker.modelId} loaded: its hive would have to load ${modelId} first`);
    reasons.push(`${counted}, so the pick fell back to the best idle worker without it (fewest reserved slots, then lowest GPU load)`);
    return { reasons, ranked: [...candidates, ...others] };
  }
  if (failure !== undefined) reasons.push(failure);
  reasons.push(counted);
  return { reasons, ranked: [...candidates, ...others] };
}
