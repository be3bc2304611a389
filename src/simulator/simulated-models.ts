import { MAX_REPLY_TOKENS } from './simulated-text.js';

/** What simulated workers report about the models they load: VRAM and context length, by model id. */

/** Models loaded round robin when no list is given: small instruct models that fit two to an 80 GiB GPU. */
export const DEFAULT_SIMULATED_MODELS: readonly string[] = Object.freeze([
  'meta-llama/Llama-3.1-8B-Instruct',
  'Qwen/Qwen2.5-7B-Instruct',
  'mistralai/Mistral-7B-Instruct-v0.3',
]);

const GIB = 1n << 30n;
/** VRAM a simulated worker uses, by model; other models use DEFAULT_MODEL_VRAM_BYTES. */
const MODEL_VRAM_BYTES: Readonly<Record<string, bigint>> = {
  'meta-llama/Llama-3.1-8B-Instruct': 18n * GIB,
  'Qwen/Qwen2.5-7B-Instruct': 17n * GIB,
  'mistralai/Mistral-7B-Instruct-v0.3': 16n * GIB,
};
const DEFAULT_MODEL_VRAM_BYTES = 20n * GIB;

/**
 * Longest context, in tokens, by model: each model's own (its config's max_position_embeddings, what vLLM takes as
 * max_model_len by default). Other models get DEFAULT_CONTEXT_TOKENS.
 */
const MODEL_CONTEXT_TOKENS: Readonly<Record<string, number>> = {
  'meta-llama/Llama-3.1-8B-Instruct': 131_072,
  'Qwen/Qwen2.5-7B-Instruct': 32_768,
  'mistralai/Mistral-7B-Instruct-v0.3': 32_768,
};
/** For a model not in the table: the longest reply the simulated server writes (128 Ki tokens, as recent models take). */
export const DEFAULT_CONTEXT_TOKENS = MAX_REPLY_TOKENS;

/** VRAM a simulated worker serving `modelId` reports, in bytes. */
export function modelVramBytes(modelId: string): bigint {
  return MODEL_VRAM_BYTES[modelId] ?? DEFAULT_MODEL_VRAM_BYTES;
}

/** Context length a simulated worker serving `modelId` reports (context_length, and max_model_len in /v1/models). */
export function modelContextTokens(modelId: string): number {
  return MODEL_CONTEXT_TOKENS[modelId] ?? DEFAULT_CONTEXT_TOKENS;
}
