// Simulated inference over real HTTP on 127.0.0.1:0: each worker answers OpenAI requests under its own URL
// (chat, streamed chat, completions, embeddings, models), deterministically, and refuses bad requests in OpenAI's
// error form.
import { request } from 'node:http';
import { SimulatedInference } from '../../src/simulator/simulated-inference';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingList, ModelList, TextCompletion } from '../../src/simulator/openai-shapes';

const WORKERS = [
  { workerId: 'h-w0', modelId: 'org/chat-model' },
  { workerId: 'h:w1', modelId: 'org/chat-model' },
  { workerId: 'h-w2', modelId: 'org/embed-model' },
];
const MODEL = 'org/chat-model';

let server: SimulatedInference;
let url0: string;

beforeAll(async () => {
  server = new SimulatedInference({ workers: WORKERS, firstByteDelayMs: 2, chunkDelayMs: 1 });
  await server.start();
  url0 = server.urlOf('h-w0');
});

afterAll(async () => {
  await server.close();
});

function post(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
}

/** The `data:` payloads of a whole SSE body, in order. */
function sseData(text: string): string[] {
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .split('\n\n')
    .filter((event) => event !== '')
    .map((event) => {
      expect(event).toMatch(/^data: /);
      return event.slice('data: '.length);
    });
}

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say something about bees' },
];

test('every worker has its URL: origin, /w/ and its encoded id, no trailing slash', () => {
  const { port } = server.address;
  expect(WORKERS.map((w) => server.urlOf(w.workerId))).toEqual([
    `http://127.0.0.1:${port}/w/h-w0`,
    `http://127.0.0.1:${port}/w/h%3Aw1`,
    `http://127.0.0.1:${port}/w/h-w2`,
  ]);
  expect(() => server.urlOf('nope')).toThrow(/^workerId: no simulated worker "nope"$/);
});

test('URLs name the advertised host when one is given (an IPv6 one in brackets)', async () => {
  const named = new SimulatedInference({ workers: WORKERS, advertiseHost: 'hive-a.example' });
  const v6 = new SimulatedInference({ workers: WORKERS, advertiseHost: '::1' });
  expect(() => named.urlOf('h-w0')).toThrow(/^the inference server is not started$/);
  try {
    const [a, b] = [await named.start(), await v6.start()];
    expect([named.urlOf('h:w1'), v6.urlOf('h-w0')]).toEqual([`http://hive-a.example:${a.port}/w/h%3Aw1`, `http://[::1]:${b.port}/w/h-w0`]);
  } finally {
    await Promise.all([named.close(), v6.close()]);
  }
});

test('refuses options it cannot serve, naming the option', () => {
  const make = (options: Partial<ConstructorParameters<typeof SimulatedInference>[0]>) => () =>
    new SimulatedInference({ workers: WORKERS, ...options });
  expect(make({ workers: [{ workerId: 'a b', modelId: 'm' }] })).toThrow(/^workers\[0\]\.workerId: must be 1-128 printable ASCII characters, got "a b"$/);
  expect(make({ workers: [{ workerId: 'a', modelId: 'm' }, { workerId: 'a', modelId: 'n' }] })).toThrow(/^workers\[1\]\.workerId: "a" is repeated$/);
  expect(make({ workers: [{ workerId: 'a', modelId: '' }] })).toThrow(/^workers\[0\]\.modelId: must not be empty$/);
  expect(make({ maxConcurrency: 0 })).toThrow(/^maxConcurrency: must be a whole number of at least 1, got 0$/);
  expect(make({ firstByteDelayMs: -1 })).toThrow(/^firstByteDelayMs: must be a whole number of ms, at least 0, got -1$/);
  expect(make({ chunkDelayMs: 0.5 })).toThrow(/^chunkDelayMs: /);
  expect(make({ maxBodyBytes: 0 })).toThrow(/^maxBodyBytes: /);
});

test('chat completion: the OpenAI shape, word counts as usage, deterministic, and the worker in a header', async () => {
  const response = await post(`${url0}/v1/chat/completions`, { model: MODEL, messages });
  expect({ status: response.status, type: response.headers.get('content-type'), worker: response.headers.get('x-simulated-worker') }).toEqual({
    status: 200,
    type: 'application/json',
    worker: 'h-w0',
  });
  const body = (await response.json()) as ChatCompletion;
  expect(body).toEqual({
    id: expect.stringMatching(/^chatcmpl-[0-9a-f]{32}$/),
    object: 'chat.completion',
    created: expect.any(Number),
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: expect.stringMatching(/^[A-Z]\w*( \w+)*\.$/) }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 7, completion_tokens: expect.any(Number), total_tokens: expect.any(Number) },
  });
  const content = body.choices[0]?.message.content ?? '';
  expect(body.usage.completion_tokens).toBe(content.split(' ').length);
  expect(body.usage.total_tokens).toBe(7 + body.usage.completion_tokens);
  expect(Math.abs(body.created - Date.now() / 1000)).toBeLessThan(600);

  // The same request on the same worker (and on another of the same model) gives the same text, another id.
  const again = (await (await post(`${url0}/v1/chat/completions`, { model: MODEL, messages })).json()) as ChatCompletion;
  const other = await post(`${server.urlOf('h:w1')}/v1/chat/completions`, { model: MODEL, messages });
  expect(other.headers.get('x-simulated-worker')).toBe('h:w1');
  expect([again.choices[0]?.message.content, ((await other.json()) as ChatCompletion).choices[0]?.message.content]).toEqual([content, content]);
  expect(again.id).not.toBe(body.id);

  const capped = (await (await post(`${url0}/v1/chat/completions`, { model: MODEL, messages, max_tokens: 2 })).json()) as ChatCompletion;
  expect({ finish: capped.choices[0]?.finish_reason, usage: capped.usage.completion_tokens, text: capped.choices[0]?.message.content }).toEqual({
    finish: 'length',
    usage: 2,
    text: content.split(' ').slice(0, 2).join(' '),
  });
});

test('streamed chat: one chunk per token, the role first, a finish chunk, the usage, then [DONE]', async () => {
  const plain = (await (await post(`${url0}/v1/chat/completions`, { model: MODEL, messages })).json()) as ChatCompletion;
  const response = await post(`${url0}/v1/chat/completions`, { model: MODEL, messages, stream: true, stream_options: { include_usage: true } });
  expect({ status: response.status, type: response.headers.get('content-type'), worker: response.headers.get('x-simulated-worker') }).toEqual({
    status: 200,
    type: 'text/event-stream',
    worker: 'h-w0',
  });
  const data = sseData(await response.text());
  expect(data.at(-1)).toBe('[DONE]');
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as ChatCompletionChunk);
  const tokens = plain.usage.completion_tokens;
  expect(chunks).toHaveLength(tokens + 2);
  expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === MODEL)).toBe(true);
  expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
  expect(chunks.slice(1).every((c) => c.choices[0]?.delta.role === undefined)).toBe(true);
  const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  expect(content).toBe(plain.choices[0]?.message.content);
  expect(chunks.slice(0, tokens).every((c) => c.choices[0]?.finish_reason === null && c.usage === null)).toBe(true);
  expect(chunks[tokens]?.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
  expect(chunks[tokens + 1]).toMatchObject({ choices: [], usage: plain.usage });

  // Without include_usage: no usage field at all, and no usage chunk.
  const bare = sseData(await (await post(`${url0}/v1/chat/completions`, { model: MODEL, messages, stream: true, max_tokens: 3 })).text());
  expect(bare.length).toBe(3 + 1 + 1);
  expect(bare.slice(0, -1).map((d) => 'usage' in (JSON.parse(d) as object))).toEqual([false, false, false, false]);
  expect((JSON.parse(bare[3] ?? '{}') as ChatCompletionChunk).choices[0]?.finish_reason).toBe('length');
});

test('completions: a choice per prompt, whole or streamed one prompt after another', async () => {
  const whole = await post(`${url0}/v1/completions`, { model: MODEL, prompt: ['Once upon', 'a time there'], max_tokens: 5 });
  expect(whole.status).toBe(200);
  const body = (await whole.json()) as TextCompletion;
  expect(body).toMatchObject({ id: expect.stringMatching(/^cmpl-/), object: 'text_completion', model: MODEL });
  expect(body.choices.map((c) => [c.index, c.text.split(' ').length, c.finish_reason])).toEqual([
    [0, 5, 'length'],
    [1, 5, 'length'],
  ]);
  expect(body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 10, total_tokens: 15 });

  const data = sseData(await (await post(`${url0}/v1/completions`, { model: MODEL, prompt: ['Once upon', 'a time there'], max_tokens: 5, stream: true })).text());
  expect(data.at(-1)).toBe('[DONE]');
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as TextCompletion);
  const textOf = (index: number): string => chunks.filter((c) => c.choices[0]?.index === index).map((c) => c.choices[0]?.text).join('');
  expect([textOf(0), textOf(1)]).toEqual(body.choices.map((c) => c.text));
  expect(chunks.map((c) => c.choices[0]?.index)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
});

test('embeddings: unit vectors, the same for the same input, as floats or base64', async () => {
  const url2 = server.urlOf('h-w2');
  const ask = async (input: unknown, extra = {}): Promise<EmbeddingList> => {
    const response = await post(`${url2}/v1/embeddings`, { model: 'org/embed-model', input, ...extra });
    expect(response.status).toBe(200);
    return (await response.json()) as EmbeddingList;
  };
  const first = await ask(['bees make honey', 'queens lay eggs']);
  expect(first).toMatchObject({ object: 'list', model: 'org/embed-model', usage: { prompt_tokens: 6, total_tokens: 6 } });
  const vectors = first.data.map((d) => d.embedding as number[]);
  expect(first.data.map((d) => [d.object, d.index, vectors[d.index]?.length])).toEqual([
    ['embedding', 0, 16],
    ['embedding', 1, 16],
  ]);
  for (const v of vectors) expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-9);
  expect(vectors[0]).not.toEqual(vectors[1]);
  expect((await ask('bees make honey')).data[0]?.embedding).toEqual(vectors[0]);

  const encoded = (await ask('bees make honey', { encoding_format: 'base64' })).data[0]?.embedding as string;
  const bytes = Buffer.from(encoded, 'base64');
  const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
  expect(decoded.every((x, i) => Math.abs(x - (vectors[0]?.[i] ?? NaN)) < 1e-6)).toBe(true);
});

test("models: the worker's one model", async () => {
  const response = await fetch(`${server.urlOf('h-w2')}/v1/models`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as ModelList;
  expect(body).toEqual({
    object: 'list',
    data: [{ id: 'org/embed-model', object: 'model', created: expect.any(Number), owned_by: 'hive-registry-simulated', root: 'org/embed-model', max_model_len: 131_072 }],
  });
});

describe('refusals, in OpenAI error form', () => {
  const chat = `/v1/chat/completions`;
  test.each<[string, () => Promise<Response>, number, string, string | null, RegExp, string | null]>([
    ['an unknown worker', () => post(`http://127.0.0.1:${server.address.port}/w/h-w9${chat}`, { model: MODEL, messages }), 404, 'worker_not_found', null, /^no simulated worker "h-w9" here$/, null],
    ['a path outside /w/', () => post(`http://127.0.0.1:${server.address.port}/v1/chat/completions`, { model: MODEL, messages }), 404, 'unknown_url', null, /^Invalid URL \(POST \/v1\/chat\/completions\)/, null],
    ['an unknown path of a worker', () => post(`${url0}/v1/responses`, {}), 404, 'unknown_url', null, /^Invalid URL/, 'h-w0'],
    ['another model', () => post(`${url0}${chat}`, { model: 'org/other', messages }), 404, 'model_not_found', 'model', /^The model `org\/other` does not exist\.$/, 'h-w0'],
    ['a body that is not JSON', () => post(`${url0}${chat}`, '{"model":'), 400, 'invalid_json', null, /^request body: must be JSON, /, 'h-w0'],
    ['a body that is not an object', () => post(`${url0}${chat}`, '[1,2]'), 400, 'invalid_json', null, /^request body: must be a JSON object, got array$/, 'h-w0'],
    ['no messages', () => post(`${url0}${chat}`, { model: MODEL }), 400, 'missing_required_parameter', 'messages', /^messages: required$/, 'h-w0'],
    ['a bad max_tokens', () => post(`${url0}${chat}`, { model: MODEL, messages, max_tokens: -3 }), 400, 'invalid_value', 'max_tokens', /^max_tokens: must be an integer from 1 to 131072, got number -3$/, 'h-w0'],
    ['a body over 1 MiB', () => post(`${url0}${chat}`, JSON.stringify({ model: MODEL, messages, pad: 'x'.repeat(2 * 1024 * 1024) })), 413, 'request_too_large', null, /^request body: must be at most 1048576 bytes$/, 'h-w0'],
    ['GET on chat', () => fetch(`${url0}${chat}`), 405, 'method_not_allowed', null, /^\/v1\/chat\/completions: method must be POST, got GET$/, 'h-w0'],
  ])('%s', async (_name, send, status, code, param, message, worker) => {
    const response = await send();
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect({ status: response.status, worker: response.headers.get('x-simulated-worker'), body }).toEqual({
      status,
      worker,
      body: { error: { message: expect.stringMatching(message), type: 'invalid_request_error', param, code } },
    });
    if (status === 405) expect(response.headers.get('allow')).toBe('POST');
  });

  test('a declared body far over the limit is refused before it is sent, and the connection closed', async () => {
    const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = request(`${url0}${chat}`, { method: 'POST', headers: { 'content-length': String(100 * 1024 * 1024) }, agent: false });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect({ ...answer, body: JSON.parse(answer.body) as unknown }).toEqual({
      status: 413,
      connection: 'close',
      body: { error: { message: 'request body: must be at most 1048576 bytes', type: 'invalid_request_error', param: null, code: 'request_too_large' } },
    });
  });

  test('the server still answers after all that, and counted the refusals', async () => {
    expect((await post(`${url0}${chat}`, { model: MODEL, messages })).status).toBe(200);
    // Eight refusals above reached h-w0's endpoints (an unknown path of it is no endpoint of it).
    expect(server.stats('h-w0')).toMatchObject({ rejected: 8, inFlight: 0, queued: 0 });
  });
});
