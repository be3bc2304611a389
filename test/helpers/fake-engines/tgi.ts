import { family, histogram, json, PROMETHEUS_TYPE, text, total, type Answer, type FakeState } from './common';

/**
 * Hugging Face text-generation-inference: /health (200 empty; 503 until ready), /info, /metrics (Rust's
 * exporter: TYPE lines, no HELP, no labels on the queue gauges).
 */
export function tgiRoutes(state: FakeState, path: string): Answer | undefined {
  switch (path) {
    case '/health':
      return text('', state.healthStatus !== 200 ? state.healthStatus : state.loading ? 503 : 200);
    case '/info':
      return json({
        model_id: state.model,
        model_sha: 'e985a63cdc139290c5f700ff1929f0b5942cced2',
        model_pipeline_tag: 'text-generation',
        max_concurrent_requests: state.options.maxConcurrency ?? 128,
        max_best_of: 2,
        max_stop_sequences: 4,
        max_input_tokens: 4095,
        max_total_tokens: state.options.contextLength ?? 4096,
        validation_workers: 2,
        max_client_batch_size: 4,
        router: 'text-generation-router',
        version: state.version,
        sha: 'null',
        docker_label: 'null',
      });
    case '/metrics':
      return text(metrics(state), 200, PROMETHEUS_TYPE);
    default:
      return undefined;
  }
}

function metrics(state: FakeState): string {
  return [
    family('tgi_batch_current_size', 'gauge', undefined, [{ value: total(state.running) }]),
    family('tgi_queue_size', 'gauge', undefined, [{ value: total(state.waiting) }]),
    histogram('tgi_request_duration', {}),
  ].join('');
}
