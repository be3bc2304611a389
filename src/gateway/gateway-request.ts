import type { IncomingMessage } from 'node:http';
import { checkModelId } from '../registry/ids.js';
import { openAiError, type OpenAiError } from './openai-errors.js';

/** The paths the gateway forwards, and the short name each is counted under in metrics. */
export const GATEWAY_ENDPOINTS = {
  '/v1/chat/completions': 'chat_completions',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
} as const;
export type ForwardedPath = keyof typeof GATEWAY_ENDPOINTS;
export type Endpoint = (typeof GATEWAY_ENDPOINTS)[ForwardedPath] | 'models';

/** A request to forward: its body as received (sent on byte for byte) and what the gateway reads of it. */
export interface InferenceRequest {
  readonly body: Buffer;
  readonly model: string;
  /** `stream: true`: the answer is server-sent events, passed through chunk by chunk. */
  readonly stream: boolean;
  /** The body as parsed (a JSON object), for what else the gateway reads of it: the prompt text. */
  readonly json: object;
}

/** Reads a request body up to `maxBytes`; rejects with a 413 OpenAiError past it, or with the stream's error. */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? '0');
    if (declared > maxBytes) {
      reject(tooLarge(maxBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.removeAllListeners('data');
        request.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks, size)));
    request.on('error', reject);
  });
}

function tooLarge(maxBytes: number): OpenAiError {
  return openAiError(413, 'invalid_request_error', 'request_too_large', `request body: must be at most ${maxBytes} bytes`);
}

function invalid(message: string, param: string): OpenAiError {
  return openAiError(400, 'invalid_request_error', 'invalid_request', message, { param });
}

/** The body's `model` and `stream`, or a 400 naming the field; the body itself is forwarded untouched. */
export function parseInferenceRequest(body: Buffer, contentType: string | undefined): InferenceRequest | OpenAiError {
  if (contentType !== undefined && !/^application\/json\b/i.test(contentType.trim())) {
    return invalid(`content-type: must be application/json, got ${JSON.stringify(contentType.slice(0, 100))}`, 'content-type');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return invalid(`request body: not valid JSON (${(error as Error).message})`, 'body');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return invalid('request body: must be a JSON object', 'body');
  }
  const { model, stream } = parsed as { model?: unknown; stream?: unknown };
  if (typeof model !== 'string') {
    return invalid(model === undefined ? 'model: required' : `model: must be a string, got ${typeof model}`, 'model');
  }
  const problem = checkModelId('model', model);
  if (problem !== undefined) return invalid(problem, 'model');
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    return invalid(`stream: must be a boolean, got ${typeof stream}`, 'stream');
  }
  return { body, model, stream: stream === true, json: parsed };
}
