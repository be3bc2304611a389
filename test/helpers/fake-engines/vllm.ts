import { family, histogram, json, PROMETHEUS_TYPE, text, type Answer, type FakeState } from './common';

/**
 * vLLM's OpenAI server (`vllm serve`): /health (200, empty), /version, /v1/models (the model, then LoRA adapters
 * with `parent`), /metrics (V1 engine: every series labelled `engine` and `model_name`; floats as Python writes
 * them).
 */
export function vllmRoutes(state: FakeState, path: string): Answer | undefined {
  switch (path) {
    case '/health':
      return text('', state.healthStatus !== 200 ? state.healthStatus : state.loading ? 503 : 200);
    case '/version':
      return json({ version: state.version });
    case '/v1/models':
      return json({ object: 'list', data: modelList(state) });
    case '/metrics':
      return text(metrics(state), 200, PROMETHEUS_TYPE);
    default:
      return undefined;
  }
}

const CREATED = 1_732_268_408;

function modelList(state: FakeState): object[] {
  const card = (id: string, parent: string | null): object => ({
    id,
    object: 'model',
    created: CREATED,
    owned_by: 'vllm',
    root: parent === null ? id : `/adapters/${id}`,
    parent,
    max_model_len: parent === null ? (state.options.contextLength ?? 32_768) : null,
    permission: [{ id: `modelperm-${id}`, object: 'model_permission', created: CREATED, allow_sampling: true, allow_view: true }],
  });
  const loras = (state.options.loras ?? []).map((id) => card(id, state.model));
  const base = card(state.model, null);
  return state.options.lorasFirst === true ? [...loras, base] : [base, ...loras];
}

function metrics(state: FakeState): string {
  const labels = (engine: number): Record<string, string> => ({ engine: String(engine), model_name: state.model });
  const perCore = (values: readonly number[]): { labels: Record<string, string>; value: number }[] =>
    values.map((value, engine) => ({ labels: labels(engine), value }));
  const kvName = state.options.oldKvName === true ? 'vllm:gpu_cache_usage_perc' : 'vllm:kv_cache_usage_perc';
  return [
    family('python_gc_objects_collected_total', 'counter', 'Objects collected during gc', [{ labels: { generation: '0' }, value: 1234 }], true),
    family('vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.', perCore(state.running), true),
    family('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', perCore(state.waiting), true),
    family(kvName, 'gauge', 'KV-cache usage. 1 means 100 percent usage.', perCore(state.kvCacheUsage), true),
    family('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.', perCore(state.running.map(() => 42)), true),
    histogram('vllm:e2e_request_latency_seconds', labels(0), true),
  ].join('');
}
