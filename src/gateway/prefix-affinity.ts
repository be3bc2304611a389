import { promptText } from '../common/prompt-text.js';
import type { RegistryEvent } from '../registry/types.js';
import type { WorkerLoad } from '../scheduler/scheduling-index.js';
import type { PrefixAffinityOptions } from './prefix-affinity-options.js';
import { prefixKeys } from './prefix-keys.js';
import { PrefixTable } from './prefix-table.js';

/** How the scheduler sees workers for one request's model, now (SchedulingIndex.standingFor and leastLoad). */
export interface LoadView {
  /** The worker's load and whether it could take the request; undefined when it does not serve the model online. */
  standingFor(hiveId: string, workerId: string): WorkerLoad | undefined;
  /** The load of the worker the load order would pick; undefined when no worker could take the request. */
  leastLoad(): number | undefined;
}

/** The worker prefix affinity sends a request to, and how many of the request's blocks it served. */
export interface Preferred {
  readonly hiveId: string;
  readonly workerId: string;
  readonly blocks: number;
}

/** The endpoints whose requests have a prompt text (embeddings have none: the load order alone decides). */
export type PromptKind = 'chat' | 'completions';

/**
 * The affinity rule (routing v3): among the workers that served the request's longest matching prefix (live ones
 * that still serve the model on an online hive), the least loaded; it gets the request unless it has no free slot
 * or its load exceeds the least-loaded candidate's by more than `slack`. Undefined: the load order decides.
 * Pure over the table and the view; ties among the matching workers go to the most recent.
 */
export function preferredWorker(table: PrefixTable, keys: readonly number[], view: LoadView, slack: number): Preferred | undefined {
  for (let i = keys.length - 1; i >= 0; i--) {
    let best: { hiveId: string; workerId: string; standing: WorkerLoad } | undefined;
    for (const { hiveId, workerId } of table.servedBy(keys[i] as number)) {
      const standing = view.standingFor(hiveId, workerId);
      if (standing !== undefined && (best === undefined || standing.load < best.standing.load)) best = { hiveId, workerId, standing };
    }
    if (best === undefined) continue;
    if (!best.standing.free) return undefined;
    const least = view.leastLoad();
    if (least === undefined || best.standing.load - least > slack) return undefined;
    return { hiveId: best.hiveId, workerId: best.workerId, blocks: i + 1 };
  }
  return undefined;
}

/**
 * Prefix affinity in the gateway: the prompt's keys, the rule, and the table of which workers served which keys,
 * kept current by the registry's events (a worker removed, changing model, or its hive going offline is forgotten).
 */
export class PrefixAffinity {
  private readonly table: PrefixTable;

  constructor(private readonly options: PrefixAffinityOptions) {
    this.table = new PrefixTable(options.cacheKeys);
  }

  /** Keys held now. */
  get size(): number {
    return this.table.size;
  }

  /**
   * The prompt's prefix keys for `model`, shortest first (none for a body without prompt text). `bodyBytes`, the
   * body's size, bounds the prompt text (its JSON holds every byte of it, and more), so a body smaller than one
   * block is not read at all.
   */
  keysOf(kind: PromptKind, model: string, body: unknown, bodyBytes: number): number[] {
    if (bodyBytes < this.options.blockBytes) return [];
    return prefixKeys(model, promptText(kind, body), this.options.blockBytes);
  }

  /** The worker the rule prefers for a request with `keys`, or undefined: the load order decides. */
  prefer(keys: readonly number[], view: LoadView): Preferred | undefined {
    return preferredWorker(this.table, keys, view, this.options.slack);
  }

  /**
   * The request with `keys` goes to this worker: returns how many of its blocks the worker served (0: a miss),
   * then records every key for it.
   */
  chosen(keys: readonly number[], hiveId: string, workerId: string, model: string): number {
    const blocks = this.table.blocksOn(keys, hiveId, workerId);
    this.table.record(keys, hiveId, workerId, model);
    return blocks;
  }

  /** Keeps the table to the registry: what a worker left, it has forgotten. */
  registryChanged(event: RegistryEvent): void {
    switch (event.type) {
      case 'worker_upserted':
        this.table.workerSeen(event.hiveId, event.worker.workerId, event.worker.modelId);
        break;
      case 'worker_removed':
        this.table.workerGone(event.hiveId, event.workerId);
        break;
      case 'hive_offline':
      case 'hive_removed':
        this.table.hiveGone(event.hiveId);
        break;
      case 'hive_online':
        break;
    }
  }
}
