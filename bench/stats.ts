import type { LoadResult } from './protocol.js';

/** Latency samples in a preallocated buffer: bounded memory however long a run lasts (later samples dropped). */
export class Samples {
  private readonly values: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }

  add(value: number): void {
    if (this.count < this.values.length) this.values[this.count++] = value;
  }

  /** The p-th percentile (0-100, nearest rank); NaN without samples. */
  percentiles(...ps: number[]): number[] {
    const sorted = this.values.slice(0, this.count).sort();
    return ps.map((p) => percentileOfSorted(sorted, p));
  }
}

function percentileOfSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Median of a list; NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Milliseconds on the monotonic clock. */
export function nowMs(): number {
  return performance.now();
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Time per operation of a loop, from batches: the median batch is robust to a GC pause landing in one batch. */
export interface OpTiming {
  /** Median over batches of (batch time / batch size), nanoseconds. */
  readonly medianNs: number;
  /** Total time / total operations, nanoseconds (includes GC pauses). */
  readonly meanNs: number;
  readonly ops: number;
}

/**
 * Runs `op(n)` for n = 0, 1, 2, ... in batches of `batch` until `maxOps` operations or `maxMs` milliseconds,
 * whichever comes first (at least one batch).
 */
export function timePerOp(op: (n: number) => void, batch: number, maxOps: number, maxMs: number): OpTiming {
  const perOp: number[] = [];
  let n = 0;
  const start = nowMs();
  while (n < maxOps && (n === 0 || nowMs() - start < maxMs)) {
    const t0 = process.hrtime.bigint();
    for (const end = n + batch; n < end; n++) op(n);
    perOp.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return { medianNs: median(perOp), meanNs: ((nowMs() - start) * 1e6) / n, ops: n };
}

/**
 * The measured window of a load run: warm up, tell the coordinator, measure for `measureMs` while `setPhase` says
 * 'measure', then 'stopping'. Returns the wall time and this process's CPU time over the window.
 */
export async function measureWindow(
  spec: { readonly warmupMs: number; readonly measureMs: number },
  say: (event: { event: 'measure-start' | 'measure-end' }) => void,
  setPhase: (phase: 'measure' | 'stopping') => void,
): Promise<{ elapsedMs: number; cpu: NodeJS.CpuUsage }> {
  await sleep(spec.warmupMs);
  say({ event: 'measure-start' });
  const cpuStart = process.cpuUsage();
  const start = nowMs();
  setPhase('measure');
  await sleep(spec.measureMs);
  setPhase('stopping');
  const elapsedMs = nowMs() - start;
  const cpu = process.cpuUsage(cpuStart);
  say({ event: 'measure-end' });
  return { elapsedMs, cpu };
}

/** A load generator's report from what it counted: latency percentiles from `samples`, CPU from the window. */
export function loadResult(counted: {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly failures: number;
  readonly firstFailure: string | undefined;
  readonly samples: Samples;
  readonly messageBytes: number;
}): LoadResult {
  const [p50Ms = Number.NaN, p99Ms = Number.NaN] = counted.samples.percentiles(50, 99);
  const { ops, elapsedMs, cpu, failures, firstFailure, messageBytes } = counted;
  return { ops, elapsedMs, failures, firstFailure, p50Ms, p99Ms, clientCpuUs: cpu.user + cpu.system, messageBytes };
}
