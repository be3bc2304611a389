import { status } from '@grpc/grpc-js';
import { slotsOf, type Worker } from '../common/worker.js';
import { checkModelId } from '../registry/ids.js';
import { explainPick, type Verdict } from '../scheduler/explain-pick.js';
import { loadOf, type Pick, type ScheduledWorker } from '../scheduler/pick-worker.js';
import type { FleetDetailSources } from './fleet-details.js';
import { noPick } from './pick-outcome.js';
import { STATUS_BY_REASON } from './status-map.js';

/** Most of the model's workers listed under the answer (the pick and the best of the rest). */
const LISTED_WORKERS = 50;

/** One of the model's workers as the dashboard lists it under the answer. */
export interface RankedWorkerJson {
  readonly hiveId: string;
  readonly workerId: string;
  readonly verdict: Verdict;
  readonly state: Worker['state'];
  readonly gpuPercent?: number;
  /** Routing v3's load: (max(reserved here, requests running) + requests waiting) / slots; lowest is picked first. */
  readonly load: number;
  /** As its engine reports them (absent: not reported). */
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
  /** KV cache in use, a fraction 0-1 (absent: not reported). */
  readonly kvCacheUsage?: number;
  readonly reserved: number;
  /** max_concurrency. */
  readonly slots: number;
  /** Wall-clock end of its exclusion, epoch ms. */
  readonly excludedUntilMs?: number;
}

/** The gateway's prefix affinity as the answer describes it (present only while affinity is on). */
export interface PrefixAffinitySummary {
  /** Bytes per block of prompt text. */
  readonly blockBytes: number;
  /** How much more loaded (load fraction) the worker of the longest matching prefix may be than the pick. */
  readonly slack: number;
  /** Prefix keys remembered now. */
  readonly keys: number;
}

/** `GET /api/best?model=M`: what FindBestWorkerForModel (plain, nothing reserved) answers now, and why. */
export interface BestAnswer {
  readonly model: string;
  readonly picked?: {
    readonly hiveId: string;
    readonly workerId: string;
    readonly url: string;
    readonly modelLoaded: boolean;
  };
  /** When nothing can be picked: the gRPC status name and the RPC's message. */
  readonly error?: { readonly code: string; readonly message: string };
  readonly reasons: readonly string[];
  readonly workers: readonly RankedWorkerJson[];
  /** Workers with the model loaded, all of them (the list stops at LISTED_WORKERS). */
  readonly workersTotal: number;
  /** The gateway's prefix affinity; absent when it is off (or there is no gateway). */
  readonly prefixAffinity?: PrefixAffinitySummary;
}

/** 1234567 -> "1,234,567" (the same on every host, whatever its locale). */
function grouped(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * What prefix affinity changes for a gateway request, the last of the reasons. After a pick with the model loaded,
 * the slack counts from the pick's load (the least-loaded candidate's); otherwise from whichever worker would be it.
 */
export function prefixReason(affinity: PrefixAffinitySummary, pick: Pick): string {
  const loadedPick = pick.kind === 'picked' && pick.modelLoaded;
  const remembered = `${grouped(affinity.keys)} prefix${affinity.keys === 1 ? '' : 'es'} remembered`;
  return (
    `through the gateway, a chat or completions request goes ${loadedPick ? 'instead ' : ''}to the worker that served the longest prefix ` +
    `of its prompt (${affinity.blockBytes}-byte blocks; ${remembered}), unless that worker is more than ${affinity.slack} above ` +
    `${loadedPick ? 'this load' : 'the least-loaded worker'} or has no free slot`
  );
}

/**
 * The answer for `model` (a query parameter, unchecked), or a 400 naming the field. `prefixAffinity`: the gateway's,
 * now, when it is on.
 */
export function bestWorker(
  sources: FleetDetailSources,
  model: string | null,
  prefixAffinity?: PrefixAffinitySummary,
): { status: 200; body: BestAnswer } | { status: 400; body: { error: { message: string } } } {
  const problem = model === null ? 'model: required (GET /api/best?model=NAME)' : checkModelId('model', model);
  if (problem !== undefined || model === null) return { status: 400, body: { error: { message: problem ?? '' } } };
  const { registry, scheduling, clock } = sources;
  const request = { modelId: model };
  const pick = scheduling.pick(request, registry.onlineCheck());
  const now = clock.now();
  const wallNow = clock.wallNow();
  const withModel: (ScheduledWorker & { excludedUntilMs?: number })[] = registry.listWorkers((worker) => worker.modelId === model, true).map((entry) => {
    const hold = scheduling.holdOn(entry.hiveId, entry.worker.workerId);
    return {
      ...entry,
      reserved: hold.reserved,
      excluded: hold.excludedUntil !== undefined,
      cordoned: hold.cordoned,
      labels: {},
      lastPicked: 0,
      ...(hold.excludedUntil === undefined ? {} : { excludedUntilMs: Math.round(wallNow + hold.excludedUntil - now) }),
    };
  });
  const failure = pick.kind === 'picked' ? undefined : noPick(pick, request);
  const explanation = explainPick(model, withModel, pick, failure?.message);
  return {
    status: 200,
    body: {
      model,
      ...(pick.kind === 'picked'
        ? {
            picked: {
              hiveId: pick.entry.hiveId,
              workerId: pick.entry.worker.workerId,
              url: pick.entry.worker.url,
              modelLoaded: pick.modelLoaded,
            },
          }
        : {}),
      ...(failure === undefined ? {} : { error: { code: status[STATUS_BY_REASON[failure.reason]], message: failure.message } }),
      reasons: prefixAffinity === undefined ? explanation.reasons : [...explanation.reasons, prefixReason(prefixAffinity, pick)],
      workers: explanation.ranked.slice(0, LISTED_WORKERS).map(({ entry, verdict }) => ({
        hiveId: entry.hiveId,
        workerId: entry.worker.workerId,
        verdict,
        state: entry.worker.state,
        ...(entry.worker.gpuPercent === undefined ? {} : { gpuPercent: entry.worker.gpuPercent }),
        load: loadOf(entry.worker, entry.reserved),
        ...(entry.worker.requestsRunning === undefined ? {} : { requestsRunning: entry.worker.requestsRunning }),
        ...(entry.worker.requestsWaiting === undefined ? {} : { requestsWaiting: entry.worker.requestsWaiting }),
        ...(entry.worker.kvCacheUsage === undefined ? {} : { kvCacheUsage: entry.worker.kvCacheUsage }),
        reserved: entry.reserved,
        slots: slotsOf(entry.worker),
        ...(entry.excludedUntilMs === undefined ? {} : { excludedUntilMs: entry.excludedUntilMs }),
      })),
      workersTotal: withModel.length,
      ...(prefixAffinity === undefined ? {} : { prefixAffinity }),
    },
  };
}
