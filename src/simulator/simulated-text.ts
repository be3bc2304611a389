import { seededRandom } from '../common/seeded-random.js';
import { fnv1a } from './fnv1a.js';

/**
 * What simulated models "generate": deterministic text and embeddings, as pure functions of the model and the
 * input. They do not depend on the worker, as greedy decoding on identical replicas would not: a request retried
 * on another worker of the same model gets the same answer (the `x-simulated-worker` header says which worker
 * answered).
 *
 * Tokens are whitespace-separated words here: real tokenizers split finer, but what callers rely on (usage
 * counts that add up, `max_tokens` capping the reply, one streamed chunk per token) holds all the same.
 */

/** Most tokens one reply may have: the simulated models' context length (`max_tokens` above it is refused). */
export const MAX_REPLY_TOKENS = 131_072;
/** Length of every simulated embedding vector. */
export const EMBEDDING_DIMENSIONS = 16;
/** A reply's natural length (where it stops by itself, finish_reason 'stop') is MIN to MIN + SPAN - 1 words. */
const NATURAL_MIN_WORDS = 8;
const NATURAL_SPAN_WORDS = 25;

const WORDS: readonly string[] = [
  'the', 'hive', 'answers', 'with', 'simulated', 'tokens', 'while', 'every', 'worker', 'keeps', 'its', 'queue',
  'short', 'and', 'steady', 'a', 'model', 'reply', 'flows', 'through', 'gateway', 'to', 'client', 'in', 'small',
  'chunks', 'each', 'request', 'finds', 'free', 'slot', 'on', 'one', 'of', 'many', 'machines', 'that', 'report',
  'their', 'state', 'queen', 'who', 'picks', 'best', 'place', 'for', 'next', 'prompt', 'so', 'load', 'spreads',
  'evenly', 'across', 'fleet', 'as', 'bees', 'share', 'work', 'under', 'warm', 'summer', 'light', 'again', 'soon',
];

/** Whitespace-separated words in `text`: the simulation's token count. */
export function countTokens(text: string): number {
  let count = 0;
  for (const word of text.split(/\s+/)) if (word !== '') count++;
  return count;
}

/** How a reply is bounded: `maxTokens` caps it; with `ignoreEos` it runs to exactly `maxTokens` (as vLLM's). */
export interface ReplyLimits {
  readonly maxTokens?: number;
  readonly ignoreEos?: boolean;
}

/** A reply, generated lazily so a long stream costs memory for one token at a time. */
export interface SimulatedReply {
  /** Tokens in the reply (its usage.completion_tokens), at least 1. */
  readonly tokenCount: number;
  /** 'stop' when the reply ended by itself, 'length' when max_tokens cut it (or ignore_eos ran it out). */
  readonly finishReason: 'stop' | 'length';
  /** The tokens in order, each but the first with its leading space: joined, they are exactly `text()`. */
  tokens(): Generator<string>;
  /** The whole reply. */
  text(): string;
}

/**
 * The reply of `model` to `prompt` (any canonical text of the request's input): a sentence of words from a fixed
 * list, seeded by a hash of both, capitalised and ending with a full stop when it ends by itself.
 */
export function simulatedReply(model: string, prompt: string, limits: ReplyLimits = {}): SimulatedReply {
  const seed = fnv1a(`${model}\u0000${prompt}`);
  const natural = NATURAL_MIN_WORDS + (seed % NATURAL_SPAN_WORDS);
  const { maxTokens, ignoreEos = false } = limits;
  const tokenCount = maxTokens === undefined ? natural : ignoreEos ? maxTokens : Math.min(natural, maxTokens);
  const finishReason = tokenCount < natural || (ignoreEos && maxTokens !== undefined) ? 'length' : 'stop';
  function* tokens(): Generator<string> {
    const rng = seededRandom(seed);
    for (let i = 0; i < tokenCount; i++) {
      let word = WORDS[Math.floor(rng() * WORDS.length)] ?? 'the';
      if (i === 0) word = word.charAt(0).toUpperCase() + word.slice(1);
      if (i === tokenCount - 1 && finishReason === 'stop') word += '.';
      yield i === 0 ? word : ` ${word}`;
    }
  }
  return { tokenCount, finishReason, tokens, text: () => [...tokens()].join('') };
}

/**
 * The embedding of `input` by `model`: EMBEDDING_DIMENSIONS components drawn from a generator seeded by a hash of
 * both, scaled to unit length (as most embedding models return them, so a dot product is the cosine).
 */
export function simulatedEmbedding(model: string, input: string): number[] {
  const rng = seededRandom(fnv1a(`${model}\u0000${input}`));
  const vector = Array.from({ length: EMBEDDING_DIMENSIONS }, () => rng() * 2 - 1);
  const norm = Math.hypot(...vector);
  // A zero vector is practically impossible, but its direction would be undefined: fall back to an axis.
  return norm === 0 ? vector.map((_, i) => (i === 0 ? 1 : 0)) : vector.map((x) => x / norm);
}

/** A vector as OpenAI's `encoding_format: "base64"` carries it: little-endian float32 values, base64-encoded. */
export function embeddingBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
