// Detection of an engine's kind from its answers, against the fake engines: the table's order, llama.cpp while it
// loads, one fetch of /v1/models for both probes that read it, and an engine that does not answer at all.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adapterFor, detectEngine } from '../../src/agent/engines/adapters';
import { ENGINE_KINDS, EngineError, type EngineKind } from '../../src/agent/engines/engine';
import { EngineHttpClient } from '../../src/agent/engines/engine-http';
import { FakeEngine } from '../helpers/fake-engines';

const clients: EngineHttpClient[] = [];
const engines: FakeEngine[] = [];

function httpFor(url: string, pollTimeoutMs = 2000): EngineHttpClient {
  const client = new EngineHttpClient(url, { pollTimeoutMs });
  clients.push(client);
  return client;
}

async function start(kind: EngineKind, options = {}): Promise<FakeEngine> {
  const engine = await FakeEngine.start(kind, options);
  engines.push(engine);
  return engine;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});

describe('detectEngine', () => {
  test.each(ENGINE_KINDS.map((kind) => [kind]))('recognises %s', async (kind) => {
    const engine = await start(kind);
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBe(kind);
  });

  test('recognises llama.cpp while it loads (every endpoint answers 503 "Loading model")', async () => {
    const engine = await start('llama.cpp');
    engine.setLoading(true);
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBe('llama.cpp');
    expect(engine.requests).toEqual(['GET /v1/models', 'GET /health']);
  });

  test('SGLang and TGI that are not ready yet are still recognised by their model answers', async () => {
    const sglang = await start('sglang');
    const tgi = await start('tgi');
    sglang.setLoading(true);
    tgi.setLoading(true);
    expect(await detectEngine(httpFor(sglang.url).forPoll())).toBe('sglang');
    expect(await detectEngine(httpFor(tgi.url).forPoll())).toBe('tgi');
  });

  test('probes in the table order and fetches each answer once', async () => {
    const engine = await start('tgi');
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBe('tgi');
    // vLLM and llama.cpp share /v1/models; llama.cpp then asks /health whether it is loading.
    expect(engine.requests).toEqual(['GET /v1/models', 'GET /health', 'GET /api/version', 'GET /get_model_info', 'GET /info']);
  });

  test('a vLLM listing LoRA adapters first is still vLLM', async () => {
    const engine = await start('vllm', { loras: ['sql-lora'], lorasFirst: true });
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBe('vllm');
  });

  test('only the kinds asked for are probed', async () => {
    const engine = await start('vllm');
    expect(await detectEngine(httpFor(engine.url).forPoll(), ['ollama', 'tgi'])).toBeUndefined();
    expect(engine.requests).toEqual(['GET /api/version', 'GET /info']);
  });

  test('an HTTP server that is no engine we know: undefined', async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>It works!</body></html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await detectEngine(httpFor(url).forPoll())).toBeUndefined();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('garbage where the probes look (wrong JSON, a body past the cap) is not a match', async () => {
    const engine = await start('vllm');
    engine.garbage('wrong-json');
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBeUndefined();
    engine.garbage('huge');
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBeUndefined();
  });

  test('nothing listening: rejects unreachable after the first probe', async () => {
    const engine = await start('vllm');
    await engine.stop();
    const error = await detectEngine(httpFor(engine.url).forPoll()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ reason: 'unreachable', message: 'connection refused' });
    await engine.restart();
    expect(await detectEngine(httpFor(engine.url).forPoll())).toBe('vllm');
  });

  test('an engine that hangs: rejects unreachable within the poll timeout', async () => {
    const engine = await start('sglang');
    engine.hang();
    const started = performance.now();
    const error = await detectEngine(httpFor(engine.url, 200).forPoll()).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'unreachable', message: 'timed out after 200 ms' });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('adapter.detect', () => {
  test('each adapter recognises its own kind only', async () => {
    const started = await Promise.all(ENGINE_KINDS.map((kind) => start(kind)));
    for (const engine of started) {
      for (const kind of ENGINE_KINDS) {
        const found = await adapterFor(kind).detect(httpFor(engine.url).forPoll());
        expect([engine.kind, kind, found]).toEqual([engine.kind, kind, engine.kind === kind]);
      }
    }
  });
});
