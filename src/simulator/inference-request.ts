import { describeJson, InferenceProblem, invalidField, missingField } from './inference-problem.js';
import { countTokens, MAX_REPLY_TOKENS } from './simulated-text.js';

/**
 * Request bodies of the OpenAI endpoints simulated workers serve, checked and reduced to what the simulation
 * needs. Pure: each parser takes the decoded JSON and returns the request or throws InferenceProblem (400) naming
 * the field. Fields the simulation has no use for (temperature, top_p, tools, ...) are accepted and ignored, as
 * vLLM does; `null` counts as absent, as OpenAI's SDKs may send it.
 */

/** Most prompts in one completions request (`prompt` as an array). */
export const MAX_PROMPTS = 128;
/** Most inputs in one embeddings request (OpenAI's own limit). */
export const MAX_EMBEDDING_INPUTS = 2_048;
/** Largest `n` accepted; a simulated worker always answers with one choice whatever `n` says. */
export const MAX_CHOICES = 128;
/** Largest token id accepted in an embeddings `input` given as token arrays. */
const MAX_TOKEN_ID = 2 ** 31 - 1;
const CHAT_ROLES: readonly string[] = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

export type JsonObject = Readonly<Record<string, unknown>>;

/** What generating endpoints (chat, completions) share. */
export interface GenerationRequest {
  readonly model: string;
  /** `max_completion_tokens`, else `max_tokens`; absent lets the reply end by itself. */
  readonly maxTokens?: number;
  /** vLLM's `ignore_eos`: with a max, the reply runs to exactly that many tokens (load tests use it). */
  readonly ignoreEos: boolean;
  readonly stream: boolean;
  /** `stream_options.include_usage`: a last chunk carries the usage. */
  readonly includeUsage: boolean;
}

export interface ChatRequest extends GenerationRequest {
  /** The conversation as one text (`role: content` lines): what the reply is derived from. */
  readonly prompt: string;
  readonly promptTokens: number;
}

export interface CompletionRequest extends GenerationRequest {
  /** One completion (choice) per prompt, in order. */
  readonly prompts: readonly string[];
  readonly promptTokens: number;
}

export interface EmbeddingRequest {
  readonly model: string;
  /** Each input as text (token arrays as `tokens:1,2,3`): what its vector is derived from. */
  readonly inputs: readonly string[];
  readonly promptTokens: number;
  readonly encoding: 'float' | 'base64';
}

/** The body as a JSON object, or 400 `invalid_json`. */
export function parseJsonObject(body: Buffer): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new InferenceProblem(400, 'invalid_json', `request body: must be JSON, ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InferenceProblem(400, 'invalid_json', `request body: must be a JSON object, got ${describeJson(value)}`);
  }
  return value as JsonObject;
}

/** POST /v1/chat/completions. */
export function parseChatRequest(body: JsonObject): ChatRequest {
  const model = requiredModel(body);
  const messages = body.messages ?? null;
  if (messages === null) throw missingField('messages');
  if (!Array.isArray(messages)) throw invalidField('messages', `must be an array of messages, got ${describeJson(messages)}`);
  if (messages.length === 0) throw invalidField('messages', 'must hold at least one message');
  const lines = messages.map((message: unknown, i) => messageLine(message, `messages[${i}]`));
  // max_tokens is deprecated in favour of max_completion_tokens; when both come, the newer one counts (as vLLM).
  const legacyMaxTokens = optionalInteger(body, 'max_tokens', 1, MAX_REPLY_TOKENS);
  const maxTokens = optionalInteger(body, 'max_completion_tokens', 1, MAX_REPLY_TOKENS) ?? legacyMaxTokens;
  optionalInteger(body, 'n', 1, MAX_CHOICES);
  return {
    model,
    prompt: lines.map((l) => l.line).join('\n'),
    promptTokens: lines.reduce((sum, l) => sum + l.tokens, 0),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...streaming(body),
  };
}

/** POST /v1/completions: `prompt` is a string or an array of strings (one choice each). */
export function parseCompletionRequest(body: JsonObject): CompletionRequest {
  const model = requiredModel(body);
  const prompt = body.prompt ?? null;
  if (prompt === null) throw missingField('prompt');
  let prompts: string[];
  if (typeof prompt === 'string') {
    prompts = [prompt];
  } else if (Array.isArray(prompt)) {
    if (prompt.length === 0 || prompt.length > MAX_PROMPTS) {
      throw invalidField('prompt', `must hold 1 to ${MAX_PROMPTS} prompts, got ${prompt.length}`);
    }
    prompts = prompt.map((p: unknown, i) => {
      if (typeof p !== 'string') throw invalidField(`prompt[${i}]`, `must be a string, got ${describeJson(p)}`);
      return p;
    });
  } else {
    throw invalidField('prompt', `must be a string or an array of strings, got ${describeJson(prompt)}`);
  }
  const maxTokens = optionalInteger(body, 'max_tokens', 1, MAX_REPLY_TOKENS);
  optionalInteger(body, 'n', 1, MAX_CHOICES);
  return {
    model,
    prompts,
    promptTokens: prompts.reduce((sum, p) => sum + countTokens(p), 0),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...streaming(body),
  };
}

/** POST /v1/embeddings: `input` is a string, an array of strings, a token array or an array of token arrays. */
export function parseEmbeddingRequest(body: JsonObject): EmbeddingRequest {
  const model = requiredModel(body);
  const input = body.input ?? null;
  if (input === null) throw missingField('input');
  let items: { text: string; tokens: number }[];
  if (typeof input === 'string') {
    items = [textInput(input, 'input')];
  } else if (!Array.isArray(input)) {
    throw invalidField('input', `must be a string, an array of strings or token arrays, got ${describeJson(input)}`);
  } else if (input.length === 0 || input.length > MAX_EMBEDDING_INPUTS) {
    throw invalidField('input', `must hold 1 to ${MAX_EMBEDDING_INPUTS} inputs, got ${input.length}`);
  } else if (input.every((x) => typeof x === 'number')) {
    items = [tokenInput(input, 'input')];
  } else {
    items = input.map((x: unknown, i) => {
      const field = `input[${i}]`;
      if (typeof x === 'string') return textInput(x, field);
      if (Array.isArray(x)) return tokenInput(x, field);
      throw invalidField(field, `must be a string or a token array, got ${describeJson(x)}`);
    });
  }
  const encoding = body.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64') {
    throw invalidField('encoding_format', `must be "float" or "base64", got ${describeJson(encoding)}`);
  }
  return { model, inputs: items.map((i) => i.text), promptTokens: items.reduce((sum, i) => sum + i.tokens, 0), encoding };
}

function requiredModel(body: JsonObject): string {
  const model = body.model ?? null;
  if (model === null) throw missingField('model');
  if (typeof model !== 'string') throw invalidField('model', `must be a string, got ${describeJson(model)}`);
  if (model === '') throw invalidField('model', 'must not be empty');
  return model;
}

/** `stream`, `stream_options` and vLLM's `ignore_eos`. */
function streaming(body: JsonObject): Pick<GenerationRequest, 'stream' | 'includeUsage' | 'ignoreEos'> {
  const stream = optionalBoolean(body, 'stream') ?? false;
  const ignoreEos = optionalBoolean(body, 'ignore_eos') ?? false;
  const options = body.stream_options ?? null;
  if (options === null) return { stream, includeUsage: false, ignoreEos };
  // As OpenAI and vLLM: stream options without a stream are a mistake worth saying.
  if (!stream) throw invalidField('stream_options', 'only allowed when stream is true');
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidField('stream_options', `must be an object, got ${describeJson(options)}`);
  }
  const includeUsage = optionalBoolean(options as JsonObject, 'include_usage', 'stream_options.include_usage') ?? false;
  return { stream, includeUsage, ignoreEos };
}

function optionalInteger(body: JsonObject, field: string, min: number, max: number): number | undefined {
  const value = body[field] ?? null;
  if (value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidField(field, `must be an integer from ${min} to ${max}, got ${describeJson(value)}`);
  }
  return value;
}

function optionalBoolean(body: JsonObject, key: string, field = key): boolean | undefined {
  const value = body[key] ?? null;
  if (value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidField(field, `must be true or false, got ${describeJson(value)}`);
  return value;
}

/** One chat message as a `role: text` line, and its token count. */
function messageLine(message: unknown, field: string): { line: string; tokens: number } {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw invalidField(field, `must be a message object, got ${describeJson(message)}`);
  }
  const { role, content } = message as JsonObject;
  if (role === undefined || role === null) throw missingField(`${field}.role`);
  if (typeof role !== 'string' || !CHAT_ROLES.includes(role)) {
    throw invalidField(`${field}.role`, `must be one of ${CHAT_ROLES.join(', ')}, got ${describeJson(role)}`);
  }
  let text: string;
  if (content === undefined || content === null) {
    // An assistant turn that only called tools has no content; any other turn must say something.
    if (role !== 'assistant') throw missingField(`${field}.content`);
    text = '';
  } else if (typeof content === 'string') {
    text = content;
  } else if (Array.isArray(content)) {
    text = content.map((part: unknown, i) => partText(part, `${field}.content[${i}]`)).join(' ');
  } else {
    throw invalidField(`${field}.content`, `must be a string or an array of content parts, got ${describeJson(content)}`);
  }
  return { line: `${role}: ${text}`, tokens: countTokens(text) };
}

/** The text of one content part; other parts (images, audio, files) count as no text. */
function partText(part: unknown, field: string): string {
  if (typeof part !== 'object' || part === null || Array.isArray(part)) {
    throw invalidField(field, `must be a content part object, got ${describeJson(part)}`);
  }
  const { type, text } = part as JsonObject;
  if (typeof type !== 'string') throw invalidField(`${field}.type`, `must be a string, got ${describeJson(type ?? null)}`);
  if (type !== 'text') return '';
  if (typeof text !== 'string') throw invalidField(`${field}.text`, `must be a string, got ${describeJson(text ?? null)}`);
  return text;
}

function textInput(text: string, field: string): { text: string; tokens: number } {
  if (text === '') throw invalidField(field, 'must not be empty');
  return { text, tokens: countTokens(text) };
}

function tokenInput(tokens: readonly unknown[], field: string): { text: string; tokens: number } {
  if (tokens.length === 0) throw invalidField(field, 'must hold at least one token');
  tokens.forEach((t, i) => {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > MAX_TOKEN_ID) {
      throw invalidField(`${field}[${i}]`, `must be a token id from 0 to ${MAX_TOKEN_ID}, got ${describeJson(t)}`);
    }
  });
  return { text: `tokens:${tokens.join(',')}`, tokens: tokens.length };
}
