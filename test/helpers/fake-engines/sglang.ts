import { family, histogram, json, PROMETHEUS_TYPE, text, total, type Answer, type FakeState } from './common';

/**
 * SGLang: /health (200 empty; 503 until it serves), /get_model_info, /get_server_info (its server arguments
 * flattened, `version`), /v1/models (owned_by "sglang"), /metrics (with --enable-metrics; series labelled with
 * model_name and ranks).
 */
export function sglangRoutes(state: FakeState, path: string): Answer | undefined {
  switch (path) {
    case '/health':
      return text('', state.healthStatus !== 200 ? state.healthStatus : state.loading ? 503 : 200);
    case '/get_model_info':
      return json({
        model_path: state.model,
        tokenizer_path: state.model,
        is_generation: true,
        preferred_sampling_params: null,
        weight_version: 'default',
        ...(state.options.contextLength === undefined ? {} : { max_context_length: state.options.contextLength }),
      });
    case '/get_server_info':
      return json({
        model_path: state.model,
        host: '127.0.0.1',
        port: 30000,
        context_length: null,
        max_running_requests: state.options.maxConcurrency ?? null,
        max_total_num_tokens: 717_868,
        max_req_input_len: 32_762,
        internal_states: [{ last_gen_throughput: 0, memory_usage: { weight: 0.9 } }],
        version: state.version,
      });
    case '/v1/models':
      return json({ object: 'list', data: [{ id: state.model, object: 'model', created: 1_740_000_000, owned_by: 'sglang', root: state.model }] });
    case '/metrics':
      return text(metrics(state), 200, PROMETHEUS_TYPE);
    default:
      return undefined;
  }
}

function metrics(state: FakeState): string {
  const labels = { engine_type: 'unified', model_name: state.model, pp_rank: '0', tp_rank: '0' };
  return [
    family('sglang:num_running_reqs', 'gauge', 'The number of running requests.', [{ labels, value: total(state.running) }], true),
    family('sglang:num_queue_reqs', 'gauge', 'The number of requests in the waiting queue.', [{ labels, value: total(state.waiting) }], true),
    family('sglang:token_usage', 'gauge', 'The token usage.', [{ labels, value: state.kvCacheUsage[0] ?? 0 }], true),
    histogram('sglang:e2e_request_latency_seconds', { model_name: state.model }, true),
  ].join('');
}
