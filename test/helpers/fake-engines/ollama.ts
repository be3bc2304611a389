import { json, text, type Answer, type FakeState } from './common';

/**
 * Ollama: `/` ("Ollama is running"), /api/version, /api/ps (the loaded models, with size_vram and
 * context_length), /v1/models (its OpenAI side, owned_by "library"). No /metrics.
 */
export function ollamaRoutes(state: FakeState, path: string): Answer | undefined {
  switch (path) {
    case '/':
      return state.healthStatus === 200 ? text('Ollama is running') : text('', state.healthStatus);
    case '/api/version':
      return json({ version: state.version });
    case '/api/ps':
      return json({ models: [...state.ollamaModels].map(([name, model]) => psEntry(name, model)) });
    case '/v1/models':
      return json({
        object: 'list',
        data: [...state.ollamaModels.keys()].map((id) => ({ id, object: 'model', created: 1_717_000_000, owned_by: 'library' })),
      });
    default:
      return undefined;
  }
}

function psEntry(name: string, model: { sizeVram: number; contextLength?: number }): object {
  return {
    name,
    model: name,
    size: model.sizeVram + 1_048_576,
    digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
    details: { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '3.2B', quantization_level: 'Q4_K_M' },
    expires_at: '2030-01-01T00:05:00.000000000Z',
    size_vram: model.sizeVram,
    ...(model.contextLength === undefined ? {} : { context_length: model.contextLength }),
  };
}
