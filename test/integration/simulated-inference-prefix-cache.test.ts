// Simulated workers' prefix cache over real HTTP on 127.0.0.1:0: a chat or completions request whose first 256
// bytes of prompt text a worker saw among its last 1,000 requests waits a fifth of the first-byte delay (streamed
// or not), says `x-simulated-prefix-cache: hit|miss`, and is counted in the worker's stats. Time is manual timers:
// each answer's waits are read off the pending timers, never measured.
import { ManualTimers } from '../../src/agent/manual-timers';
import { ManualClock } from '../../src/common/manual-clock';
import { PREFIX_CACHE_HEADER } from '../../src/simulator/prefix-memory';
import { SimulatedInference } from '../../src/simulator/simulated-inference';

const MODEL = 'org/m';
const FIRST_BYTE_MS = 50;
const CHUNK_MS = 7;

let server: SimulatedInference;
let timers: ManualTimers;

beforeEach(async () => {
  timers = new ManualTimers(new ManualClock());
  server = new SimulatedInference({
    workers: [
      { workerId: 'h-w0', modelId: MODEL },
      { workerId: 'h-w1', modelId: MODEL },
    ],
    maxConcurrency: 1,
    firstByteDelayMs: FIRST_BYTE_MS,
    chunkDelayMs: CHUNK_MS,
    timers,
  });
  await server.start();
});

afterEach(async () => {
  await server.close();
});

/** Polls `check` on the event loop until it holds (the jest timeout bounds it). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2));
}

function post(workerId: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${server.urlOf(workerId)}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

interface Answer {
  readonly status: number;
  /** The timer the answer waited on before its first byte, in ms. */
  readonly waitedMs: number;
  readonly cache: string | null;
  readonly body: string;
}

/**
 * Sends one request and answers it by firing its timers one by one; `waitedMs` is the first of them. With one
 * token, a whole answer and a stream each wait on exactly one timer.
 */
async function send(body: unknown, { workerId = 'h-w0', path = '/v1/chat/completions' } = {}): Promise<Answer> {
  const pending = post(workerId, path, body);
  await until(() => timers.delaysMs.length === 1);
  const [waitedMs = -1] = timers.delaysMs;
  timers.advance(waitedMs);
  const response = await pending;
  expect(timers.delaysMs).toEqual([]);
  return { status: response.status, waitedMs, cache: response.headers.get(PREFIX_CACHE_HEADER), body: await response.text() };
}

const chat = (content: string, extra: object = {}): object => ({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 1, ...extra });
const summary = (a: Answer): string => `${a.status} ${a.cache} ${a.waitedMs}`;

test('the header name', () => {
  expect(PREFIX_CACHE_HEADER).toBe('x-simulated-prefix-cache');
});

test('a repeated prompt is a hit and waits a fifth; a different one is a miss and waits it all; stats count both', async () => {
  expect(summary(await send(chat('hello there')))).toBe('200 miss 50');
  expect(summary(await send(chat('hello there')))).toBe('200 hit 10');
  expect(summary(await send(chat('something else')))).toBe('200 miss 50');
  expect(server.stats('h-w0')).toMatchObject({ served: 3, prefixHits: 1, prefixMisses: 2 });
  // The cache is the worker's own: the other worker has not seen the prompt.
  expect(summary(await send(chat('hello there'), { workerId: 'h-w1' }))).toBe('200 miss 50');
  expect(server.stats('h-w1')).toMatchObject({ prefixHits: 0, prefixMisses: 1 });
});

test('only the first 256 bytes count: the same head with another tail is a hit, another head a miss', async () => {
  // The prompt text is "user\n" + content + "\n": 300 bytes of content put the cut inside it.
  const head = 'a'.repeat(300);
  expect(summary(await send(chat(`${head} first tail`)))).toBe('200 miss 50');
  expect(summary(await send(chat(`${head} another tail, longer`)))).toBe('200 hit 10');
  expect(summary(await send(chat(`b${head.slice(1)} first tail`)))).toBe('200 miss 50');
  // The role is part of the prompt text.
  expect(summary(await send({ model: MODEL, messages: [{ role: 'system', content: `${head} first tail` }], max_tokens: 1 }))).toBe('200 miss 50');
});

test('a stream waits a fifth for its first event on a hit, and carries the header', async () => {
  const streamed = chat('stream me', { stream: true });
  const miss = await send(streamed);
  const hit = await send(streamed);
  expect([summary(miss), summary(hit)]).toEqual(['200 miss 50', '200 hit 10']);
  expect(hit.body).toMatch(/^data: \{"id":"chatcmpl-.*data: \[DONE\]\n\n$/s);
  // A whole answer and a stream of the same prompt share the key.
  expect(summary(await send(chat('stream me')))).toBe('200 hit 10');
});

test('a whole answer of several tokens: only the first-byte part shrinks, the tokens after it keep their pace', async () => {
  const body = chat('pace me', { max_tokens: 3, ignore_eos: true });
  expect(summary(await send(body))).toBe(`200 miss ${FIRST_BYTE_MS + 2 * CHUNK_MS}`);
  expect(summary(await send(body))).toBe(`200 hit ${FIRST_BYTE_MS / 5 + 2 * CHUNK_MS}`);
});

test('completions: a prompt or several, keyed on the same text as chat', async () => {
  const completions = { path: '/v1/completions' };
  expect(summary(await send({ model: MODEL, prompt: 'once upon a time', max_tokens: 1 }, completions))).toBe('200 miss 50');
  expect(summary(await send({ model: MODEL, prompt: 'once upon a time', max_tokens: 1, stream: true }, completions))).toBe('200 hit 10');
  // Several prompts are joined with "\n": ["user", "hello\n"] is chat's "user\nhello\n" byte for byte.
  expect(summary(await send(chat('hello')))).toBe('200 miss 50');
  expect(summary(await send({ model: MODEL, prompt: ['user', 'hello\n'], max_tokens: 1 }, { path: '/v1/completions' }))).toBe('200 hit 10');
  expect(server.stats('h-w0')).toMatchObject({ prefixHits: 2, prefixMisses: 2 });
});

test('a queued request is looked up when it takes its slot, after the request it waited behind was remembered', async () => {
  const body = chat('same prompt');
  // Whichever arrives first runs (a miss); the other waits for the slot.
  const both = [post('h-w0', '/v1/chat/completions', body), post('h-w0', '/v1/chat/completions', body)];
  await until(() => server.stats('h-w0').queued === 1 && timers.delaysMs.length === 1);
  expect(server.stats('h-w0')).toMatchObject({ inFlight: 1, prefixHits: 0, prefixMisses: 1 });
  expect(timers.delaysMs).toEqual([FIRST_BYTE_MS]);
  timers.advance(FIRST_BYTE_MS);
  await until(() => server.stats('h-w0').served === 1 && timers.delaysMs.length === 1);
  expect(timers.delaysMs).toEqual([FIRST_BYTE_MS / 5]);
  timers.advance(FIRST_BYTE_MS / 5);
  const caches = (await Promise.all(both)).map((r) => r.headers.get(PREFIX_CACHE_HEADER));
  expect(caches.sort()).toEqual(['hit', 'miss']);
  expect(server.stats('h-w0')).toMatchObject({ served: 2, prefixHits: 1, prefixMisses: 1 });
});

test('embeddings and refused requests are not cache look-ups: no header, the whole delay, no count', async () => {
  const embedded = await send({ model: MODEL, input: 'hello there' }, { path: '/v1/embeddings' });
  const again = await send({ model: MODEL, input: 'hello there' }, { path: '/v1/embeddings' });
  expect([summary(embedded), summary(again)]).toEqual(['200 null 50', '200 null 50']);
  const refused = await post('h-w0', '/v1/chat/completions', { model: 'org/other', messages: [{ role: 'user', content: 'x' }] });
  expect({ status: refused.status, cache: refused.headers.get(PREFIX_CACHE_HEADER), worker: refused.headers.get('x-simulated-worker') }).toEqual({
    status: 404,
    cache: null,
    worker: 'h-w0',
  });
  expect(server.stats('h-w0')).toMatchObject({ served: 2, rejected: 1, prefixHits: 0, prefixMisses: 0 });
});
