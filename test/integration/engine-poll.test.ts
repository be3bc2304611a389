// Every field of the contract's "what is read" table, per engine kind, read by the adapters from the fake engines.
import { adapterFor } from '../../src/agent/engines/adapters';
import type { EngineKind, EngineReading } from '../../src/agent/engines/engine';
import { EngineHttpClient } from '../../src/agent/engines/engine-http';
import { FakeEngine, type FakeEngineOptions } from '../helpers/fake-engines';

const engines: FakeEngine[] = [];

async function start(kind: EngineKind, options: FakeEngineOptions = {}): Promise<FakeEngine> {
  const engine = await FakeEngine.start(kind, options);
  engines.push(engine);
  return engine;
}

/** One poll of `engine` by its kind's adapter. */
async function poll(engine: FakeEngine): Promise<EngineReading> {
  const client = new EngineHttpClient(engine.url);
  try {
    return await adapterFor(engine.kind).poll(client.forPoll());
  } finally {
    client.close();
  }
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

describe('vLLM', () => {
  test('model and context from /v1/models, load from /metrics, version from /version; no concurrency figure', async () => {
    const engine = await start('vllm', { model: 'meta-llama/Llama-3.1-8B-Instruct', contextLength: 131_072, version: '0.9.2' });
    engine.set({ running: 3, waiting: 1, kvCacheUsage: 0.42 });
    expect(await poll(engine)).toEqual({
      kind: 'vllm',
      version: '0.9.2',
      health: { status: 'ok' },
      workers: [
        { modelId: 'meta-llama/Llama-3.1-8B-Instruct', requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.42, contextLength: 131_072 },
      ],
    });
  });

  test('counts are summed over the engine label, the KV fraction is their mean', async () => {
    const engine = await start('vllm', { engineCores: 2 });
    engine.set({ running: [1, 4], waiting: 3, kvCacheUsage: [0.2, 0.6] });
    const [worker] = (await poll(engine)).workers;
    expect(worker).toMatchObject({ requestsRunning: 5, requestsWaiting: 3 });
    expect(worker?.kvCacheUsage).toBeCloseTo(0.4, 10);
  });

  test('the KV gauge under its old name vllm:gpu_cache_usage_perc', async () => {
    const engine = await start('vllm', { oldKvName: true });
    engine.set({ kvCacheUsage: 0.75 });
    expect((await poll(engine)).workers[0]?.kvCacheUsage).toBe(0.75);
  });

  test('LoRA adapters (entries with parent) are not the model, wherever they are listed', async () => {
    const engine = await start('vllm', { model: 'base-model', loras: ['sql-lora', 'chat-lora'], lorasFirst: true });
    expect((await poll(engine)).workers[0]?.modelId).toBe('base-model');
  });
});

describe('llama.cpp', () => {
  test('model from /v1/models; slots, context per slot and build from /props; load from /metrics', async () => {
    const engine = await start('llama.cpp', { model: 'qwen2.5-7b', maxConcurrency: 8, contextLength: 4096, version: 'b6140-b3eb7f4' });
    engine.set({ running: 2, waiting: 5 });
    expect(await poll(engine)).toEqual({
      kind: 'llama.cpp',
      version: 'b6140-b3eb7f4',
      health: { status: 'ok' },
      workers: [{ modelId: 'qwen2.5-7b', requestsRunning: 2, requestsWaiting: 5, maxConcurrency: 8, contextLength: 4096 }],
    });
  });

  test('without --metrics: running counts the busy /slots, waiting is absent, nothing to note', async () => {
    const engine = await start('llama.cpp', { metrics: false, maxConcurrency: 4 });
    engine.set({ running: 3, waiting: 2 });
    const reading = await poll(engine);
    expect(reading.workers).toEqual([{ modelId: engine.model, requestsRunning: 3, maxConcurrency: 4, contextLength: 8192 }]);
    expect(reading.note).toBeUndefined();
    expect(engine.requests).toContain('GET /slots');
  });

  test('without --metrics and without /slots: no load figures, both failures noted', async () => {
    const engine = await start('llama.cpp', { metrics: false });
    engine.setEndpointStatus('/slots', 501);
    const reading = await poll(engine);
    expect(reading.workers[0]?.requestsRunning).toBeUndefined();
    expect(reading.note).toBe('GET /metrics: 501; GET /slots: 501');
  });
});

describe('Ollama', () => {
  test('one worker per loaded model, keyed by name, with its VRAM and context; none when nothing is loaded', async () => {
    const engine = await start('ollama', { version: '0.11.4' });
    expect(await poll(engine)).toEqual({ kind: 'ollama', version: '0.11.4', health: { status: 'ok' }, workers: [] });

    engine.load('llama3.2:3b', { sizeVram: 2_500_000_000, contextLength: 4096 });
    engine.load('qwen2.5:7b-instruct', { sizeVram: 5_100_000_000 });
    expect((await poll(engine)).workers).toEqual([
      { key: 'llama3.2:3b', modelId: 'llama3.2:3b', vramBytes: 2_500_000_000, contextLength: 4096 },
      { key: 'qwen2.5:7b-instruct', modelId: 'qwen2.5:7b-instruct', vramBytes: 5_100_000_000 },
    ]);

    engine.unload('llama3.2:3b');
    expect((await poll(engine)).workers.map((w) => w.key)).toEqual(['qwen2.5:7b-instruct']);
    engine.unload('qwen2.5:7b-instruct');
    expect((await poll(engine)).workers).toEqual([]);
  });

  test('no load figures and no concurrency figure: Ollama serves no metrics', async () => {
    const engine = await start('ollama', { models: ['llama3.2:latest'] });
    const [worker] = (await poll(engine)).workers;
    expect(worker).not.toHaveProperty('requestsRunning');
    expect(worker).not.toHaveProperty('maxConcurrency');
    expect(engine.requests).not.toContain('GET /metrics');
  });
});

describe('SGLang', () => {
  test('model and context from /get_model_info, concurrency and version from /get_server_info, load from /metrics', async () => {
    const engine = await start('sglang', { model: 'Qwen/Qwen2.5-7B-Instruct', maxConcurrency: 48, contextLength: 32_768, version: '0.4.10' });
    engine.set({ running: 7, waiting: 2, kvCacheUsage: 0.31 });
    expect(await poll(engine)).toEqual({
      kind: 'sglang',
      version: '0.4.10',
      health: { status: 'ok' },
      workers: [
        { modelId: 'Qwen/Qwen2.5-7B-Instruct', requestsRunning: 7, requestsWaiting: 2, kvCacheUsage: 0.31, maxConcurrency: 48, contextLength: 32_768 },
      ],
    });
  });

  test('max_running_requests left null and no max_context_length: both absent, nothing to note', async () => {
    const engine = await start('sglang');
    const reading = await poll(engine);
    expect(reading.workers[0]).not.toHaveProperty('maxConcurrency');
    expect(reading.workers[0]).not.toHaveProperty('contextLength');
    expect(reading.note).toBeUndefined();
  });
});

describe('TGI', () => {
  test('model, concurrency, context and version from /info; load from /metrics; no KV figure', async () => {
    const engine = await start('tgi', { model: 'HuggingFaceH4/zephyr-7b-beta', maxConcurrency: 128, contextLength: 4096, version: '3.3.4' });
    engine.set({ running: 4, waiting: 9 });
    expect(await poll(engine)).toEqual({
      kind: 'tgi',
      version: '3.3.4',
      health: { status: 'ok' },
      workers: [{ modelId: 'HuggingFaceH4/zephyr-7b-beta', requestsRunning: 4, requestsWaiting: 9, maxConcurrency: 128, contextLength: 4096 }],
    });
  });
});

describe('the fake vLLM answers chat completions', () => {
  test('an OpenAI-shaped completion, counted', async () => {
    const engine = await start('vllm', { model: 'm' });
    const response = await fetch(`${engine.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const body = (await response.json()) as { object: string; model: string; choices: { message: { content: string } }[] };
    expect(response.status).toBe(200);
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('m');
    expect(body.choices[0]?.message.content).toBe('Hello from a fake vllm.');
    expect(engine.chatRequests).toBe(1);
  });
});
