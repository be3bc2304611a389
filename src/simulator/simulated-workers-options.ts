import type { Clock } from '../common/clock.js';
import type { Timers } from '../agent/timers.js';
import type { WorkerRequests } from './request-board.js';

/** Options of SimulatedWorkers (simulated-workers.ts), which re-exports them. */
export interface SimulatedWorkersOptions {
  /** The hive's id; worker ids are `${hiveId}-w${i}` (each at most 128 characters). */
  readonly hiveId: string;
  /** How many workers, 1 to MAX_SIMULATED_WORKERS. */
  readonly count: number;
  /** Drives the simulation: `snapshot()` reports the state at `clock.now()`. */
  readonly clock: Clock;
  /** Seed of the random walk; the same seed gives the same history. Default: derived from the hive id. */
  readonly seed?: number;
  /** Models loaded round robin (worker i gets models[i % length]). Default DEFAULT_SIMULATED_MODELS. */
  readonly models?: readonly string[];
  /**
   * Each worker's URL, asked at every snapshot (so it may name a server started after construction). Default
   * SIMULATED_PLACEHOLDER_URL for all: not served.
   */
  readonly urlOf?: (workerId: string) => string;
  /** Requests each worker takes at once, reported as max_concurrency: 1 to MAX_CONCURRENCY. Default 4. */
  readonly maxConcurrency?: number;
  /**
   * The workers' requests: SimulatedInference's `requests` when a server answers for them (its maxConcurrency
   * should be this one's). Default: a RequestBoard of their own, where only busy spells run.
   */
  readonly requests?: WorkerRequests;
  /** Reported as engine_version (cut to 64 characters), e.g. the package's version. Default: not reported. */
  readonly engineVersion?: string;
  /** Length of one simulation step, in ms: the random walk changes nothing within a step. Default 3,000. */
  readonly stepMs?: number;
  /**
   * Chance that a step changes anything (one or two workers move), 0-1. Default 0.4. 0 keeps the fleet steady:
   * no busy spells, every GPU at its starting load, for as long as it runs.
   */
  readonly changeProbability?: number;
  /** Wake the random walk at each step while `onChange` has listeners. Default the process's timers. */
  readonly timers?: Timers;
}
