import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Backend, HealthStatus, WorkerStatus } from '../../../gen/hive/v1/registry_pb.js';
import { MAX_ENGINE_REQUESTS, MAX_ENGINE_VERSION_LENGTH, MAX_STATUS_MESSAGE_LENGTH } from '../../common/worker.js';
import { checkModelId, MAX_ID_LENGTH } from '../../registry/ids.js';
import type { WorkerInit } from '../hive-snapshot.js';
import type { EngineKind, EngineReading, EngineWorkerReading } from './engine.js';
import { baseWorkerId, type EngineSpec } from './engine-spec.js';
import type { EngineGpuUsage } from './gpu.js';

/** Requests an engine takes at once when neither the SPEC nor the engine says (vLLM's and SGLang's 256 are the contract's). */
export const DEFAULT_MAX_CONCURRENCY: Readonly<Record<EngineKind, number>> = {
  vllm: 256,
  sglang: 256,
  // TGI's own default for --max-concurrent-requests.
  tgi: 128,
  ollama: 1,
  // llama-server's slots when /props does not answer: one request at a time is the safe guess.
  'llama.cpp': 1,
};

const MAX_UINT32 = 4_294_967_295;

/**
 * What the poller knows of one engine at one moment, as the composition below needs it. The poller keeps it;
 * everything here is plain data, so the rules are tested without sockets.
 */
export interface EngineView {
  readonly spec: EngineSpec;
  readonly hiveId: string;
  /** The URL reported to the queen (the advertised one). */
  readonly url: string;
  /** The kind, detected or given; undefined while not recognised. */
  readonly kind?: EngineKind;
  /** The last successful reading; kept while the engine fails, for the ids and models of its workers. */
  readonly reading?: EngineReading;
  /** Why the last poll failed (unreachable, not recognised, garbage); undefined when it succeeded. */
  readonly failure?: string;
  /** Whether the engine's health answered `ok` since it was last unreachable (a 503 then means DEGRADED, not LOADING). */
  readonly servedSinceReachable: boolean;
  /** The GPU mapping through the engine's processes, when one was found. */
  readonly gpu?: EngineGpuUsage;
  /** The SPEC's `device=` GPU as GPU stats list it. */
  readonly deviceGpu?: { readonly gpuPercent?: number; readonly backend: 'cuda' | 'rocm' };
  /** Wall ms of the poll the view comes from. */
  readonly readAtMs: number;
}

/** The id of an engine's worker: `id=`, else `<hive-id>-<port>`; Ollama's get `-<model>` (outside [A-Za-z0-9._-] as `-`). */
export function workerIdOf(view: Pick<EngineView, 'spec' | 'hiveId'>, key?: string): string {
  const base = baseWorkerId(view.spec, view.hiveId);
  const id = key === undefined ? base : `${base}-${key.replace(/[^A-Za-z0-9._-]/g, '-')}`;
  return id.slice(0, MAX_ID_LENGTH);
}

/** Cuts `text` to `max` code points (never half a surrogate pair). */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  return Array.from(text).slice(0, max).join('');
}

/**
 * The hive.v1 workers of one engine, by the contract's state and health rules:
 * - failing (unreachable, not recognised, garbage): every worker it last had (or its one worker) in ERROR,
 *   DEGRADED, with the reason; its model and engine figures stay, its load figures go.
 * - loading (llama.cpp's "Loading model", a SGLang or TGI 503 before its first success since it was unreachable):
 *   LOADING.
 * - serving: IDLE while requests_running < max_concurrency, else BUSY; HEALTHY when its health endpoint answers
 *   200, DEGRADED otherwise.
 */
export function engineWorkers(view: EngineView): WorkerInit[] {
  const reading = view.reading;
  if (view.failure !== undefined) {
    const known = reading?.workers.length ? reading.workers : [{}];
    return known.map((w) =>
      worker(view, w, {
        state: WorkerStatus.ERROR,
        health: HealthStatus.DEGRADED,
        statusMessage: view.failure,
        withLoad: false,
      }),
    );
  }
  if (reading === undefined) {
    // Not polled yet: nothing to report until the first answer (or failure).
    return [];
  }
  const health = reading.health;
  const loading = health.status === 'loading' || (health.status === 'not-ready' && !view.servedSinceReachable);
  if (loading) {
    const message = health.message;
    const known = reading.workers.length > 0 ? reading.workers : [{}];
    return known.map((w) =>
      worker(view, w, { state: WorkerStatus.LOADING, health: HealthStatus.UNSPECIFIED, statusMessage: message, withLoad: false }),
    );
  }
  const healthy = health.status === 'ok';
  const statusMessage = health.status === 'ok' ? reading.note : health.message;
  if (reading.workers.length === 0) {
    // An Ollama with no model loaded: the engine is there and takes requests (it loads on demand).
    return [
      worker(view, {}, {
        state: WorkerStatus.IDLE,
        health: healthy ? HealthStatus.HEALTHY : HealthStatus.DEGRADED,
        statusMessage: statusMessage ?? 'no model loaded',
        withLoad: true,
      }),
    ];
  }
  return reading.workers.map((w) => {
    const slots = maxConcurrencyOf(view, w);
    const running = w.requestsRunning ?? 0;
    return worker(view, w, {
      state: running < slots ? WorkerStatus.IDLE : WorkerStatus.BUSY,
      health: healthy ? HealthStatus.HEALTHY : HealthStatus.DEGRADED,
      statusMessage,
      withLoad: true,
    });
  });
}

function maxConcurrencyOf(view: EngineView, w: EngineWorkerReading): number {
  const kind = view.kind ?? view.reading?.kind;
  return view.spec.maxConcurrency ?? w.maxConcurrency ?? (kind === undefined ? 1 : DEFAULT_MAX_CONCURRENCY[kind]);
}

interface Verdict {
  readonly state: WorkerStatus;
  readonly health: HealthStatus;
  readonly statusMessage: string | undefined;
  /** Whether the reading's load figures (running, waiting, KV) are current. */
  readonly withLoad: boolean;
}

function worker(view: EngineView, w: EngineWorkerReading, verdict: Verdict): WorkerInit {
  const kind = view.kind ?? view.reading?.kind;
  let statusMessage = verdict.statusMessage;
  let modelId = w.modelId;
  if (modelId !== undefined && checkModelId('model_id', modelId) !== undefined) {
    // The queen would refuse the whole hive's payload: report the worker without its model, and say why.
    statusMessage = `the engine's model id ${JSON.stringify(cut(modelId, 64))} is not a valid model id (1-256 characters, no whitespace)`;
    modelId = undefined;
  }
  const init: WorkerInit = {
    workerId: workerIdOf(view, w.key),
    state: verdict.state,
    url: view.url,
    health: verdict.health,
    lastHeartbeat: timestampFromMs(view.readAtMs),
    maxConcurrency: maxConcurrencyOf(view, w),
    ...gpuFields(view, w),
  };
  if (modelId !== undefined) init.modelId = modelId;
  if (kind !== undefined) init.engine = kind;
  if (view.reading?.version !== undefined) init.engineVersion = cut(view.reading.version, MAX_ENGINE_VERSION_LENGTH);
  if (w.contextLength !== undefined) init.contextLength = Math.min(w.contextLength, MAX_UINT32);
  if (statusMessage !== undefined) init.statusMessage = cut(statusMessage, MAX_STATUS_MESSAGE_LENGTH);
  // The queen's limits: the agent cuts to them rather than have the whole hive's payload rejected.
  if (verdict.withLoad) {
    if (w.requestsRunning !== undefined) init.requestsRunning = Math.min(w.requestsRunning, MAX_ENGINE_REQUESTS);
    if (w.requestsWaiting !== undefined) init.requestsWaiting = Math.min(w.requestsWaiting, MAX_ENGINE_REQUESTS);
    if (w.kvCacheUsage !== undefined) init.kvCacheUsage = w.kvCacheUsage;
  }
  return init;
}

/** The wire's Backend for a domain backend name. */
export const BACKEND_OF = { cpu: Backend.CPU, cuda: Backend.CUDA, metal: Backend.METAL, rocm: Backend.ROCM } as const;

/**
 * device_id, vram_bytes, gpu_percent and backend, by the contract's GPU rules: the SPEC's `device=` and
 * `backend=` over the process mapping, Ollama's size_vram where the mapping cannot tell one model from another.
 */
function gpuFields(view: EngineView, w: EngineWorkerReading): Pick<WorkerInit, 'deviceId' | 'vramBytes' | 'gpuPercent' | 'backend'> {
  const fields: Pick<WorkerInit, 'deviceId' | 'vramBytes' | 'gpuPercent' | 'backend'> = {};
  const gpu = view.gpu;
  if (view.spec.device !== undefined) {
    fields.deviceId = view.spec.device;
    if (view.deviceGpu?.gpuPercent !== undefined) fields.gpuPercent = view.deviceGpu.gpuPercent;
  } else if (gpu !== undefined) {
    fields.deviceId = gpu.deviceId;
    if (gpu.gpuPercent !== undefined) fields.gpuPercent = gpu.gpuPercent;
  }
  // The mapping sums every process of the engine: with several Ollama models loaded that is the whole server
  // for each of them, so each model's own size_vram is the truer figure there.
  const severalModels = (view.reading?.workers.length ?? 0) > 1;
  const vram = severalModels && w.vramBytes !== undefined ? w.vramBytes : (gpu?.vramBytes ?? w.vramBytes);
  if (vram !== undefined) fields.vramBytes = BigInt(Math.round(vram));
  const backend = view.spec.backend ?? (view.spec.device !== undefined ? view.deviceGpu?.backend : undefined) ?? gpu?.backend;
  fields.backend = backend === undefined ? Backend.UNSPECIFIED : BACKEND_OF[backend];
  return fields;
}
