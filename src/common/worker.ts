/**
 * The domain's picture of hives' workers and devices. Plain readonly data: never protobuf messages (src/server
 * converts at the boundary) and never mutated once built, so reads can hand them out without copying.
 */

/** What a worker is doing. 'unspecified' is accepted from hives; such a worker is never idle. */
export type WorkerStatus = 'unspecified' | 'idle' | 'busy' | 'loading' | 'error' | 'stopping';

/** The compute backend a worker runs on. */
export type Backend = 'unspecified' | 'cpu' | 'cuda' | 'metal' | 'rocm';

/** A worker's own health report. 'unspecified' counts as healthy; 'degraded' is never scheduled. */
export type Health = 'unspecified' | 'healthy' | 'degraded';

/** A wall-clock instant as the wire carries it (google.protobuf.Timestamp), kept exactly. */
export interface WallTime {
  /** Seconds since the Unix epoch, within Timestamp's range (years 1 to 9999). */
  readonly seconds: number;
  /** 0 to 999,999,999. */
  readonly nanos: number;
}

/** One inference process, as its hive reported it in its last accepted snapshot. */
export interface Worker {
  /** Unique across the fleet (among online hives). */
  readonly workerId: string;
  readonly state: WorkerStatus;
  /** Absolute http(s) URL for direct inference. */
  readonly url: string;
  readonly modelId?: string;
  readonly backend: Backend;
  /** GPU index on its hive. */
  readonly deviceId?: number;
  readonly vramBytes?: number;
  readonly ramBytes?: number;
  /** 0-100. */
  readonly cpuPercent?: number;
  /** 0-100; absent counts as 100 when scheduling. */
  readonly gpuPercent?: number;
  readonly health: Health;
  /** When the worker last reported to its hive (informational). */
  readonly lastHeartbeat?: WallTime;
  /** Requests it takes at once (reservation slots), 1 to MAX_CONCURRENCY; absent means 1. */
  readonly maxConcurrency?: number;
  /** Requests the engine is running now, by its own count: 0 to MAX_ENGINE_REQUESTS. */
  readonly requestsRunning?: number;
  /** Requests queued inside the engine: 0 to MAX_ENGINE_REQUESTS. */
  readonly requestsWaiting?: number;
  /** Fraction of the engine's KV cache in use: 0 to 1. */
  readonly kvCacheUsage?: number;
  /**
   * The inference engine behind the worker: one of KNOWN_ENGINES or any other 1 to MAX_ENGINE_LENGTH characters of
   * `[a-z0-9.-]`.
   */
  readonly engine?: string;
  /** The engine's version as it reports it, at most MAX_ENGINE_VERSION_LENGTH characters. */
  readonly engineVersion?: string;
  /** Longest context the loaded model takes, in tokens (vLLM max_model_len, llama.cpp n_ctx, ...). */
  readonly contextLength?: number;
  /** Why the worker is in its state, for people ("connection refused"), at most MAX_STATUS_MESSAGE_LENGTH characters. */
  readonly statusMessage?: string;
}

/** Most requests one worker may take at once, as reported by its hive. */
export const MAX_CONCURRENCY = 4096;

/** Most requests an engine may report running, or waiting, at once. */
export const MAX_ENGINE_REQUESTS = 1_000_000;
/** Longest engine name, in characters. */
export const MAX_ENGINE_LENGTH = 32;
/** Longest engine version, in characters. */
export const MAX_ENGINE_VERSION_LENGTH = 64;
/** Longest status message, in characters. */
export const MAX_STATUS_MESSAGE_LENGTH = 256;

/** The engines the agent knows by name. Hives may report others: these are only the ones metrics count by name. */
export const KNOWN_ENGINES = ['vllm', 'llama.cpp', 'ollama', 'sglang', 'tgi', 'simulated'] as const;
export type KnownEngine = (typeof KNOWN_ENGINES)[number];
/** An engine as fleet-wide figures count it: a known one, `other` for any other name, `none` when not reported. */
export type EngineLabel = KnownEngine | 'other' | 'none';
export const ENGINE_LABELS: readonly EngineLabel[] = [...KNOWN_ENGINES, 'other', 'none'];

const KNOWN_ENGINE_SET: ReadonlySet<string> = new Set(KNOWN_ENGINES);

/** The label of a worker's engine in fleet-wide figures: a closed set, whatever names hives send. */
export function engineLabel(engine: string | undefined): EngineLabel {
  if (engine === undefined) return 'none';
  return KNOWN_ENGINE_SET.has(engine) ? (engine as KnownEngine) : 'other';
}

/** A worker's reservation slots: its reported concurrency, 1 when it reports none. */
export function slotsOf(worker: Worker): number {
  return worker.maxConcurrency ?? 1;
}

/** Capacity of one accelerator of a hive. */
export interface Device {
  readonly deviceId: number;
  readonly backend: Backend;
  readonly name: string;
  readonly vramTotalBytes: number;
}

/** A worker together with its hive, as lookups return it. */
export interface WorkerEntry {
  readonly hiveId: string;
  readonly worker: Worker;
  /** Whether the hive is online at the time of the read. */
  readonly hiveOnline: boolean;
  /**
   * The queen that owns the hive (holds its heartbeat stream), when a queen's answer names it (`queen_id`). The
   * registry sets it only for a hive another queen of a federation owns; its own hives' entries leave it out, and
   * the queen names itself on the wire.
   */
  readonly queenId?: string;
}
