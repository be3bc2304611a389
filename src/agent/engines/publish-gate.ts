import type { WorkerInit } from '../hive-snapshot.js';

/** A change of only gpu_percent smaller than this many points waits (the contract's 5). */
export const GPU_PERCENT_STEP = 5;
/** A change of only kv_cache_usage smaller than this waits (the contract's 0.05). */
export const KV_CACHE_STEP = 0.05;
/** How long such a small change may wait for another one, in ms (the contract's 10 s). */
export const SMALL_CHANGE_MAX_WAIT_MS = 10_000;

/** How two versions of a worker differ: not at all, only by small moves of GPU load or KV use, or really. */
export type Difference = 'same' | 'small' | 'real';

/** The fields compared as they are (last_heartbeat is not compared: it moves at every poll). */
const EXACT_FIELDS = [
  'workerId', 'state', 'url', 'modelId', 'backend', 'deviceId', 'vramBytes', 'ramBytes', 'cpuPercent', 'health',
  'maxConcurrency', 'requestsRunning', 'requestsWaiting', 'engine', 'engineVersion', 'contextLength', 'statusMessage',
] as const satisfies readonly (keyof WorkerInit)[];

/** Compares two versions of one worker by the contract's snapshot rule. */
export function difference(before: WorkerInit, after: WorkerInit): Difference {
  for (const field of EXACT_FIELDS) if (before[field] !== after[field]) return 'real';
  const gpu = smallMove(before.gpuPercent, after.gpuPercent, GPU_PERCENT_STEP);
  const kv = smallMove(before.kvCacheUsage, after.kvCacheUsage, KV_CACHE_STEP);
  if (gpu === 'real' || kv === 'real') return 'real';
  return gpu === 'small' || kv === 'small' ? 'small' : 'same';
}

function smallMove(before: number | undefined, after: number | undefined, step: number): Difference {
  if (before === after) return 'same';
  if (before === undefined || after === undefined) return 'real';
  return Math.abs(after - before) < step ? 'small' : 'real';
}

interface Published {
  readonly worker: WorkerInit;
  /** Monotonic ms since a small move away from this version has been held back; undefined while none is. */
  heldSinceMs?: number;
}

/**
 * Decides which version of each worker the hive reports, so that the queen hears of real changes at once and of
 * small GPU-load or KV-use moves only along with another change, or after SMALL_CHANGE_MAX_WAIT_MS. Pure: time
 * is passed in.
 */
export class PublishGate {
  private published = new Map<string, Published>();
  private order: string[] = [];

  /**
   * Takes the workers as read now; returns whether what is reported changed. A real change anywhere publishes
   * every worker as read (small moves ride along); otherwise a small move is held back, and published once it
   * has been held for SMALL_CHANGE_MAX_WAIT_MS.
   */
  update(current: readonly WorkerInit[], nowMs: number): boolean {
    const ids = current.map((w) => w.workerId ?? '');
    let real = ids.length !== this.order.length || ids.some((id, i) => id !== this.order[i]);
    let smallDue = false;
    if (!real) {
      for (const w of current) {
        const before = this.published.get(w.workerId ?? '');
        const diff = before === undefined ? 'real' : difference(before.worker, w);
        if (diff === 'real') {
          real = true;
          break;
        }
        if (before === undefined) continue;
        if (diff === 'same') before.heldSinceMs = undefined;
        else if (before.heldSinceMs === undefined) before.heldSinceMs = nowMs;
        else if (nowMs - before.heldSinceMs >= SMALL_CHANGE_MAX_WAIT_MS) smallDue = true;
      }
    }
    if (!real && !smallDue) return false;
    const next = new Map<string, Published>();
    for (const w of current) {
      const before = this.published.get(w.workerId ?? '');
      // A worker read again unchanged keeps the version already sent (its last_heartbeat included).
      const unchanged = before !== undefined && difference(before.worker, w) === 'same';
      next.set(w.workerId ?? '', { worker: unchanged ? before.worker : w });
    }
    this.published = next;
    this.order = ids;
    return true;
  }

  /** The workers as reported, in the order last published. */
  workers(): WorkerInit[] {
    return this.order.map((id) => this.published.get(id)?.worker).filter((w): w is WorkerInit => w !== undefined);
  }
}
