// Adapters against answers the fake engines do not give: odd shapes of the model lists, checked on a stub
// EngineHttp that answers from a table.
import { adapterFor } from '../../src/agent/engines/adapters';
import { EngineError, type EngineHttp, type EngineKind, type EngineReading } from '../../src/agent/engines/engine';

/** Answers `answers[path]` (JSON-encoded, 200), 404 elsewhere. */
function stub(answers: Readonly<Record<string, unknown>>): EngineHttp {
  return {
    baseUrl: 'http://stub',
    get: (path) =>
      Promise.resolve(
        path in answers ? { status: 200, body: JSON.stringify(answers[path]), contentType: 'application/json' } : { status: 404, body: '' },
      ),
  };
}

async function pollError(kind: EngineKind, answers: Readonly<Record<string, unknown>>): Promise<EngineError> {
  const outcome = await adapterFor(kind).poll(stub(answers)).catch((error: unknown) => error);
  if (outcome instanceof EngineError) return outcome;
  throw new Error(`expected an EngineError, got ${JSON.stringify(outcome)}`);
}

const HEALTHY = { '/health': {}, '/': 'Ollama is running' };

describe('vLLM model lists', () => {
  test.each<[string, unknown, string]>([
    ['an empty list', { data: [] }, 'GET /v1/models: no model listed'],
    ['only LoRA adapters', { data: [{ id: 'a', parent: 'x' }] }, 'GET /v1/models: every model has a parent'],
    ['an entry without id', { data: [{ object: 'model', parent: null }] }, 'GET /v1/models: no id'],
    ['an empty id', { data: [{ id: '' }] }, 'GET /v1/models: no id'],
    ['an array', [{ id: 'm' }], 'GET /v1/models: not a JSON object'],
  ])('%s: bad-answer', async (_name, models, message) => {
    expect(await pollError('vllm', { ...HEALTHY, '/v1/models': models })).toMatchObject({ reason: 'bad-answer', message });
  });

  test('an answer without /metrics and /version: the model alone, both failures noted', async () => {
    const reading = await adapterFor('vllm').poll(stub({ ...HEALTHY, '/v1/models': { data: [{ id: 'm', max_model_len: 'long' }] } }));
    expect(reading).toEqual<EngineReading>({
      kind: 'vllm',
      health: { status: 'ok' },
      workers: [{ modelId: 'm' }],
      note: 'GET /v1/models: max_model_len is not a positive integer ("long"); GET /version: 404; GET /metrics: 404',
    });
  });
});

describe('Ollama /api/ps', () => {
  test('models null: no workers', async () => {
    const reading = await adapterFor('ollama').poll(stub({ ...HEALTHY, '/api/ps': { models: null }, '/api/version': { version: '0.5.1' } }));
    expect(reading.workers).toEqual([]);
  });

  test('a model listed twice counts once; a negative size_vram is left out with a note', async () => {
    const models = [
      { name: 'a', size_vram: -5 },
      { name: 'a', size_vram: 7 },
    ];
    const reading = await adapterFor('ollama').poll(stub({ ...HEALTHY, '/api/ps': { models }, '/api/version': { version: '0.5.1' } }));
    expect(reading.workers).toEqual([{ key: 'a', modelId: 'a' }]);
    expect(reading.note).toBe('GET /api/ps: a: size_vram is not a count (-5)');
  });

  test('a model without a name: bad-answer naming it', async () => {
    expect(await pollError('ollama', { ...HEALTHY, '/api/ps': { models: [{ name: 'a' }, { model: 'b' }] } })).toMatchObject({
      reason: 'bad-answer',
      message: 'GET /api/ps: models[1] has no name',
    });
  });
});

describe('health read from answers', () => {
  test('llama.cpp: a 503 that is not "Loading model" is failing', async () => {
    const http: EngineHttp = {
      baseUrl: 'http://stub',
      get: (path) =>
        Promise.resolve(
          path === '/health'
            ? { status: 503, body: '{"error":{"code":503,"message":"no slot available","type":"unavailable_error"}}' }
            : path === '/v1/models'
              ? { status: 200, body: '{"data":[{"id":"m","owned_by":"llamacpp"}]}' }
              : { status: 404, body: '' },
        ),
    };
    const reading = await adapterFor('llama.cpp').poll(http);
    expect(reading.health).toEqual({ status: 'failing', message: 'GET /health: 503' });
    expect(reading.workers).toEqual([{ modelId: 'm' }]);
  });
});
