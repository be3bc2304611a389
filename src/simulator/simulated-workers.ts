import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { seededRandom } from '../common/seeded-random.js';
import { MAX_CONCURRENCY, MAX_ENGINE_VERSION_LENGTH } from '../common/worker.js';
import { Backend, HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb.js';
import type { DeviceInit, HiveSnapshot, WorkerInit } from '../agent/hive-snapshot.js';
import { systemTimers, type Timers } from '../agent/timers.js';
import { fnv1a } from './fnv1a.js';
import { RequestBoard, type WorkerRequests } from './request-board.js';
import type { SimulatedWorkersOptions } from './simulated-workers-options.js';
import { DEFAULT_SIMULATED_MODELS, modelContextTokens, modelVramBytes } from './simulated-models.js';

export { DEFAULT_SIMULATED_MODELS } from './simulated-models.js';
export type { SimulatedWorkersOptions } from './simulated-workers-options.js';

/**
 * The workers' URL when no `urlOf` is given: port 9 (discard), where nothing answers. Only for simulations
 * without an inference server (tests of the registry side); `hive-registry agent --simulate` serves every worker
 * with SimulatedInference and reports its URLs.
 */
export const SIMULATED_PLACEHOLDER_URL = 'http://127.0.0.1:9/';

/** Requests each simulated worker takes at once when none is given (the inference server's default too). */
export const DEFAULT_SIMULATED_CONCURRENCY = 4;

/** Most workers one simulated hive may have (the queen's default limit per hive). */
export const MAX_SIMULATED_WORKERS = 1_024;

/** What simulated workers report as their `engine`. */
export const SIMULATED_ENGINE = 'simulated';
/** The status_message of a worker during a busy spell. */
export const BACKGROUND_LOAD_MESSAGE = 'busy spell: simulated background requests take every slot';

const GIB = 1n << 30n;
const DEVICE_VRAM_BYTES = 80n * GIB;
const DEVICE_NAME = 'NVIDIA A100-SXM4-80GB';
const WORKER_RAM_BYTES = 8n * GIB;
const HIVE_RAM_BYTES = 512n * GIB;
/** Per change, the chance a chosen worker starts a busy spell, and one in a spell ends it. */
const START_BUSY = 0.3;
const END_BUSY = 0.7;

/** A simulated worker and the model it serves: what an inference server needs to answer for it. */
export interface SimulatedWorkerModel {
  readonly workerId: string;
  readonly modelId: string;
}

/**
 * The workers of a SimulatedWorkers with these options, in order: worker i is `${hiveId}-w${i}`, serving
 * models[i % length] (default DEFAULT_SIMULATED_MODELS). For an inference server built before the workers.
 */
export function simulatedWorkerModels(hiveId: string, count: number, models: readonly string[] = DEFAULT_SIMULATED_MODELS): SimulatedWorkerModel[] {
  return Array.from({ length: count }, (_, i) => ({ workerId: `${hiveId}-w${i}`, modelId: models[i % models.length] ?? '' }));
}

interface Worker {
  readonly workerId: string;
  readonly modelId: string;
  gpuPercent: number;
  /** Ends the background requests of the worker's busy spell; undefined outside a spell. */
  endSpell: (() => void) | undefined;
  /** Wall time of the worker's last change (a step that moved it, or a change of its counts): its last_heartbeat. */
  changedAtWallMs: number;
}

/**
 * N fake workers on one hive, for demos and load tests: a SnapshotProvider (`() => sim.snapshot()`) whose state
 * moves over time and with the requests they run. Every worker: CUDA, HEALTHY, one model (round robin), on device
 * floor(i / 2) (two workers per 80 GiB GPU), engine "simulated" with its context length (simulated-models.ts).
 *
 * What a worker reports follows from its requests (`requests`: those SimulatedInference runs for it, plus
 * background ones):
 * - requests_running, requests_waiting: its counts at the snapshot;
 * - state: BUSY while every slot runs (running >= max_concurrency), else IDLE; never anything else;
 * - kv_cache_usage: running / max_concurrency, the cache being sized for max_concurrency requests at full context.
 * The random walk, in steps of `stepMs` (not every step changes anything), moves gpu_percent (0-100, drifting up
 * during a busy spell) and starts and ends busy spells: a spell is max_concurrency background requests, queued like
 * any others, that take every slot and hold it until the spell ends; it shows as BUSY with every slot running, and
 * status_message says so. Steps are deterministic: they depend only on the options and the time elapsed since
 * construction, not on how often `snapshot()` is called. `changeProbability: 0` (`--steady`): no spells, so a
 * worker is IDLE unless real requests fill its slots.
 *
 * `onChange` tells when anything reported changed (a request started, ended or began waiting; a step moved a
 * worker). This class only reports; the answering is SimulatedInference's, whose URLs come in through `urlOf`.
 */
export class SimulatedWorkers {
  private readonly rng: () => number;
  private readonly workers: Worker[];
  private readonly byId = new Map<string, Worker>();
  private readonly startMs: number;
  private readonly startWallMs: number;
  private readonly stepMs: number;
  private readonly changeProbability: number;
  private readonly urlOf: (workerId: string) => string;
  private readonly maxConcurrency: number;
  private readonly requests: WorkerRequests;
  private readonly engineVersion: string | undefined;
  private readonly timers: Timers;
  private readonly listeners = new Set<{ readonly call: () => void }>();
  private readonly stopCounts: () => void;
  private stepTimer: unknown;
  private step = 0;
  /** While a step runs: count changes it causes are its own, told once at its end. */
  private stepping = false;

  constructor(private readonly options: SimulatedWorkersOptions) {
    const { hiveId, count } = options;
    if (!Number.isInteger(count) || count < 1 || count > MAX_SIMULATED_WORKERS) {
      throw new RangeError(`count: must be an integer from 1 to ${MAX_SIMULATED_WORKERS}, got ${count}`);
    }
    const longestId = `${hiveId}-w${count - 1}`;
    if (longestId.length > 128) {
      throw new RangeError(`hiveId: worker ids like "${longestId}" would exceed 128 characters`);
    }
    const models = options.models ?? DEFAULT_SIMULATED_MODELS;
    if (models.length === 0) throw new RangeError('models: must name at least one model');
    this.stepMs = options.stepMs ?? 3_000;
    if (!(this.stepMs > 0)) throw new RangeError(`stepMs: must be positive, got ${this.stepMs}`);
    this.changeProbability = options.changeProbability ?? 0.4;
    if (!(this.changeProbability >= 0 && this.changeProbability <= 1)) {
      throw new RangeError(`changeProbability: must be from 0 to 1, got ${this.changeProbability}`);
    }
    this.maxConcurrency = options.maxConcurrency ?? DEFAULT_SIMULATED_CONCURRENCY;
    if (!Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1 || this.maxConcurrency > MAX_CONCURRENCY) {
      throw new RangeError(`maxConcurrency: must be an integer from 1 to ${MAX_CONCURRENCY}, got ${this.maxConcurrency}`);
    }
    this.urlOf = options.urlOf ?? (() => SIMULATED_PLACEHOLDER_URL);
    this.engineVersion = options.engineVersion?.slice(0, MAX_ENGINE_VERSION_LENGTH);
    this.timers = options.timers ?? systemTimers;
    this.rng = seededRandom(options.seed ?? fnv1a(hiveId));
    this.startMs = options.clock.now();
    this.startWallMs = options.clock.wallNow();
    this.workers = simulatedWorkerModels(hiveId, count, models).map(({ workerId, modelId }) => ({
      workerId,
      modelId,
      gpuPercent: Math.floor(this.rng() * 20),
      endSpell: undefined,
      changedAtWallMs: this.startWallMs,
    }));
    for (const w of this.workers) this.byId.set(w.workerId, w);
    this.requests = options.requests ?? new RequestBoard(this.byId.keys(), this.maxConcurrency);
    // A worker the requests do not know throws here, not at the first snapshot.
    for (const w of this.workers) this.requests.countsOf(w.workerId);
    this.stopCounts = this.requests.onCountsChange((workerId) => this.countsChanged(workerId));
  }

  /** The worker ids, in order. */
  get workerIds(): string[] {
    return this.workers.map((w) => w.workerId);
  }

  /** Every worker with its model, in order (the model never changes). */
  get workerModels(): SimulatedWorkerModel[] {
    return this.workers.map(({ workerId, modelId }) => ({ workerId, modelId }));
  }

  /** The hive's state at `clock.now()`: every worker and device, and the hive's RAM. */
  snapshot(): HiveSnapshot {
    this.catchUp();
    const workers = this.workers.map((w, i): WorkerInit => {
      const { running, waiting } = this.requests.countsOf(w.workerId);
      return {
        workerId: w.workerId,
        state: running >= this.maxConcurrency ? WorkerStatus.BUSY : WorkerStatus.IDLE,
        url: this.urlOf(w.workerId),
        modelId: w.modelId,
        backend: Backend.CUDA,
        deviceId: Math.floor(i / 2),
        vramBytes: modelVramBytes(w.modelId),
        ramBytes: WORKER_RAM_BYTES,
        gpuPercent: w.gpuPercent,
        health: HealthStatus.HEALTHY,
        lastHeartbeat: timestampFromMs(w.changedAtWallMs),
        maxConcurrency: this.maxConcurrency,
        requestsRunning: running,
        requestsWaiting: waiting,
        kvCacheUsage: Math.min(1, running / this.maxConcurrency),
        engine: SIMULATED_ENGINE,
        ...(this.engineVersion === undefined ? {} : { engineVersion: this.engineVersion }),
        contextLength: modelContextTokens(w.modelId),
        ...(w.endSpell === undefined ? {} : { statusMessage: BACKGROUND_LOAD_MESSAGE }),
      };
    });
    const devices = Array.from(
      { length: Math.ceil(this.workers.length / 2) },
      (_, deviceId): DeviceInit => ({ deviceId, backend: Backend.CUDA, name: DEVICE_NAME, vramTotalBytes: DEVICE_VRAM_BYTES }),
    );
    return { workers, devices, ramTotalBytes: HIVE_RAM_BYTES };
  }

  /**
   * Calls `listener` (synchronously; it must not throw) whenever something `snapshot()` reports may have changed:
   * a worker's running or waiting count, or a step of the random walk that moved a worker (the walk is woken at
   * each step by `timers` while there are listeners). Returns the function that unsubscribes it.
   */
  onChange(listener: () => void): () => void {
    const entry = { call: listener };
    this.listeners.add(entry);
    this.wakeAtNextStep();
    return () => {
      this.listeners.delete(entry);
      if (this.listeners.size === 0) this.sleep();
    };
  }

  /** Drops every `onChange` listener and stops listening to the requests; `snapshot()` still answers. Idempotent. */
  close(): void {
    this.listeners.clear();
    this.sleep();
    this.stopCounts();
  }

  private countsChanged(workerId: string): void {
    if (this.stepping) return;
    const worker = this.byId.get(workerId);
    if (worker !== undefined) worker.changedAtWallMs = this.options.clock.wallNow();
    this.tell();
  }

  private tell(): void {
    for (const listener of [...this.listeners]) listener.call();
  }

  /** Runs the steps due by now; tells the listeners once if any moved a worker. */
  private catchUp(): void {
    const due = Math.floor((this.options.clock.now() - this.startMs) / this.stepMs);
    let moved = false;
    this.stepping = true;
    try {
      while (this.step < due) moved = this.advance() || moved;
    } finally {
      this.stepping = false;
    }
    if (moved) this.tell();
  }

  private wakeAtNextStep(): void {
    if (this.stepTimer !== undefined || this.listeners.size === 0 || this.changeProbability === 0) return;
    const nextMs = this.startMs + (this.step + 1) * this.stepMs;
    this.stepTimer = this.timers.setTimeout(() => {
      this.stepTimer = undefined;
      this.catchUp();
      this.wakeAtNextStep();
    }, Math.max(0, nextMs - this.options.clock.now()));
  }

  private sleep(): void {
    if (this.stepTimer === undefined) return;
    this.timers.clearTimeout(this.stepTimer);
    this.stepTimer = undefined;
  }

  /** One step: most steps change nothing; the others move one or two workers. Returns whether any moved. */
  private advance(): boolean {
    this.step += 1;
    if (this.rng() >= this.changeProbability) return false;
    const stepWallMs = this.startWallMs + this.step * this.stepMs;
    const moves = this.workers.length > 1 && this.rng() < 0.5 ? 2 : 1;
    for (let m = 0; m < moves; m++) {
      const worker = this.workers[Math.floor(this.rng() * this.workers.length)];
      if (worker === undefined) continue;
      if (worker.endSpell === undefined && this.rng() < START_BUSY) worker.endSpell = this.requests.occupy(worker.workerId);
      else if (worker.endSpell !== undefined && this.rng() < END_BUSY) {
        worker.endSpell();
        worker.endSpell = undefined;
      }
      // A step of up to +-15 points, drifting up during a spell and down otherwise; whole points keep it readable.
      const drift = worker.endSpell === undefined ? -4 : 8;
      const next = worker.gpuPercent + drift + Math.round((this.rng() * 2 - 1) * 15);
      worker.gpuPercent = Math.min(100, Math.max(0, next));
      worker.changedAtWallMs = stepWallMs;
    }
    return true;
  }
}
