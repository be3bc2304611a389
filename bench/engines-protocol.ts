import type { ChangeTiming } from './engine-changes.js';

/**
 * What the engines scenario's child (engines-main.js: the fake engines, the driver that changes them and the Watch
 * client that sees the changes arrive) and the bench parent say to each other: one JSON object per line on the
 * child's stdout. The agent and the queen are other processes; only the parent talks to them.
 */

/** The child's knobs, given as its one argument (JSON). */
/** The scenario's knobs (run.ts sets them). */
export interface EnginesSettings {
  /** Fake vLLM engines to start. */
  readonly engines: number;
  /** The agent's --poll-interval. */
  readonly pollIntervalMs: number;
  /** The driver's average rate of changes, all engines together. */
  readonly changesPerSecond: number;
  /** From the moment the queen shows every engine until the window opens; changes are already made. */
  readonly warmupMs: number;
  readonly measureMs: number;
  /** After the window, how long the changes still on their way may take to arrive before they count as missed. */
  readonly deliveryDeadlineMs: number;
  /** Events of one hive arriving less than this apart count as one snapshot. */
  readonly burstGapMs: number;
  /** Seed of the driver's choices (which engine, when). */
  readonly seed: number;
  /** The goal is p99 <= poll interval + this, in ms (the contract's round-trip allowance). */
  readonly goalSlackMs: number;
}

/** What the engines child is told: the scenario's knobs it acts on, where the queen is, and its hive. */
export interface EnginesChildSpec
  extends Pick<EnginesSettings, 'engines' | 'changesPerSecond' | 'warmupMs' | 'measureMs' | 'deliveryDeadlineMs' | 'burstGapMs' | 'seed'> {
  /** The queen's gRPC address, for the Watch call. */
  readonly address: string;
  /** The agent's hive id: its workers are `<hiveId>-<port>`. */
  readonly hiveId: string;
  /** The child exits on its own after this long, even if nobody stops it. */
  readonly maxLifetimeMs: number;
}

/** What the child measured, over the window unless said otherwise. */
export interface EnginesDelivery {
  /** Changes made inside the window. */
  readonly changes: number;
  /** Each change made inside the window that arrived: change -> Watch event, split at the agent's read. */
  readonly timings: readonly ChangeTiming[];
  /** Changes made during the whole run (warm-up included), and how many of them never arrived by the deadline. */
  readonly changesTotal: number;
  readonly missed: number;
  /** Instants at which every engine had a change on its way, so none could be changed (whole run). */
  readonly skipped: number;
  /** WORKER_UPSERTED events of the hive received inside the window, and how many bursts they came in. */
  readonly upserts: number;
  readonly bursts: number;
  /** Requests the engines answered inside the window, and how many of them were GET /metrics (one per poll). */
  readonly engineRequests: number;
  readonly polls: number;
  /** The window's length on the child's clock, and the child's own CPU over it (engines, driver, watcher). */
  readonly windowMs: number;
  readonly childCpuUs: number;
}

/** Lines the child writes on stdout. */
export type EnginesChildEvent =
  | { readonly event: 'ready'; readonly urls: readonly string[] }
  | { readonly event: 'synced'; readonly elapsedMs: number }
  | { readonly event: 'measure-start' }
  | { readonly event: 'measure-end' }
  | { readonly event: 'result'; readonly result: EnginesDelivery }
  | { readonly event: 'failed'; readonly error: string };

/** Writes one event line on stdout. */
export function emitEngines(event: EnginesChildEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
