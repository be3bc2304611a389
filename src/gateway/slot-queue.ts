import type { WorkerEntry } from '../common/worker.js';
import type { RegistryEvent } from '../registry/types.js';
import type { Pick } from '../scheduler/pick-worker.js';
import type { WorkerLoad } from '../scheduler/scheduling-index.js';
import type { CancelSignal } from './cancel.js';
import type { PrefixAffinity } from './prefix-affinity.js';

/** What the gateway asks of the scheduler (the queen's SchedulingIndex and registry, in-process). */
export interface GatewayScheduler {
  /** A reserving pick among workers with `model` loaded (never the fallback), the reservation living `ttlMs`. */
  reserve(model: string, ttlMs: number): Pick;
  /** A reserving pick of this very worker, when it could take a request for `model` now; else undefined. */
  reserveOn(model: string, hiveId: string, workerId: string, ttlMs: number): Pick | undefined;
  /** The worker's load and whether it could take a request for `model`; undefined when it does not serve it online. */
  standingFor(model: string, hiveId: string, workerId: string): WorkerLoad | undefined;
  /** The load of the worker `reserve` would pick now; undefined when none could take the request. */
  leastLoad(model: string): number | undefined;
  /** Ends a reservation; `success` clears the worker's failure record. */
  release(reservationId: string, success: boolean): void;
  /** The worker failed a request: it is not picked for a while (the exclusion doubles with each failure in a row). */
  reportFailure(workerId: string): void;
  /** Whether some worker of an online hive has `model` loaded, whatever its state. */
  modelLoaded(model: string): boolean;
  /** The models loaded on workers of online hives, each with how many such workers. */
  onlineModels(): Map<string, number>;
  /** Calls `listener` after every registry change (a worker's state, a hive coming or going); returns unsubscribe. */
  onChange(listener: (event: RegistryEvent) => void): () => void;
}

/** A held slot: the worker to send the request to, until `release`. */
export interface Held {
  readonly entry: WorkerEntry;
  readonly reservationId: string;
  /** With prefix affinity: how many of the request's prompt blocks the worker had served (0: a miss). */
  readonly prefixBlocks?: number;
}

export type Acquired =
  | { readonly kind: 'held'; readonly held: Held; readonly waitedMs: number }
  /** No slot came free within the queue timeout. */
  | { readonly kind: 'timeout'; readonly waitedMs: number }
  /** The client went away while waiting. */
  | { readonly kind: 'aborted' }
  /** No slot now, and no worker of an online hive has the model loaded: waiting would not help. */
  | { readonly kind: 'not_loaded' }
  /** The queen is shutting down: nothing more is handed out. */
  | { readonly kind: 'closed' };

interface Waiter {
  readonly model: string;
  readonly keys: readonly number[];
  readonly since: number;
  readonly resolve: (acquired: Acquired) => void;
  readonly cleanup: () => void;
}

/** How often waiting requests look again while nothing tells them a slot came free (reservations expiring, ...). */
const POLL_MS = 100;

/**
 * Requests waiting for a free slot of a worker with their model, first come first served per model. A request
 * arriving while others wait for the same model queues behind them. Waiters are served when the gateway releases
 * a reservation, when the registry changes (a worker back to IDLE, a new hive), and at least every POLL_MS (a
 * reservation of another client ending by its TTL, an exclusion ending).
 */
export class SlotQueue {
  private readonly waiting = new Map<string, Waiter[]>();
  private poll: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private serving = false;
  private closed = false;

  constructor(
    private readonly scheduler: GatewayScheduler,
    private readonly reservationTtlMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly affinity?: PrefixAffinity,
  ) {
    this.unsubscribe = scheduler.onChange(() => this.wake());
  }

  /** Requests waiting now. */
  get size(): number {
    let count = 0;
    for (const queue of this.waiting.values()) count += queue.length;
    return count;
  }

  /**
   * A slot of a worker with `model`, at once or within `timeoutMs`; the caller releases it. `not_loaded` at once
   * when no slot is free and no online worker has the model at all. `keys`: the prompt's prefix keys, for the
   * affinity (when the queue has one).
   */
  acquire(model: string, timeoutMs: number, signal?: CancelSignal, keys: readonly number[] = []): Promise<Acquired> {
    const since = this.now();
    if (this.closed) return Promise.resolve({ kind: 'closed' });
    if (signal?.aborted === true) return Promise.resolve({ kind: 'aborted' });
    if ((this.waiting.get(model)?.length ?? 0) === 0) {
      const held = this.tryReserve(model, keys);
      if (held !== undefined) return Promise.resolve({ kind: 'held', held, waitedMs: 0 });
    }
    // Asked only when there is no slot at once: it looks at every worker, a pick does not.
    if (!this.scheduler.modelLoaded(model)) return Promise.resolve({ kind: 'not_loaded' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.remove(waiter);
        resolve({ kind: 'timeout', waitedMs: this.now() - since });
      }, timeoutMs);
      const onAbort = (): void => {
        this.remove(waiter);
        resolve({ kind: 'aborted' });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiter: Waiter = {
        model,
        keys,
        since,
        resolve,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      let queue = this.waiting.get(model);
      if (queue === undefined) this.waiting.set(model, (queue = []));
      queue.push(waiter);
      this.poll ??= setInterval(() => this.wake(), POLL_MS);
    });
  }

  /** Serves waiters while slots are free: call after a release. */
  wake(): void {
    if (this.waiting.size === 0 || this.serving) return;
    this.serving = true;
    try {
      for (const [model, queue] of this.waiting) {
        for (let waiter = queue[0]; waiter !== undefined; waiter = queue[0]) {
          const held = this.tryReserve(model, waiter.keys);
          if (held === undefined) break;
          queue.shift();
          waiter.cleanup();
          waiter.resolve({ kind: 'held', held, waitedMs: this.now() - waiter.since });
        }
        if (queue.length === 0) this.waiting.delete(model);
      }
    } finally {
      this.serving = false;
      this.stopPollingIfIdle();
    }
  }

  /** Stops handing out slots; waiters still queued, and any request after, get `closed` at once. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const queue of this.waiting.values()) {
      for (const waiter of queue) {
        waiter.cleanup();
        waiter.resolve({ kind: 'closed' });
      }
    }
    this.waiting.clear();
    this.stopPollingIfIdle();
  }

  /**
   * A slot for a request: with prefix affinity, the worker of its longest matching prefix when the rule allows,
   * else (and without affinity) the load order's pick; the chosen worker then records the prompt's keys.
   */
  private tryReserve(model: string, keys: readonly number[]): Held | undefined {
    const ttl = this.reservationTtlMs;
    const preferred =
      this.affinity === undefined || keys.length === 0
        ? undefined
        : this.affinity.prefer(keys, {
            standingFor: (hiveId, workerId) => this.scheduler.standingFor(model, hiveId, workerId),
            leastLoad: () => this.scheduler.leastLoad(model),
          });
    let pick = preferred === undefined ? undefined : this.scheduler.reserveOn(model, preferred.hiveId, preferred.workerId, ttl);
    if (pick?.kind !== 'picked') pick = this.scheduler.reserve(model, ttl);
    if (pick.kind !== 'picked' || pick.reservation === undefined) return undefined;
    const held = { entry: pick.entry, reservationId: pick.reservation.reservationId };
    if (this.affinity === undefined) return held;
    return { ...held, prefixBlocks: this.affinity.chosen(keys, pick.entry.hiveId, pick.entry.worker.workerId, model) };
  }

  private remove(waiter: Waiter): void {
    waiter.cleanup();
    const queue = this.waiting.get(waiter.model);
    const index = queue?.indexOf(waiter) ?? -1;
    if (queue !== undefined && index >= 0) queue.splice(index, 1);
    if (queue?.length === 0) this.waiting.delete(waiter.model);
    this.stopPollingIfIdle();
  }

  private stopPollingIfIdle(): void {
    if (this.waiting.size > 0 || this.poll === undefined) return;
    clearInterval(this.poll);
    this.poll = undefined;
  }
}
