/** Bytes of prompt text a simulated worker's prefix cache keys on: the first 256 (fewer when the text is shorter). */
export const PREFIX_KEY_BYTES = 256;
/** Requests a simulated worker's prefix cache remembers: its last 1,000. */
export const PREFIX_MEMORY_REQUESTS = 1_000;
/** A prefix-cache hit waits the first-byte delay divided by this (rounded to whole ms): a fifth. */
export const PREFIX_HIT_DELAY_DIVISOR = 5;
/** Answers to chat and completions say `hit` or `miss` in it, so tests and benchmarks can count hits. */
export const PREFIX_CACHE_HEADER = 'x-simulated-prefix-cache';

/**
 * One simulated worker's prefix cache (CONTRACT, "Routing v3"): the prefix keys (the first PREFIX_KEY_BYTES of
 * the prompt text, see common/prompt-text.ts) of its last PREFIX_MEMORY_REQUESTS requests, in a ring, with a
 * count per key so that a look-up, a new entry and the eviction of the oldest are each O(1). A key is held as the
 * latin1 string of its bytes: one byte per character, compact, and exact for any bytes.
 *
 * Every request counts as one of the last N, including one with an empty prompt text: that one is never a hit
 * and leaves no key (its place in the ring is empty).
 */
export class PrefixMemory {
  /** Keys of the last `requests` requests; `undefined` for a place not used yet or a request without prompt text. */
  private readonly ring: (string | undefined)[];
  private readonly counts = new Map<string, number>();
  private next = 0;
  private hitCount = 0;
  private missCount = 0;

  constructor(
    readonly requests = PREFIX_MEMORY_REQUESTS,
    readonly keyBytes = PREFIX_KEY_BYTES,
  ) {
    if (!Number.isSafeInteger(requests) || requests < 1) throw new RangeError(`requests: must be a whole number of at least 1, got ${requests}`);
    if (!Number.isSafeInteger(keyBytes) || keyBytes < 1) throw new RangeError(`keyBytes: must be a whole number of at least 1, got ${keyBytes}`);
    this.ring = new Array<string | undefined>(requests).fill(undefined);
  }

  /** Requests that were hits so far. */
  get hits(): number {
    return this.hitCount;
  }

  /** Requests that were misses so far (an empty prompt text is one). */
  get misses(): number {
    return this.missCount;
  }

  /** Keys remembered now (distinct prefixes among the last `requests` requests). */
  get size(): number {
    return this.counts.size;
  }

  /**
   * Counts one request with `promptText` (UTF-8 bytes): true (a hit) when a request among the last `requests`
   * began with the same `keyBytes` bytes (the whole text when shorter), false otherwise. Then it is the newest of
   * the last `requests`, and the oldest is forgotten.
   */
  record(promptText: Buffer): boolean {
    const key = promptText.length === 0 ? undefined : promptText.toString('latin1', 0, Math.min(this.keyBytes, promptText.length));
    const hit = key !== undefined && this.counts.has(key);
    if (hit) this.hitCount += 1;
    else this.missCount += 1;
    this.forget(this.ring[this.next]);
    this.ring[this.next] = key;
    if (key !== undefined) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.next = (this.next + 1) % this.requests;
    return hit;
  }

  private forget(key: string | undefined): void {
    if (key === undefined) return;
    const count = this.counts.get(key) ?? 0;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }
}

/** The first-byte delay of a request: a fifth of `firstByteDelayMs` (rounded) on a hit, all of it on a miss. */
export function prefixCacheDelayMs(firstByteDelayMs: number, hit: boolean): number {
  return hit ? Math.round(firstByteDelayMs / PREFIX_HIT_DELAY_DIVISOR) : firstByteDelayMs;
}
