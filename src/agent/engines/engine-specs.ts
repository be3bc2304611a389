import { getOptionalJson, isRecord, type Notes } from './engine-answers.js';
import type { EngineHttp } from './engine.js';
import type { LoadFigures } from './load-metrics.js';
import type { SingleWorkerSpec } from './single-worker-adapter.js';

/**
 * The single-worker engines as the contract's table reads them (endpoints and names from the engines' own docs
 * and sources). Their Prometheus names are in load-metrics.ts, their health endpoints in engine-health.ts.
 */

/** vLLM's OpenAI server: `/v1/models` lists the served model (then its LoRA adapters, which have `parent`). */
export const VLLM_SPEC: SingleWorkerSpec = {
  kind: 'vllm',
  detect: { path: '/v1/models', field: ['data', 0, 'owned_by'], equals: 'vllm' },
  model: { path: '/v1/models', list: { key: 'data', skipWith: 'parent' }, id: 'id', figures: { contextLength: ['max_model_len'] } },
  extras: [{ path: '/version', figures: { version: ['version'] } }],
};

/** llama.cpp's llama-server: one model; `/props` has its slots, build and per-slot context. */
export const LLAMA_CPP_SPEC: SingleWorkerSpec = {
  kind: 'llama.cpp',
  detect: { path: '/v1/models', field: ['data', 0, 'owned_by'], equals: 'llamacpp' },
  model: { path: '/v1/models', list: { key: 'data' }, id: 'id', figures: {} },
  extras: [
    {
      path: '/props',
      figures: {
        version: ['build_info'],
        maxConcurrency: ['total_slots'],
        contextLength: ['default_generation_settings', 'n_ctx'],
      },
    },
  ],
  fallbackLoad: runningFromSlots,
};

/** SGLang: its native endpoints (its `/v1/models` exists too, but says less). */
export const SGLANG_SPEC: SingleWorkerSpec = {
  kind: 'sglang',
  detect: { path: '/get_model_info', field: ['model_path'] },
  model: { path: '/get_model_info', id: 'model_path', figures: { contextLength: ['max_context_length'] } },
  // Its server arguments, flattened: max_running_requests is null unless set on the command line.
  extras: [{ path: '/get_server_info', figures: { version: ['version'], maxConcurrency: ['max_running_requests'] } }],
};

/** Hugging Face text-generation-inference: `/info` says everything. */
export const TGI_SPEC: SingleWorkerSpec = {
  kind: 'tgi',
  detect: { path: '/info', field: ['model_id'] },
  model: {
    path: '/info',
    id: 'model_id',
    figures: { version: ['version'], maxConcurrency: ['max_concurrent_requests'], contextLength: ['max_total_tokens'] },
  },
  extras: [],
};

/**
 * llama.cpp started without `--metrics` answers 501 on `/metrics`; `/slots` (on by default) still shows which
 * slots are busy: running = their count. Nothing there tells the requests waiting for a slot.
 */
export async function runningFromSlots(http: EngineHttp, notes: Notes): Promise<LoadFigures | undefined> {
  const slots = await getOptionalJson(http, '/slots', notes);
  if (slots === undefined) return undefined;
  if (!Array.isArray(slots) || !slots.every((slot) => isRecord(slot) && typeof slot['is_processing'] === 'boolean')) {
    notes.add('GET /slots: not a list of slots with is_processing');
    return undefined;
  }
  return { requestsRunning: slots.filter((slot: Readonly<Record<string, unknown>>) => slot['is_processing'] === true).length };
}
