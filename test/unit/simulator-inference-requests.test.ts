// Simulated inference, the request side: bodies checked field by field (400 naming the field and the limit) and
// paths routed to a worker and an endpoint (404, 405), as pure functions.
import { InferenceProblem } from '../../src/simulator/inference-problem';
import {
  MAX_EMBEDDING_INPUTS,
  MAX_PROMPTS,
  parseChatRequest,
  parseCompletionRequest,
  parseEmbeddingRequest,
  parseJsonObject,
  type JsonObject,
} from '../../src/simulator/inference-request';
import { routeOf, workerPath } from '../../src/simulator/worker-routes';

/** The problem `fn` throws, as plain fields (or 'no problem'). */
function problemOf(fn: () => unknown): { status: number; code: string; param: string | null; message: string } | 'no problem' {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof InferenceProblem)) throw error;
    return { status: error.status, code: error.code, param: error.param, message: error.message };
  }
  return 'no problem';
}

const user = (content: unknown): JsonObject => ({ role: 'user', content });
const chat = (fields: JsonObject): JsonObject => ({ model: 'm', messages: [user('hello there')], ...fields });

describe('parseJsonObject', () => {
  test.each([
    ['{', /^request body: must be JSON, /],
    ['', /^request body: must be JSON, /],
    ['[1]', /^request body: must be a JSON object, got array$/],
    ['null', /^request body: must be a JSON object, got null$/],
    ['"text"', /^request body: must be a JSON object, got string "text"$/],
  ])('%j is 400 invalid_json', (body, message) => {
    const problem = problemOf(() => parseJsonObject(Buffer.from(body)));
    expect(problem).toEqual({ status: 400, code: 'invalid_json', param: null, message: expect.stringMatching(message) });
  });

  test('an object comes back as is', () => {
    expect(parseJsonObject(Buffer.from('{"model":"m","x":[1]}'))).toEqual({ model: 'm', x: [1] });
  });
});

describe('parseChatRequest', () => {
  test('keeps what the simulation needs: model, the conversation as lines, word counts, stream settings', () => {
    const request = parseChatRequest({
      model: 'm',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'look at' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'this' }] },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
      max_tokens: 7,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      n: 1,
    });
    expect(request).toEqual({
      model: 'm',
      prompt: 'system: be brief\nuser: look at  this\nassistant: ',
      promptTokens: 5,
      maxTokens: 7,
      stream: true,
      includeUsage: true,
      ignoreEos: false,
    });
  });

  test('max_completion_tokens wins over max_tokens; null counts as absent', () => {
    expect(parseChatRequest(chat({ max_tokens: 9, max_completion_tokens: 3 })).maxTokens).toBe(3);
    expect(parseChatRequest(chat({ max_tokens: null, stream: null, stream_options: null }))).toEqual({
      model: 'm',
      prompt: 'user: hello there',
      promptTokens: 2,
      stream: false,
      includeUsage: false,
      ignoreEos: false,
    });
  });

  test.each<[string, JsonObject, { code: string; param: string; message: string }]>([
    ['no model', { messages: [user('x')] }, { code: 'missing_required_parameter', param: 'model', message: 'model: required' }],
    ['a number model', chat({ model: 3 }), { code: 'invalid_value', param: 'model', message: 'model: must be a string, got number 3' }],
    ['an empty model', chat({ model: '' }), { code: 'invalid_value', param: 'model', message: 'model: must not be empty' }],
    ['no messages', { model: 'm' }, { code: 'missing_required_parameter', param: 'messages', message: 'messages: required' }],
    ['messages not an array', chat({ messages: 'hi' }), { code: 'invalid_value', param: 'messages', message: 'messages: must be an array of messages, got string "hi"' }],
    ['no message', chat({ messages: [] }), { code: 'invalid_value', param: 'messages', message: 'messages: must hold at least one message' }],
    ['a message not an object', chat({ messages: [user('a'), 7] }), { code: 'invalid_value', param: 'messages[1]', message: 'messages[1]: must be a message object, got number 7' }],
    ['no role', chat({ messages: [{ content: 'x' }] }), { code: 'missing_required_parameter', param: 'messages[0].role', message: 'messages[0].role: required' }],
    ['a bad role', chat({ messages: [{ role: 'robot', content: 'x' }] }), { code: 'invalid_value', param: 'messages[0].role', message: 'messages[0].role: must be one of system, developer, user, assistant, tool, function, got string "robot"' }],
    ['a user turn without content', chat({ messages: [{ role: 'user' }] }), { code: 'missing_required_parameter', param: 'messages[0].content', message: 'messages[0].content: required' }],
    ['a number content', chat({ messages: [user(1)] }), { code: 'invalid_value', param: 'messages[0].content', message: 'messages[0].content: must be a string or an array of content parts, got number 1' }],
    ['a part without type', chat({ messages: [user([{ text: 'x' }])] }), { code: 'invalid_value', param: 'messages[0].content[0].type', message: 'messages[0].content[0].type: must be a string, got null' }],
    ['a text part without text', chat({ messages: [user([{ type: 'text' }])] }), { code: 'invalid_value', param: 'messages[0].content[0].text', message: 'messages[0].content[0].text: must be a string, got null' }],
    ['max_tokens 0', chat({ max_tokens: 0 }), { code: 'invalid_value', param: 'max_tokens', message: 'max_tokens: must be an integer from 1 to 131072, got number 0' }],
    ['max_tokens 1.5', chat({ max_tokens: 1.5 }), { code: 'invalid_value', param: 'max_tokens', message: 'max_tokens: must be an integer from 1 to 131072, got number 1.5' }],
    ['max_tokens "5"', chat({ max_tokens: '5' }), { code: 'invalid_value', param: 'max_tokens', message: 'max_tokens: must be an integer from 1 to 131072, got string "5"' }],
    ['max_completion_tokens too many', chat({ max_completion_tokens: 131_073 }), { code: 'invalid_value', param: 'max_completion_tokens', message: 'max_completion_tokens: must be an integer from 1 to 131072, got number 131073' }],
    ['a bad max_tokens beside a good max_completion_tokens', chat({ max_tokens: -1, max_completion_tokens: 5 }), { code: 'invalid_value', param: 'max_tokens', message: 'max_tokens: must be an integer from 1 to 131072, got number -1' }],
    ['n 0', chat({ n: 0 }), { code: 'invalid_value', param: 'n', message: 'n: must be an integer from 1 to 128, got number 0' }],
    ['stream "yes"', chat({ stream: 'yes' }), { code: 'invalid_value', param: 'stream', message: 'stream: must be true or false, got string "yes"' }],
    ['ignore_eos 1', chat({ ignore_eos: 1 }), { code: 'invalid_value', param: 'ignore_eos', message: 'ignore_eos: must be true or false, got number 1' }],
    ['stream_options without stream', chat({ stream_options: { include_usage: true } }), { code: 'invalid_value', param: 'stream_options', message: 'stream_options: only allowed when stream is true' }],
    ['stream_options not an object', chat({ stream: true, stream_options: [] }), { code: 'invalid_value', param: 'stream_options', message: 'stream_options: must be an object, got array' }],
    ['include_usage "no"', chat({ stream: true, stream_options: { include_usage: 'no' } }), { code: 'invalid_value', param: 'stream_options.include_usage', message: 'stream_options.include_usage: must be true or false, got string "no"' }],
  ])('%s is a 400 naming the field', (_name, body, expected) => {
    expect(problemOf(() => parseChatRequest(body))).toEqual({ status: 400, ...expected });
  });

  test('a long string is clipped in messages', () => {
    const long = problemOf(() => parseChatRequest(chat({ stream: 'y'.repeat(1_000) })));
    expect(long === 'no problem' ? 0 : long.message.length).toBeLessThan(120);
  });
});

describe('parseCompletionRequest', () => {
  test('a string prompt or an array of them, with their word counts', () => {
    expect(parseCompletionRequest({ model: 'm', prompt: 'once upon a time', max_tokens: 4, ignore_eos: true })).toEqual({
      model: 'm',
      prompts: ['once upon a time'],
      promptTokens: 4,
      maxTokens: 4,
      stream: false,
      includeUsage: false,
      ignoreEos: true,
    });
    expect(parseCompletionRequest({ model: 'm', prompt: ['a b', '', 'c'], stream: true })).toMatchObject({
      prompts: ['a b', '', 'c'],
      promptTokens: 3,
      stream: true,
    });
  });

  test.each<[string, JsonObject, { code: string; param: string; message: string }]>([
    ['no prompt', { model: 'm' }, { code: 'missing_required_parameter', param: 'prompt', message: 'prompt: required' }],
    ['a number prompt', { model: 'm', prompt: 3 }, { code: 'invalid_value', param: 'prompt', message: 'prompt: must be a string or an array of strings, got number 3' }],
    ['no prompts', { model: 'm', prompt: [] }, { code: 'invalid_value', param: 'prompt', message: `prompt: must hold 1 to ${MAX_PROMPTS} prompts, got 0` }],
    ['too many prompts', { model: 'm', prompt: Array(MAX_PROMPTS + 1).fill('x') }, { code: 'invalid_value', param: 'prompt', message: `prompt: must hold 1 to ${MAX_PROMPTS} prompts, got ${MAX_PROMPTS + 1}` }],
    ['a token prompt', { model: 'm', prompt: ['a', [1, 2]] }, { code: 'invalid_value', param: 'prompt[1]', message: 'prompt[1]: must be a string, got array' }],
    ['no model', { prompt: 'x' }, { code: 'missing_required_parameter', param: 'model', message: 'model: required' }],
  ])('%s is a 400 naming the field', (_name, body, expected) => {
    expect(problemOf(() => parseCompletionRequest(body))).toEqual({ status: 400, ...expected });
  });
});

describe('parseEmbeddingRequest', () => {
  test.each<[string, unknown, string[], number]>([
    ['a string', 'hello world', ['hello world'], 2],
    ['strings', ['a', 'b c'], ['a', 'b c'], 3],
    ['a token array', [5, 6, 7], ['tokens:5,6,7'], 3],
    ['token arrays and strings', [[1], 'x y'], ['tokens:1', 'x y'], 3],
  ])('input as %s', (_name, input, inputs, promptTokens) => {
    expect(parseEmbeddingRequest({ model: 'm', input })).toEqual({ model: 'm', inputs, promptTokens, encoding: 'float' });
  });

  test('encoding_format base64 is kept (the OpenAI SDKs ask for it by default)', () => {
    expect(parseEmbeddingRequest({ model: 'm', input: 'x', encoding_format: 'base64' }).encoding).toBe('base64');
  });

  test.each<[string, JsonObject, { code: string; param: string; message: string }]>([
    ['no input', { model: 'm' }, { code: 'missing_required_parameter', param: 'input', message: 'input: required' }],
    ['an empty string', { model: 'm', input: '' }, { code: 'invalid_value', param: 'input', message: 'input: must not be empty' }],
    ['an object', { model: 'm', input: {} }, { code: 'invalid_value', param: 'input', message: 'input: must be a string, an array of strings or token arrays, got object' }],
    ['no inputs', { model: 'm', input: [] }, { code: 'invalid_value', param: 'input', message: `input: must hold 1 to ${MAX_EMBEDDING_INPUTS} inputs, got 0` }],
    ['too many inputs', { model: 'm', input: Array(MAX_EMBEDDING_INPUTS + 1).fill('x') }, { code: 'invalid_value', param: 'input', message: `input: must hold 1 to ${MAX_EMBEDDING_INPUTS} inputs, got ${MAX_EMBEDDING_INPUTS + 1}` }],
    ['an empty string among others', { model: 'm', input: ['a', ''] }, { code: 'invalid_value', param: 'input[1]', message: 'input[1]: must not be empty' }],
    ['a negative token', { model: 'm', input: [1, -2] }, { code: 'invalid_value', param: 'input[1]', message: 'input[1]: must be a token id from 0 to 2147483647, got number -2' }],
    ['an empty token array', { model: 'm', input: [[]] }, { code: 'invalid_value', param: 'input[0]', message: 'input[0]: must hold at least one token' }],
    ['a bool among inputs', { model: 'm', input: ['a', true] }, { code: 'invalid_value', param: 'input[1]', message: 'input[1]: must be a string or a token array, got boolean true' }],
    ['a bad encoding', { model: 'm', input: 'x', encoding_format: 'int8' }, { code: 'invalid_value', param: 'encoding_format', message: 'encoding_format: must be "float" or "base64", got string "int8"' }],
  ])('%s is a 400 naming the field', (_name, body, expected) => {
    expect(problemOf(() => parseEmbeddingRequest(body))).toEqual({ status: 400, ...expected });
  });
});

describe('routeOf', () => {
  const known = (id: string): boolean => ['h-w0', 'odd id/é'].includes(id);

  test.each([
    ['POST', '/w/h-w0/v1/chat/completions', { workerId: 'h-w0', endpoint: 'chat' }],
    ['POST', '/w/h-w0/v1/completions?x=1', { workerId: 'h-w0', endpoint: 'completions' }],
    ['POST', '/w/h-w0/v1/embeddings', { workerId: 'h-w0', endpoint: 'embeddings' }],
    ['GET', '/w/h-w0/v1/models', { workerId: 'h-w0', endpoint: 'models' }],
    ['GET', `${workerPath('odd id/é')}/v1/models`, { workerId: 'odd id/é', endpoint: 'models' }],
    ['POST', 'http://127.0.0.1:1234/w/h-w0/v1/chat/completions', { workerId: 'h-w0', endpoint: 'chat' }],
  ])('%s %s', (method, url, expected) => {
    expect(routeOf(method, url, known)).toEqual(expected);
  });

  test.each([
    ['POST', '/v1/chat/completions', undefined, 404, 'unknown_url'],
    ['GET', '/', undefined, 404, 'unknown_url'],
    ['GET', '/w/', undefined, 404, 'unknown_url'],
    ['POST', '/w/h-w9/v1/chat/completions', undefined, 404, 'worker_not_found'],
    ['POST', '/w/%E0%A4%A/v1/chat/completions', undefined, 404, 'worker_not_found'],
    ['POST', '/w/h-w0/v1/chat/completions/', 'h-w0', 404, 'unknown_url'],
    ['POST', '/w/h-w0', 'h-w0', 404, 'unknown_url'],
    ['POST', '/w/h-w0/v2/chat', 'h-w0', 404, 'unknown_url'],
    ['GET', '/w/h-w0/v1/chat/completions', 'h-w0', 405, 'method_not_allowed'],
    ['POST', '/w/h-w0/v1/models', 'h-w0', 405, 'method_not_allowed'],
  ])('%s %s is refused', (method, url, workerId, status, code) => {
    const route = routeOf(method, url, known);
    expect({ workerId: route.workerId, status: route.problem?.status, code: route.problem?.code }).toEqual({ workerId, status, code });
  });

  test('405 says which method is allowed; messages say what was asked', () => {
    const route = routeOf('DELETE', '/w/h-w0/v1/chat/completions', known);
    expect({ allow: route.allow, message: route.problem?.message }).toEqual({
      allow: 'POST',
      message: '/v1/chat/completions: method must be POST, got DELETE',
    });
    expect(routeOf('POST', '/w/h-w9/v1/models', known).problem?.message).toBe('no simulated worker "h-w9" here');
    expect(routeOf('POST', '/v1/models', known).problem?.message).toBe('Invalid URL (POST /v1/models): worker paths are /w/<worker id>/v1/...');
  });
});
