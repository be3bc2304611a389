import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sendJson, sleep, write } from './http-io.js';
import type { ChatRequest, CompletionRequest, EmbeddingRequest } from './inference-request.js';
import {
  chatChunk,
  chatCompletion,
  chatUsageChunk,
  embeddingList,
  sseEvent,
  textCompletion,
  textCompletionChunk,
  textUsageChunk,
  usageOf,
  type ResponseMeta,
} from './openai-shapes.js';
import { embeddingBase64, simulatedEmbedding, simulatedReply, type SimulatedReply } from './simulated-text.js';
import type { Timers } from '../agent/timers.js';

/**
 * Answers one admitted request (it holds a slot of its worker) the way a real server paces it: nothing for
 * `firstByteDelayMs` (the prefill), then one token every `chunkDelayMs`. A stream sends each token as it comes;
 * a whole answer comes when its last token would have. Every function resolves true when the answer was sent in
 * full, false when the client went away (or was cut off) first; generation stops there.
 */
export interface ReplyContext {
  readonly res: ServerResponse;
  /** Aborts when the client is gone. */
  readonly signal: AbortSignal;
  readonly timers: Timers;
  /** This request's: shorter on a prefix-cache hit (see prefix-memory.ts). */
  readonly firstByteDelayMs: number;
  readonly chunkDelayMs: number;
  readonly meta: ResponseMeta;
  /** Sent with the answer (x-simulated-worker, and x-simulated-prefix-cache for chat and completions). */
  readonly headers: OutgoingHttpHeaders;
}

const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  // Proxies (nginx) must pass each event on as it comes.
  'x-accel-buffering': 'no',
};

export async function answerChat(ctx: ReplyContext, request: ChatRequest): Promise<boolean> {
  const reply = simulatedReply(request.model, request.prompt, request);
  const usage = usageOf(request.promptTokens, reply.tokenCount);
  if (!request.stream) {
    if (!(await sleep(ctx.timers, wholeReplyDelayMs(ctx, reply.tokenCount), ctx.signal))) return false;
    sendJson(ctx.res, 200, chatCompletion(ctx.meta, reply.text(), reply.finishReason, usage), ctx.headers);
    return true;
  }
  const { meta } = ctx;
  const { includeUsage } = request;
  const ok = await streamTokens(ctx, reply, (token, first) =>
    sseEvent(chatChunk(meta, first ? { role: 'assistant', content: token } : { content: token }, null, includeUsage)),
  );
  if (!ok) return false;
  let tail = sseEvent(chatChunk(meta, {}, reply.finishReason, includeUsage));
  if (includeUsage) tail += sseEvent(chatUsageChunk(meta, usage));
  return endStream(ctx, tail);
}

/** Several prompts: a whole answer has one choice each; a stream sends them one after another, by `index`. */
export async function answerCompletion(ctx: ReplyContext, request: CompletionRequest): Promise<boolean> {
  const replies = request.prompts.map((prompt) => simulatedReply(request.model, prompt, request));
  const usage = usageOf(request.promptTokens, replies.reduce((sum, r) => sum + r.tokenCount, 0));
  if (!request.stream) {
    const longest = Math.max(...replies.map((r) => r.tokenCount));
    if (!(await sleep(ctx.timers, wholeReplyDelayMs(ctx, longest), ctx.signal))) return false;
    const choices = replies.map((r) => ({ text: r.text(), finishReason: r.finishReason }));
    sendJson(ctx.res, 200, textCompletion(ctx.meta, choices, usage), ctx.headers);
    return true;
  }
  const { meta } = ctx;
  const { includeUsage } = request;
  for (const [index, reply] of replies.entries()) {
    const ok = await streamTokens(ctx, reply, (token) => sseEvent(textCompletionChunk(meta, index, token, null, includeUsage)));
    if (!ok || !(await write(ctx.res, sseEvent(textCompletionChunk(meta, index, '', reply.finishReason, includeUsage)), ctx.signal))) {
      return false;
    }
  }
  return endStream(ctx, includeUsage ? sseEvent(textUsageChunk(meta, usage)) : '');
}

/** Embeddings come whole after the first-byte delay (there is no decoding to pace). */
export async function answerEmbeddings(ctx: ReplyContext, request: EmbeddingRequest): Promise<boolean> {
  if (!(await sleep(ctx.timers, ctx.firstByteDelayMs, ctx.signal))) return false;
  const vectors = request.inputs.map((input) => simulatedEmbedding(request.model, input));
  const embeddings = request.encoding === 'base64' ? vectors.map(embeddingBase64) : vectors;
  sendJson(ctx.res, 200, embeddingList(request.model, embeddings, request.promptTokens), ctx.headers);
  return true;
}

/** When the last of `tokens` tokens would be out: the first after the first-byte delay, then one per chunk delay. */
function wholeReplyDelayMs(ctx: ReplyContext, tokens: number): number {
  return ctx.firstByteDelayMs + ctx.chunkDelayMs * Math.max(0, tokens - 1);
}

/**
 * Sends the stream's head (once) and one event per token, paced; `event` formats a token (`first`: the very first
 * of the stream). Resolves false as soon as the client is gone.
 */
async function streamTokens(ctx: ReplyContext, reply: SimulatedReply, event: (token: string, first: boolean) => string): Promise<boolean> {
  const { res, signal, timers } = ctx;
  for (const token of reply.tokens()) {
    const first = !res.headersSent;
    if (!(await sleep(timers, first ? ctx.firstByteDelayMs : ctx.chunkDelayMs, signal))) return false;
    if (first) res.writeHead(200, { ...ctx.headers, ...SSE_HEADERS });
    if (!(await write(res, event(token, first), signal))) return false;
  }
  return true;
}

async function endStream(ctx: ReplyContext, tail: string): Promise<boolean> {
  if (!(await write(ctx.res, `${tail}${sseEvent('[DONE]')}`, ctx.signal))) return false;
  ctx.res.end();
  return true;
}
