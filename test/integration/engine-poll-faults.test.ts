// Polls of engines that are loading, unwell, unreachable or answering garbage: each ends in a reading or an
// EngineError with a clear message, within the poll timeout; nothing crashes.
import { adapterFor } from '../../src/agent/engines/adapters';
import { EngineError, type EngineKind, type EngineReading } from '../../src/agent/engines/engine';
import { EngineHttpClient } from '../../src/agent/engines/engine-http';
import { FakeEngine, type FakeEngineOptions } from '../helpers/fake-engines';

const engines: FakeEngine[] = [];
const TIMEOUT_MS = 300;

async function start(kind: EngineKind, options: FakeEngineOptions = {}): Promise<FakeEngine> {
  const engine = await FakeEngine.start(kind, options);
  engines.push(engine);
  return engine;
}

async function poll(engine: FakeEngine): Promise<EngineReading> {
  const client = new EngineHttpClient(engine.url, { pollTimeoutMs: TIMEOUT_MS });
  try {
    return await adapterFor(engine.kind).poll(client.forPoll());
  } finally {
    client.close();
  }
}

async function pollError(engine: FakeEngine): Promise<EngineError> {
  const outcome = await poll(engine).catch((error: unknown) => error);
  if (outcome instanceof EngineError) return outcome;
  throw new Error(`expected an EngineError, got ${JSON.stringify(outcome)}`);
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

describe('health', () => {
  test('llama.cpp loading: health loading, no workers, nothing else read into the reading', async () => {
    const engine = await start('llama.cpp');
    engine.setLoading(true);
    expect(await poll(engine)).toEqual({ kind: 'llama.cpp', health: { status: 'loading', message: 'Loading model' }, workers: [] });
    engine.setLoading(false);
    expect((await poll(engine)).workers).toHaveLength(1);
  });

  test.each<[EngineKind, string]>([
    ['sglang', '/get_model_info'],
    ['tgi', '/info'],
  ])('%s not ready: a 503 health is not-ready; the worker is reported while %s answers, not after', async (kind, modelPath) => {
    const engine = await start(kind);
    engine.setLoading(true);
    const reading = await poll(engine);
    expect(reading.health).toEqual({ status: 'not-ready', message: 'GET /health: 503' });
    expect(reading.workers).toHaveLength(1);
    engine.setEndpointStatus(modelPath, 503);
    expect(await poll(engine)).toMatchObject({ health: { status: 'not-ready' }, workers: [] });
  });

  test.each<[EngineKind, number, string]>([
    ['vllm', 503, 'GET /health: 503'],
    ['vllm', 500, 'GET /health: 500'],
    ['llama.cpp', 500, 'GET /health: 500'],
    ['ollama', 500, 'GET /: 500'],
    ['tgi', 500, 'GET /health: 500'],
  ])('%s health answering %d: failing, the worker still reported', async (kind, status, message) => {
    const engine = await start(kind, { models: ['llama3.2:latest'] });
    engine.setHealthStatus(status);
    const reading = await poll(engine);
    expect(reading.health).toEqual({ status: 'failing', message });
    expect(reading.workers).toHaveLength(1);
  });

  test('failing health and a model list that does not answer either: bad-answer naming the list', async () => {
    const engine = await start('vllm');
    engine.setHealthStatus(500);
    engine.setEndpointStatus('/v1/models', 500);
    expect(await pollError(engine)).toMatchObject({ reason: 'bad-answer', message: 'GET /v1/models: 500' });
  });
});

describe('optional answers that fail leave their figures out, with a note', () => {
  test('vLLM /metrics 500 and /version 404', async () => {
    const engine = await start('vllm');
    engine.setEndpointStatus('/metrics', 500);
    engine.setEndpointStatus('/version', 404);
    const reading = await poll(engine);
    expect(reading.version).toBeUndefined();
    expect(reading.workers).toEqual([{ modelId: engine.model, contextLength: 32_768 }]);
    expect(reading.note).toBe('GET /version: 404; GET /metrics: 500');
  });

  test('metrics that do not parse', async () => {
    const engine = await start('sglang');
    engine.garbage('html', '/metrics');
    const reading = await poll(engine);
    expect(reading.workers[0]?.modelId).toBe(engine.model);
    expect(reading.note).toBe('GET /metrics: line 1: not a sample: "<!DOCTYPE html><html><body><h1>Welcome t..."');
  });

  test('an optional answer that hangs: the poll ends at its deadline with what came', async () => {
    const engine = await start('tgi');
    engine.hang('silent', '/metrics');
    const started = performance.now();
    const reading = await poll(engine);
    expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 500);
    expect(reading.workers[0]?.modelId).toBe(engine.model);
    expect(reading.note).toBe(`GET /metrics: timed out after ${TIMEOUT_MS} ms`);
  });

  test('figures that fail their checks are left out: a KV fraction outside 0-1, a negative or NaN count', async () => {
    const engine = await start('vllm', { engineCores: 2 });
    engine.set({ running: [2, -1], waiting: [Number.NaN, 0], kvCacheUsage: [0.5, 1.5] });
    const reading = await poll(engine);
    expect(reading.workers).toEqual([{ modelId: engine.model, contextLength: 32_768 }]);
    expect(reading.note).toBe(
      'vllm:num_requests_running: -1 is not a count; vllm:num_requests_waiting: NaN is not a count; vllm:kv_cache_usage_perc: 1.5 is outside 0-1',
    );
  });

  test('a wrong figure in JSON: llama.cpp total_slots 0 is not a concurrency', async () => {
    const engine = await start('llama.cpp', { maxConcurrency: 0 });
    const reading = await poll(engine);
    expect(reading.workers[0]).not.toHaveProperty('maxConcurrency');
    expect(reading.note).toBe('GET /props: total_slots is not a positive integer (0)');
  });
});

describe('required answers that are garbage reject with bad-answer', () => {
  test.each<[EngineKind, 'html' | 'wrong-json', string, string]>([
    ['vllm', 'html', '/v1/models', 'GET /v1/models: HTML where JSON belongs'],
    ['vllm', 'wrong-json', '/v1/models', 'GET /v1/models: no data list'],
    ['llama.cpp', 'wrong-json', '/v1/models', 'GET /v1/models: no data list'],
    ['ollama', 'wrong-json', '/api/ps', 'GET /api/ps: no models list'],
    ['ollama', 'html', '/api/ps', 'GET /api/ps: HTML where JSON belongs'],
    ['sglang', 'wrong-json', '/get_model_info', 'GET /get_model_info: no model_path'],
    ['tgi', 'wrong-json', '/info', 'GET /info: no model_id'],
  ])('%s %s on %s', async (kind, garbage, path, message) => {
    const engine = await start(kind);
    engine.garbage(garbage, path);
    expect(await pollError(engine)).toMatchObject({ reason: 'bad-answer', message });
  });

  test('garbage everywhere: the model answer decides', async () => {
    const engine = await start('tgi');
    engine.garbage('html');
    expect(await pollError(engine)).toMatchObject({ reason: 'bad-answer', message: 'GET /info: HTML where JSON belongs' });
  });

  test('a body past the cap: too-large naming the endpoint', async () => {
    const engine = await start('vllm');
    engine.garbage('huge', '/v1/models');
    expect(await pollError(engine)).toMatchObject({ reason: 'too-large', message: 'GET /v1/models: answer over 1048576 bytes' });
  });
});

describe('unreachable engines', () => {
  test('refused: unreachable "connection refused"; polled again once it is back', async () => {
    const engine = await start('vllm');
    await engine.stop();
    expect(await pollError(engine)).toMatchObject({ reason: 'unreachable', message: 'connection refused' });
    await engine.restart();
    expect((await poll(engine)).health).toEqual({ status: 'ok' });
  });

  test.each<['silent' | 'mid-body']>([['silent'], ['mid-body']])(
    'an engine that stops answering (%s): unreachable "timed out", within the poll timeout',
    async (mode) => {
      const engine = await start('llama.cpp');
      engine.hang(mode);
      const started = performance.now();
      expect(await pollError(engine)).toMatchObject({ reason: 'unreachable', message: `timed out after ${TIMEOUT_MS} ms` });
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 500);
    },
  );

  test('a model answer cut off in the middle of the poll: unreachable, and the next poll is whole', async () => {
    const engine = await start('ollama', { models: ['llama3.2:latest'] });
    engine.hang('mid-body', '/api/ps');
    expect(await pollError(engine)).toMatchObject({ reason: 'unreachable', message: `timed out after ${TIMEOUT_MS} ms` });
    engine.heal();
    expect((await poll(engine)).workers).toHaveLength(1);
  });
});
