/**
 * FNV-1a (32 bits) of a string's UTF-16 code units: a cheap, stable hash for seeds. Simulated hives seed their
 * random walk with it (so hives do not move in lockstep) and simulated inference its replies and embeddings (so
 * the same input always gives the same output).
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
