/**
 * Prefix affinity (routing v3): a gateway request goes to the worker that served the longest prefix of its prompt,
 * while that worker is not much busier than the least-loaded candidate.
 */
export interface PrefixAffinityOptions {
  /** Bytes per block of prompt text: only full blocks count (16-65536). */
  readonly blockBytes: number;
  /** Most prefix keys remembered (LRU). */
  readonly cacheKeys: number;
  /** How much more loaded (load fraction) the worker of the longest matching prefix may be than the least-loaded candidate. */
  readonly slack: number;
}
