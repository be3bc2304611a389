/** One worker's time serving one model: its entries in the table are good while this very object is current. */
export interface Tenure {
  readonly hiveId: string;
  readonly workerId: string;
  readonly model: string;
}

/** Workers remembered per key, most recent first: enough for a hot prefix spread over a few workers. */
export const WORKERS_PER_KEY = 4;

/**
 * Which workers recently served each prefix key (prefix-keys.ts): a bounded LRU of keys (`capacity`), each with
 * up to WORKERS_PER_KEY workers, most recent first.
 *
 * A worker is forgotten when it is removed, leaves the model or its hive goes offline (the registry's events, told
 * through `workerSeen`, `workerGone`, `hiveGone`): its tenure ends at once, in O(1), so none of its entries ever
 * matches again, even if it comes back with the same model (its cache is cold then). Dead entries give their room
 * back as lookups and records meet them, or as their keys age out of the LRU.
 */
export class PrefixTable {
  private readonly keys = new Map<number, Tenure[]>();
  /** The current tenure of each worker that has one, by hive then worker id (no key string built per event). */
  private readonly tenures = new Map<string, Map<string, Tenure>>();

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity: must be a whole number of at least 1, got ${capacity}`);
  }

  /** Keys held now. */
  get size(): number {
    return this.keys.size;
  }

  /** The live workers that served `key`, most recent first (empty when none). */
  servedBy(key: number): readonly Tenure[] {
    const served = this.keys.get(key);
    if (served === undefined) return NONE;
    const live = served.filter((t) => this.isLive(t));
    if (live.length === served.length) return served;
    if (live.length === 0) this.keys.delete(key);
    else this.keys.set(key, live);
    return live;
  }

  /** How many of `keys` (a prompt's, shortest first) the worker served: its longest matching prefix, in blocks. */
  blocksOn(keys: readonly number[], hiveId: string, workerId: string): number {
    const tenure = this.tenures.get(hiveId)?.get(workerId);
    if (tenure === undefined) return 0;
    for (let i = keys.length - 1; i >= 0; i--) {
      if (this.keys.get(keys[i] as number)?.includes(tenure) === true) return i + 1;
    }
    return 0;
  }

  /** The worker served a prompt with these keys for `model`: each key now names it first, and is the most recent. */
  record(keys: readonly number[], hiveId: string, workerId: string, model: string): void {
    if (keys.length === 0) return;
    const tenure = this.tenureOf(hiveId, workerId, model);
    for (const key of keys) {
      const served = this.keys.get(key);
      const next = [tenure];
      if (served !== undefined) {
        this.keys.delete(key);
        for (const t of served) if (t !== tenure && next.length < WORKERS_PER_KEY && this.isLive(t)) next.push(t);
      }
      this.keys.set(key, next);
    }
    // Map keeps insertion order: the first keys are the least recently recorded.
    for (const key of this.keys.keys()) {
      if (this.keys.size <= this.capacity) break;
      this.keys.delete(key);
    }
  }

  /** The registry reports the worker with `model` (undefined: none): a different model ends its tenure. */
  workerSeen(hiveId: string, workerId: string, model: string | undefined): void {
    const tenure = this.tenures.get(hiveId)?.get(workerId);
    if (tenure !== undefined && tenure.model !== model) this.workerGone(hiveId, workerId);
  }

  /** The worker left its hive's reports. */
  workerGone(hiveId: string, workerId: string): void {
    const workers = this.tenures.get(hiveId);
    if (workers?.delete(workerId) === true && workers.size === 0) this.tenures.delete(hiveId);
  }

  /** The hive went offline or was removed: every worker of it is forgotten. */
  hiveGone(hiveId: string): void {
    this.tenures.delete(hiveId);
  }

  private isLive(tenure: Tenure): boolean {
    return this.tenures.get(tenure.hiveId)?.get(tenure.workerId) === tenure;
  }

  private tenureOf(hiveId: string, workerId: string, model: string): Tenure {
    let workers = this.tenures.get(hiveId);
    const current = workers?.get(workerId);
    if (current !== undefined && current.model === model) return current;
    const tenure: Tenure = { hiveId, workerId, model };
    if (workers === undefined) this.tenures.set(hiveId, (workers = new Map()));
    workers.set(workerId, tenure);
    return tenure;
  }
}

const NONE: readonly Tenure[] = [];
