import { family, json, PROMETHEUS_TYPE, text, total, type Answer, type FakeState } from './common';

/**
 * llama.cpp's llama-server: /health ({"status":"ok"}), /v1/models (owned_by "llamacpp"), /props, /slots (one
 * entry per slot, `is_processing`), /metrics only with --metrics (else 501). While it loads its model, every
 * endpoint answers 503 "Loading model".
 */
export function llamaCppRoutes(state: FakeState, path: string): Answer | undefined {
  if (state.loading && path !== '/') return LOADING;
  switch (path) {
    case '/health':
      return state.healthStatus === 200 ? json({ status: 'ok' }) : error(state.healthStatus, 'Server error', 'server_error');
    case '/v1/models':
      return json({ object: 'list', data: [{ id: state.model, object: 'model', created: 1_735_142_223, owned_by: 'llamacpp', meta }] });
    case '/props':
      return json({
        default_generation_settings: { ...slot(state, 0), params: { temperature: 0.8, top_k: 40, n_predict: -1 } },
        total_slots: slots(state),
        model_path: `/models/${state.model}.gguf`,
        chat_template: '{{ messages }}',
        modalities: { vision: false, audio: false },
        build_info: state.version,
      });
    case '/slots':
      return json(Array.from({ length: slots(state) }, (_, id) => slot(state, id)));
    case '/metrics':
      return state.options.metrics === false
        ? error(501, 'This server does not support metrics endpoint. Start it with `--metrics`', 'not_supported_error')
        : text(metrics(state), 200, PROMETHEUS_TYPE);
    default:
      return undefined;
  }
}

const meta = { vocab_type: 2, n_vocab: 128_256, n_ctx_train: 131_072, n_embd: 4096, n_params: 8_030_261_312, size: 4_912_898_304 };

function error(code: number, message: string, type: string): Answer {
  return json({ error: { code, message, type } }, code);
}

const LOADING = error(503, 'Loading model', 'unavailable_error');

function slots(state: FakeState): number {
  return state.options.maxConcurrency ?? 4;
}

/** Slot `id`: the first `running` slots are busy. */
function slot(state: FakeState, id: number): object {
  return {
    id,
    id_task: id < total(state.running) ? 100 + id : -1,
    n_ctx: state.options.contextLength ?? 8192,
    speculative: false,
    is_processing: id < total(state.running),
  };
}

function metrics(state: FakeState): string {
  return [
    family('llamacpp:prompt_tokens_total', 'counter', 'Number of prompt tokens processed.', [{ value: 512 }]),
    family('llamacpp:tokens_predicted_total', 'counter', 'Number of generation tokens processed.', [{ value: 2048 }]),
    family('llamacpp:predicted_tokens_seconds', 'gauge', 'Average generation throughput in tokens/s.', [{ value: 41.5 }]),
    family('llamacpp:requests_processing', 'gauge', 'Number of requests processing.', [{ value: total(state.running) }]),
    family('llamacpp:requests_deferred', 'gauge', 'Number of requests deferred.', [{ value: total(state.waiting) }]),
  ].join('');
}
