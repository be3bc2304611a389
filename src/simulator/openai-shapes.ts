/**
 * The OpenAI wire shapes simulated workers answer with, as vLLM's OpenAI-compatible server writes them: field
 * names in snake_case, `created` in Unix seconds. Only builders of plain objects here; serving them is
 * simulated-inference.ts's job.
 */

export type FinishReason = 'stop' | 'length';

export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

/** What every completion object of one request shares: its id (`chatcmpl-...`, `cmpl-...`), time and model. */
export interface ResponseMeta {
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
}

export interface ChatCompletion extends ResponseMeta {
  readonly object: 'chat.completion';
  readonly choices: readonly {
    readonly index: number;
    readonly message: { readonly role: 'assistant'; readonly content: string };
    readonly logprobs: null;
    readonly finish_reason: FinishReason;
  }[];
  readonly usage: Usage;
}

export interface ChatCompletionChunk extends ResponseMeta {
  readonly object: 'chat.completion.chunk';
  readonly choices: readonly {
    readonly index: number;
    readonly delta: { readonly role?: 'assistant'; readonly content?: string };
    readonly logprobs: null;
    readonly finish_reason: FinishReason | null;
  }[];
  /** Present only with `stream_options.include_usage`: null on every chunk but the last, which has no choices. */
  readonly usage?: Usage | null;
}

export interface TextCompletion extends ResponseMeta {
  readonly object: 'text_completion';
  readonly choices: readonly {
    readonly index: number;
    readonly text: string;
    readonly logprobs: null;
    readonly finish_reason: FinishReason | null;
  }[];
  /** Always on a whole completion; on stream chunks as for ChatCompletionChunk. */
  readonly usage?: Usage | null;
}

export interface EmbeddingList {
  readonly object: 'list';
  readonly data: readonly { readonly object: 'embedding'; readonly index: number; readonly embedding: number[] | string }[];
  readonly model: string;
  readonly usage: { readonly prompt_tokens: number; readonly total_tokens: number };
}

export interface ModelList {
  readonly object: 'list';
  readonly data: readonly {
    readonly id: string;
    readonly object: 'model';
    readonly created: number;
    readonly owned_by: string;
    readonly root: string;
    readonly max_model_len: number;
  }[];
}

/** An error as OpenAI (and vLLM) send it; `param` names the offending request field, when there is one. */
export interface OpenAiErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string };
}

/** The fields every completion object starts with, in OpenAI's order (id, object, created, model). */
function head<O extends string>(meta: ResponseMeta, object: O): ResponseMeta & { readonly object: O } {
  return { id: meta.id, object, created: meta.created, model: meta.model };
}

export function usageOf(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

export function chatCompletion(meta: ResponseMeta, content: string, finishReason: FinishReason, usage: Usage): ChatCompletion {
  return {
    ...head(meta, 'chat.completion'),
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: finishReason }],
    usage,
  };
}

/** One streamed chat chunk carrying `delta`; `includeUsage` adds `usage: null`, as OpenAI does. */
export function chatChunk(
  meta: ResponseMeta,
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finishReason: FinishReason | null,
  includeUsage: boolean,
): ChatCompletionChunk {
  const chunk: ChatCompletionChunk = {
    ...head(meta, 'chat.completion.chunk'),
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
  return includeUsage ? { ...chunk, usage: null } : chunk;
}

/** The last chunk of a chat stream with `stream_options.include_usage`: no choices, the request's usage. */
export function chatUsageChunk(meta: ResponseMeta, usage: Usage): ChatCompletionChunk {
  return { ...head(meta, 'chat.completion.chunk'), choices: [], usage };
}

export function textCompletion(
  meta: ResponseMeta,
  choices: readonly { readonly text: string; readonly finishReason: FinishReason }[],
  usage: Usage,
): TextCompletion {
  return {
    ...head(meta, 'text_completion'),
    choices: choices.map((c, index) => ({ index, text: c.text, logprobs: null, finish_reason: c.finishReason })),
    usage,
  };
}

/** One streamed completion chunk: `text` of the prompt at `index` (several prompts stream one after another). */
export function textCompletionChunk(
  meta: ResponseMeta,
  index: number,
  text: string,
  finishReason: FinishReason | null,
  includeUsage: boolean,
): TextCompletion {
  const chunk: TextCompletion = {
    ...head(meta, 'text_completion'),
    choices: [{ index, text, logprobs: null, finish_reason: finishReason }],
  };
  return includeUsage ? { ...chunk, usage: null } : chunk;
}

export function textUsageChunk(meta: ResponseMeta, usage: Usage): TextCompletion {
  return { ...head(meta, 'text_completion'), choices: [], usage };
}

export function embeddingList(model: string, embeddings: readonly (number[] | string)[], promptTokens: number): EmbeddingList {
  return {
    object: 'list',
    data: embeddings.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** GET /v1/models of one worker: its one model, `created` when the server started (Unix seconds). */
export function modelList(model: string, created: number, maxModelLen: number): ModelList {
  return {
    object: 'list',
    data: [{ id: model, object: 'model', created, owned_by: 'hive-registry-simulated', root: model, max_model_len: maxModelLen }],
  };
}

/** One Server-Sent Event carrying `data` (JSON, or the stream's closing `[DONE]`). */
export function sseEvent(data: object | '[DONE]'): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}
