import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Clock } from '../common/clock.js';
import { seededRandom } from '../common/seeded-random.js';
import { MAX_CONCURRENCY } from '../common/worker.js';
import { Backend, HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb.js';
import { fnv1a } from './fnv1a.js';
import type { DeviceInit, HiveSnapshot, WorkerInit } from '../agent/hive-snapshot.js';

/** Models loaded round robin when no list is given: small instruct models that fit two to an 80 GiB GPU. */
export const DEFAULT_SIMULATED_MODELS: readonly string[] = Object.freeze([
  'meta-llama/Llama-3.1-8B-Instruct',
  'Qwen/Qwen2.5-7B-Instruct',
  'mistralai/Mistral-7B-Instruct-v0.3',
]);

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

const GIB = 1n << 30n;
/** VRAM a simulated worker uses, by model; other models use DEFAULT_MODEL_VRAM_BYTES. */
const MODEL_VRAM_BYTES: Readonly<Record<string, bigint>> = {
  'meta-llama/Llama-3.1-8B-Instruct': 18n * GIB,
  'Qwen/Qwen2.5-7B-Instruct': 17n * GIB,
  'mistralai/Mistral-7B-Instruct-v0.3': 16n * GIB,
};
const DEFAULT_MODEL_VRAM_BYTES = 20n * GIB;
const DEVICE_VRAM_BYTES = 80n * GIB;
const DEVICE_NAME = 'NVIDIA A100-SXM4-80GB';
const WORKER_RAM_BYTES = 8n * GIB;
const HIVE_RAM_BYTES = 512n * GIB;
/** Per change, the chance a chosen IDLE worker starts a BUSY spell, and a BUSY one goes back to IDLE. */
const START_BUSY = 0.3;
const END_BUSY = 0.7;

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
  /** Length of one simulation step, in ms: nothing changes within a step. Default 3,000. */
  readonly stepMs?: number;
  /**
   * Chance that a step changes anything (one or two workers move), 0-1. Default 0.4. 0 keeps the fleet steady:
   * every worker IDLE at its starting GPU load, for as long as it runs.
   */
  readonly changeProbability?: number;
}

/** A simulated worker and the model it serves: what an inference server needs to answer for it. */
export interface SimulatedWorkerModel {
  readonly workerId: string;
  readonly modelId: string;
}

interface Worker {
  state: WorkerStatus;
  gpuPercent: number;
  /** Step of the worker's last change: its last_heartbeat is that step's wall time. */
  changedAtStep: number;
}

/**
 * N fake workers on one hive, for demos and load tests: a SnapshotProvider (`() => sim.snapshot()`) whose state
 * moves over time. Deterministic: the state at a given clock time depends only on the options and the time elapsed
 * since construction, not on how often `snapshot()` is called.
 *
 * Every worker: CUDA, HEALTHY, one model (round robin), on device floor(i / 2) (two workers per 80 GiB GPU), idle
 * most of the time with BUSY spells, gpu_percent on a random walk in 0-100 (higher while busy). Changes come in
 * steps of `stepMs` and not every step has one, so an agent sends a snapshot on change and ticks in between.
 * `changeProbability: 0` keeps them steady instead. This class only reports state; the answering is
 * SimulatedInference's (simulated-inference.ts), whose URLs come in through `urlOf`.
 */
export class SimulatedWorkers {
  private readonly rng: () => number;
  private readonly workers: Worker[];
  private readonly startMs: number;
  private readonly startWallMs: number;
  private readonly stepMs: number;
  private readonly changeProbability: number;
  private readonly models: readonly string[];
  private readonly urlOf: (workerId: string) => string;
  private readonly maxConcurrency: number;
  private step = 0;

  constructor(private readonly options: SimulatedWorkersOptions) {
    const { hiveId, count } = options;
    if (!Number.isInteger(count) || count < 1 || count > MAX_SIMULATED_WORKERS) {
      throw new RangeError(`count: must be an integer from 1 to ${MAX_SIMULATED_WORKERS}, got ${count}`);
    }
    const longestId = `${hiveId}-w${count - 1}`;
    if (longestId.length > 128) {
      throw new RangeError(`hiveId: worker ids like "${longestId}" would exceed 128 characters`);
    }
    this.models = options.models ?? DEFAULT_SIMULATED_MODELS;
    if (this.models.length === 0) throw new RangeError('models: must name at least one model');
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
    this.rng = seededRandom(options.seed ?? fnv1a(hiveId));
    this.startMs = options.clock.now();
    this.startWallMs = options.clock.wallNow();
    this.workers = Array.from({ length: count }, () => ({
      state: WorkerStatus.IDLE,
      gpuPercent: Math.floor(this.rng() * 20),
      changedAtStep: 0,
    }));
  }

  /** The worker ids, in order. */
  get workerIds(): string[] {
    return this.workers.map((_, i) => this.workerId(i));
  }

  /** Every worker with its model, in order (the model never changes). */
  get workerModels(): SimulatedWorkerModel[] {
    return this.workers.map((_, i) => ({ workerId: this.workerId(i), modelId: this.modelOf(i) }));
  }

  /** The hive's state at `clock.now()`: every worker and device, and the hive's RAM. */
  snapshot(): HiveSnapshot {
    const due = Math.floor((this.options.clock.now() - this.startMs) / this.stepMs);
    while (this.step < due) this.advance();
    const workers = this.workers.map((w, i): WorkerInit => {
      const modelId = this.modelOf(i);
      const workerId = this.workerId(i);
      return {
        workerId,
        state: w.state,
        url: this.urlOf(workerId),
        modelId,
        backend: Backend.CUDA,
        deviceId: Math.floor(i / 2),
        vramBytes: MODEL_VRAM_BYTES[modelId] ?? DEFAULT_MODEL_VRAM_BYTES,
        ramBytes: WORKER_RAM_BYTES,
        gpuPercent: w.gpuPercent,
        health: HealthStatus.HEALTHY,
        lastHeartbeat: timestampFromMs(this.startWallMs + w.changedAtStep * this.stepMs),
        maxConcurrency: this.maxConcurrency,
      };
    });
    const devices = Array.from(
      { length: Math.ceil(this.workers.length / 2) },
      (_, deviceId): DeviceInit => ({ deviceId, backend: Backend.CUDA, name: DEVICE_NAME, vramTotalBytes: DEVICE_VRAM_BYTES }),
    );
    return { workers, devices, ramTotalBytes: HIVE_RAM_BYTES };
  }

  private workerId(index: number): string {
    return `${this.options.hiveId}-w${index}`;
  }

  private modelOf(index: number): string {
    return this.models[index % this.models.length] ?? '';
  }

  /** One step: most steps change nothing; the others move one or two workers. */
  private advance(): void {
    this.step += 1;
    if (this.rng() >= this.changeProbability) return;
    const moves = this.workers.length > 1 && this.rng() < 0.5 ? 2 : 1;
    for (let m = 0; m < moves; m++) {
      const worker = this.workers[Math.floor(this.rng() * this.workers.length)];
      if (worker === undefined) continue;
      if (worker.state === WorkerStatus.IDLE && this.rng() < START_BUSY) worker.state = WorkerStatus.BUSY;
      else if (worker.state === WorkerStatus.BUSY && this.rng() < END_BUSY) worker.state = WorkerStatus.IDLE;
      // A step of up to +-15 points, drifting up while busy and down while idle; whole points keep it readable.
      const drift = worker.state === WorkerStatus.BUSY ? 8 : -4;
      const next = worker.gpuPercent + drift + Math.round((this.rng() * 2 - 1) * 15);
      worker.gpuPercent = Math.min(100, Math.max(0, next));
      worker.changedAtStep = this.step;
    }
  }
}
