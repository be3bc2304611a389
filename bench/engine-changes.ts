import type { WatchUpdate } from '../src/client/watch-stream.js';
import type { FakeEngine } from '../test/helpers/fake-engines.js';

/** A change made and not yet seen on the Watch stream. */
interface Pending {
  /** The engine's new requests_running: never reported before by that engine, so it cannot be mistaken. */
  readonly value: number;
  /** When the engine started answering with it (monotonic ms). */
  readonly atMs: number;
  /** When the agent's next GET /metrics reached the engine, which answered with the value. */
  readAtMs?: number;
  readonly inWindow: boolean;
}

/** One change made inside the window that arrived, in ms: in all, and split at the agent's read of the value. */
export interface ChangeTiming {
  readonly totalMs: number;
  /** From the change until the agent's next GET /metrics reached the engine: the wait for the next poll. */
  readonly untilReadMs: number;
  /** From that GET until the Watch event arrived: the agent's poll, its snapshot send, the queen, the stream. */
  readonly afterReadMs: number;
}

interface Driven {
  readonly engine: FakeEngine;
  /** The next fresh value of requests_running (each engine starts at 0). */
  nextValue: number;
}

/** Hive events that mean the agent's stream broke: the latencies after one would not measure the poll path. */
const BROKEN: ReadonlySet<WatchUpdate['type']> = new Set(['hive_offline', 'hive_removed', 'resync']);

/**
 * The driver and the stopwatch of the engines scenario, on one clock. `change` gives one engine, among those with
 * no change still on its way, a fresh `requests_running`; each engine's requests are watched for the agent's next
 * GET /metrics (which reads the value); `observe` takes every Watch update of the hive and, when a
 * WORKER_UPSERTED carries that value for that engine's worker, records the times since the change. An engine is
 * never changed again before its last change arrived, so no change can be overwritten before a poll reads it:
 * every change must arrive. Also counts the window's worker events, and the bursts they come in (one per snapshot
 * the queen accepted: the events of one snapshot leave the queen together).
 */
export class EngineChanges {
  private readonly driven = new Map<string, Driven>();
  private readonly pending = new Map<string, Pending>();
  /** requests_running of each worker as the Watch stream last showed it. */
  private readonly shown = new Map<string, number | undefined>();
  private readonly timings: ChangeTiming[] = [];
  private windowOpen = false;
  private synced = false;
  private lastUpsertAtMs = Number.NEGATIVE_INFINITY;
  changesInWindow = 0;
  changesTotal = 0;
  skipped = 0;
  upserts = 0;
  bursts = 0;

  constructor(
    private readonly hiveId: string,
    engines: readonly FakeEngine[],
    /** Monotonic ms: the same clock for changes, reads and events. */
    private readonly clock: () => number,
    private readonly rng: () => number,
    private readonly burstGapMs: number,
  ) {
    for (const engine of engines) {
      const id = `${hiveId}-${engine.port}`;
      this.driven.set(id, { engine, nextValue: 1 });
      engine.onRequest((request) => {
        const pending = this.pending.get(id);
        if (request === 'GET /metrics' && pending !== undefined) pending.readAtMs ??= this.clock();
      });
    }
  }

  /** True once the stream has shown every engine's worker with its requests_running. */
  get ready(): boolean {
    return [...this.driven.keys()].every((id) => this.shown.get(id) !== undefined);
  }

  /** Changes still on their way. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The changes made inside the window that arrived, in the order they arrived. */
  get windowTimings(): readonly ChangeTiming[] {
    return this.timings;
  }

  /** From now on, changes and events count for the window (or stop counting). */
  setWindow(open: boolean): void {
    this.windowOpen = open;
  }

  /** Changes one engine with nothing on its way, chosen at random; counts a skip when every engine has. */
  change(): void {
    const free = [...this.driven.keys()].filter((id) => !this.pending.has(id));
    const id = free[Math.floor(this.rng() * free.length)];
    const driven = id === undefined ? undefined : this.driven.get(id);
    if (id === undefined || driven === undefined) {
      this.skipped++;
      return;
    }
    const value = driven.nextValue++;
    driven.engine.set({ running: value });
    this.pending.set(id, { value, atMs: this.clock(), inWindow: this.windowOpen });
    this.changesTotal++;
    if (this.windowOpen) this.changesInWindow++;
  }

  /** One update of the hive's Watch stream, just received. Throws when the hive's stream broke. */
  observe(update: WatchUpdate): void {
    const nowMs = this.clock();
    if (update.hiveId !== this.hiveId && update.type !== 'resync') return;
    if (BROKEN.has(update.type) && this.synced) {
      throw new Error(`the Watch stream said ${update.type} while the agent was reporting: the measurement is void`);
    }
    if (update.type !== 'worker_upserted' || update.worker === undefined) return;
    const id = update.worker.workerId;
    if (!this.driven.has(id)) throw new Error(`a worker no engine explains: ${JSON.stringify(id)}`);
    this.shown.set(id, update.worker.requestsRunning);
    this.synced ||= this.ready;
    if (this.windowOpen) {
      this.upserts++;
      if (nowMs - this.lastUpsertAtMs > this.burstGapMs) this.bursts++;
    }
    this.lastUpsertAtMs = nowMs;
    const pending = this.pending.get(id);
    if (pending === undefined || update.worker.requestsRunning !== pending.value) return;
    this.pending.delete(id);
    if (!pending.inWindow) return;
    // A value the stream shows was read by a GET /metrics; undefined only if the engine was read otherwise.
    const readAtMs = pending.readAtMs ?? Number.NaN;
    this.timings.push({
      totalMs: nowMs - pending.atMs,
      untilReadMs: readAtMs - pending.atMs,
      afterReadMs: nowMs - readAtMs,
    });
  }
}
