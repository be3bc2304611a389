// What one policy's run of the routing scenario comes to, from what the load generator recorded per request.
import { Samples } from './stats.js';

/** One request as the load generator saw it (times on its monotonic clock, ms). */
export interface RequestRecord {
  /** The worker that answered: from the URL it was sent to, or the gateway's `x-hive-worker`; unknown when absent. */
  readonly workerId: string | undefined;
  readonly sentMs: number;
  /** When the first `data:` of the body arrived; undefined when none did. */
  readonly firstDataMs: number | undefined;
  /** When the last byte arrived, or the request failed. */
  readonly endMs: number;
  /** HTTP 200 and the whole body read. */
  readonly ok: boolean;
  /** The worker's `x-simulated-prefix-cache`; undefined when absent. */
  readonly prefixCache: 'hit' | 'miss' | undefined;
  /** The gateway's `x-hive-prefix-blocks`; undefined when absent. */
  readonly prefixBlocks: number | undefined;
}

/** Requests in flight per worker: from sending a request to its last byte, on the worker that answered it. */
export interface InFlightFigures {
  /** The largest of the workers' time-averaged in-flight counts over the run. */
  readonly largestMean: number;
  /** Which worker that was. */
  readonly largestWorker: string;
  /** The mean across every worker (those that answered nothing count as 0) of its time-averaged count. */
  readonly meanOfMeans: number;
  /** The most requests in flight on one worker at one instant. */
  readonly peak: number;
}

export interface PolicyFigures {
  readonly requests: number;
  readonly ok: number;
  /** Requests answered with another status than 200, or that failed on the way. */
  readonly failures: number;
  readonly firstFailure: string | undefined;
  /** Successful answers whose worker said `x-simulated-prefix-cache: hit` / `miss`. */
  readonly prefixHits: number;
  readonly prefixMisses: number;
  /** Successful answers carrying `x-hive-prefix-blocks`, and of those how many said more than 0. */
  readonly prefixBlocksAnswers: number;
  readonly prefixMatched: number;
  /** Time to the first `data:` chunk of successful answers. */
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  readonly ttftMeanMs: number;
  /** From the first request sent to the last one ended. */
  readonly elapsedMs: number;
  /** Successful answers per second over `elapsedMs`. */
  readonly requestsPerSecond: number;
  readonly inFlight: InFlightFigures;
  /** Requests with no known worker (a gateway refusal before any pick): left out of the in-flight figures. */
  readonly unattributed: number;
}

/** Time-weighted in-flight figures of `workerIds` over [startMs, endMs]. */
function inFlightOf(
  records: readonly RequestRecord[],
  workerIds: readonly string[],
  startMs: number,
  endMs: number,
): InFlightFigures {
  const busyMs = new Map<string, number>(workerIds.map((id) => [id, 0]));
  const edges = new Map<string, { atMs: number; step: number }[]>();
  for (const r of records) {
    if (r.workerId === undefined) continue;
    busyMs.set(r.workerId, (busyMs.get(r.workerId) ?? 0) + (r.endMs - r.sentMs));
    const list = edges.get(r.workerId) ?? [];
    list.push({ atMs: r.sentMs, step: 1 }, { atMs: r.endMs, step: -1 });
    edges.set(r.workerId, list);
  }
  const spanMs = endMs - startMs;
  let largestMean = 0;
  let largestWorker = '';
  let sum = 0;
  for (const [workerId, ms] of busyMs) {
    // The integral of a worker's in-flight count over the run is the sum of its requests' durations.
    const mean = spanMs > 0 ? ms / spanMs : 0;
    sum += mean;
    if (mean > largestMean || largestWorker === '') [largestMean, largestWorker] = [mean, workerId];
  }
  let peak = 0;
  for (const list of edges.values()) {
    // At equal times an end goes first: a request that ends as the next begins never overlaps it.
    list.sort((a, b) => a.atMs - b.atMs || a.step - b.step);
    let count = 0;
    for (const edge of list) peak = Math.max(peak, (count += edge.step));
  }
  return { largestMean, largestWorker, meanOfMeans: busyMs.size > 0 ? sum / busyMs.size : Number.NaN, peak };
}

/** The figures of one policy's run; `workerIds` lists every worker of the hive, answering or not. */
export function policyFigures(
  records: readonly RequestRecord[],
  workerIds: readonly string[],
  firstFailure: string | undefined,
): PolicyFigures {
  const startMs = Math.min(...records.map((r) => r.sentMs));
  const endMs = Math.max(...records.map((r) => r.endMs));
  const elapsedMs = records.length > 0 ? endMs - startMs : 0;
  const good = records.filter((r) => r.ok);
  const ttft = new Samples(good.length);
  let ttftSumMs = 0;
  let ttftCount = 0;
  for (const r of good) {
    if (r.firstDataMs === undefined) continue;
    ttft.add(r.firstDataMs - r.sentMs);
    ttftSumMs += r.firstDataMs - r.sentMs;
    ttftCount++;
  }
  const [ttftP50Ms = Number.NaN, ttftP99Ms = Number.NaN] = ttft.percentiles(50, 99);
  const withBlocks = good.filter((r) => r.prefixBlocks !== undefined);
  return {
    requests: records.length,
    ok: good.length,
    failures: records.length - good.length,
    firstFailure,
    prefixHits: good.filter((r) => r.prefixCache === 'hit').length,
    prefixMisses: good.filter((r) => r.prefixCache === 'miss').length,
    prefixBlocksAnswers: withBlocks.length,
    prefixMatched: withBlocks.filter((r) => (r.prefixBlocks ?? 0) > 0).length,
    ttftP50Ms,
    ttftP99Ms,
    ttftMeanMs: ttftCount > 0 ? ttftSumMs / ttftCount : Number.NaN,
    elapsedMs,
    requestsPerSecond: elapsedMs > 0 ? (good.length * 1_000) / elapsedMs : Number.NaN,
    inFlight: inFlightOf(records, workerIds, startMs, endMs),
    unattributed: records.filter((r) => r.workerId === undefined).length,
  };
}
