// Simulated inference, the answering side: deterministic replies and embeddings, the OpenAI wire shapes, the
// per-worker FIFO slots and the abortable waits, as pure functions or with a manual clock.
import { EventEmitter } from 'node:events';
import { clientGone, sleep, write } from '../../src/simulator/http-io';
import { InferenceProblem } from '../../src/simulator/inference-problem';
import { ManualTimers } from '../../src/agent/manual-timers';
import {
  chatChunk,
  chatCompletion,
  chatUsageChunk,
  embeddingList,
  modelList,
  sseEvent,
  textCompletion,
  textCompletionChunk,
  usageOf,
} from '../../src/simulator/openai-shapes';
import {
  countTokens,
  EMBEDDING_DIMENSIONS,
  embeddingBase64,
  simulatedEmbedding,
  simulatedReply,
} from '../../src/simulator/simulated-text';
import { ManualClock } from '../../src/common/manual-clock';

describe('simulatedReply', () => {
  test('the same model and prompt give the same reply; another prompt or model another one', () => {
    const a = simulatedReply('m', 'user: hello');
    expect(simulatedReply('m', 'user: hello').text()).toBe(a.text());
    expect(simulatedReply('m', 'user: hello!').text()).not.toBe(a.text());
    expect(simulatedReply('other', 'user: hello').text()).not.toBe(a.text());
  });

  test('ends by itself: 8 to 32 words, capitalised, a full stop, finish_reason stop', () => {
    for (let i = 0; i < 50; i++) {
      const reply = simulatedReply('m', `prompt ${i}`);
      const text = reply.text();
      expect({
        tokens: reply.tokenCount >= 8 && reply.tokenCount <= 32,
        counted: countTokens(text) === reply.tokenCount,
        capital: /^[A-Z]/.test(text),
        stop: text.endsWith('.'),
        finish: reply.finishReason,
      }).toEqual({ tokens: true, counted: true, capital: true, stop: true, finish: 'stop' });
    }
  });

  test('tokens join to the text, one word each, the first without a leading space', () => {
    const reply = simulatedReply('m', 'x');
    const tokens = [...reply.tokens()];
    expect(tokens.join('')).toBe(reply.text());
    expect(tokens.length).toBe(reply.tokenCount);
    expect(tokens[0]).toMatch(/^\S+$/);
    expect(tokens.slice(1).every((t) => /^ \S+$/.test(t))).toBe(true);
  });

  test('max_tokens cuts the reply (finish_reason length); a larger one changes nothing', () => {
    const whole = simulatedReply('m', 'x');
    const cut = simulatedReply('m', 'x', { maxTokens: 3 });
    expect({ tokens: cut.tokenCount, finish: cut.finishReason }).toEqual({ tokens: 3, finish: 'length' });
    expect(whole.text().startsWith(cut.text())).toBe(true);
    expect(cut.text().endsWith('.')).toBe(false);
    const roomy = simulatedReply('m', 'x', { maxTokens: 1_000 });
    expect({ text: roomy.text(), finish: roomy.finishReason }).toEqual({ text: whole.text(), finish: 'stop' });
  });

  test('ignore_eos runs to exactly max_tokens, lazily', () => {
    const long = simulatedReply('m', 'x', { maxTokens: 100_000, ignoreEos: true });
    expect({ tokens: long.tokenCount, finish: long.finishReason }).toEqual({ tokens: 100_000, finish: 'length' });
    const first = long.tokens().next();
    expect(first.done).toBe(false);
    expect(simulatedReply('m', 'x', { ignoreEos: true }).text()).toBe(simulatedReply('m', 'x').text());
  });

  test('countTokens counts whitespace-separated words', () => {
    expect([countTokens(''), countTokens('  '), countTokens('a'), countTokens(' a  b\nc\t')]).toEqual([0, 0, 1, 3]);
  });
});

describe('simulatedEmbedding', () => {
  test('unit length, fixed dimensions, the same for the same model and input', () => {
    const v = simulatedEmbedding('m', 'hello');
    expect(v).toHaveLength(EMBEDDING_DIMENSIONS);
    expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-12);
    expect(simulatedEmbedding('m', 'hello')).toEqual(v);
    expect(simulatedEmbedding('m', 'hello!')).not.toEqual(v);
    expect(simulatedEmbedding('n', 'hello')).not.toEqual(v);
  });

  test('base64 is little-endian float32, as the OpenAI SDKs decode it', () => {
    const v = simulatedEmbedding('m', 'hello');
    const bytes = Buffer.from(embeddingBase64(v), 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded.map((x, i) => Math.abs(x - (v[i] ?? NaN)) < 1e-6)).toEqual(v.map(() => true));
  });
});

describe('OpenAI wire shapes', () => {
  const meta = { id: 'chatcmpl-1', created: 1_700_000_000, model: 'm' };

  test('chat.completion, its fields in OpenAI order', () => {
    const completion = chatCompletion(meta, 'Hi.', 'stop', usageOf(3, 1));
    expect(Object.keys(completion)).toEqual(['id', 'object', 'created', 'model', 'choices', 'usage']);
    expect(completion).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    });
  });

  test('chat.completion.chunk: usage null on every chunk when asked for, then a usage chunk without choices', () => {
    expect(chatChunk(meta, { role: 'assistant', content: 'Hi' }, null, false)).toEqual({
      ...meta,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, logprobs: null, finish_reason: null }],
    });
    expect(chatChunk(meta, {}, 'length', true)).toEqual({
      ...meta,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'length' }],
      usage: null,
    });
    expect(chatUsageChunk(meta, usageOf(1, 2))).toEqual({
      ...meta,
      object: 'chat.completion.chunk',
      choices: [],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    });
  });

  test('text_completion, whole and chunked', () => {
    expect(textCompletion({ ...meta, id: 'cmpl-1' }, [{ text: 'a', finishReason: 'stop' }, { text: 'b c', finishReason: 'length' }], usageOf(2, 3))).toEqual({
      id: 'cmpl-1',
      object: 'text_completion',
      created: 1_700_000_000,
      model: 'm',
      choices: [
        { index: 0, text: 'a', logprobs: null, finish_reason: 'stop' },
        { index: 1, text: 'b c', logprobs: null, finish_reason: 'length' },
      ],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    });
    expect(textCompletionChunk(meta, 1, ' b', null, false).choices).toEqual([{ index: 1, text: ' b', logprobs: null, finish_reason: null }]);
  });

  test('embeddings list, models list, SSE framing, errors', () => {
    expect(embeddingList('m', [[1, 0], 'AAAA'], 4)).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [1, 0] },
        { object: 'embedding', index: 1, embedding: 'AAAA' },
      ],
      model: 'm',
      usage: { prompt_tokens: 4, total_tokens: 4 },
    });
    expect(modelList('m', 5, 10)).toEqual({
      object: 'list',
      data: [{ id: 'm', object: 'model', created: 5, owned_by: 'hive-registry-simulated', root: 'm', max_model_len: 10 }],
    });
    expect(sseEvent({ a: 1 })).toBe('data: {"a":1}\n\n');
    expect(sseEvent('[DONE]')).toBe('data: [DONE]\n\n');
    expect(new InferenceProblem(404, 'model_not_found', 'The model `x` does not exist.', 'model').body()).toEqual({
      error: { message: 'The model `x` does not exist.', type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    });
  });
});

describe('sleep', () => {
  test('resolves true when due, false at once when aborted (clearing its timer)', async () => {
    const timers = new ManualTimers(new ManualClock());
    const controller = new AbortController();
    const due = sleep(timers, 20, controller.signal);
    const cut = sleep(timers, 50, controller.signal);
    timers.advance(20);
    expect(await due).toBe(true);
    controller.abort();
    expect(await cut).toBe(false);
    expect(timers.delaysMs).toEqual([]);
    expect(await sleep(timers, 5, controller.signal)).toBe(false);
  });
});

test('clientGone aborts when the answer closes before its end, not after it', () => {
  const unfinished = Object.assign(new EventEmitter(), { writableFinished: false });
  const finished = Object.assign(new EventEmitter(), { writableFinished: true });
  // The two fields clientGone reads, on a stand-in for ServerResponse.
  const a = clientGone(unfinished as unknown as Parameters<typeof clientGone>[0]);
  const b = clientGone(finished as unknown as Parameters<typeof clientGone>[0]);
  unfinished.emit('close');
  finished.emit('close');
  expect([a.aborted, b.aborted]).toEqual([true, false]);
});

describe('write', () => {
  /** A stand-in for ServerResponse whose buffer is full (write returns false) until 'drain'. */
  function fullResponse(): EventEmitter & { destroyed: boolean; written: string[]; write(text: string): boolean } {
    const written: string[] = [];
    return Object.assign(new EventEmitter(), { destroyed: false, written, write: (text: string) => written.push(text) < 0 });
  }
  const settled = async (promise: Promise<boolean>): Promise<boolean | 'pending'> =>
    Promise.race([promise, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);

  test("a full buffer holds the writer until 'drain', or resolves false when the client goes", async () => {
    const res = fullResponse();
    const controller = new AbortController();
    const target = res as unknown as Parameters<typeof write>[0];
    const first = write(target, 'a', controller.signal);
    expect(await settled(first)).toBe('pending');
    res.emit('drain');
    expect(await first).toBe(true);
    const second = write(target, 'b', controller.signal);
    controller.abort();
    expect(await second).toBe(false);
    expect(await write(target, 'c', controller.signal)).toBe(false);
    expect({ written: res.written, drainListeners: res.listenerCount('drain') }).toEqual({ written: ['a', 'b'], drainListeners: 0 });
  });
});
