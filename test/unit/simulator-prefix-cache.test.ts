// A simulated worker's prefix cache, as a pure ring: which requests are hits (the first 256 bytes of prompt text
// among the last 1,000 requests'), what it forgets, and the delay a hit waits.
import {
  PREFIX_HIT_DELAY_DIVISOR,
  PREFIX_KEY_BYTES,
  PREFIX_MEMORY_REQUESTS,
  PrefixMemory,
  prefixCacheDelayMs,
} from '../../src/simulator/prefix-memory';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');
/** Outcomes of `texts` recorded in order, as 'hit' / 'miss'. */
const outcomes = (memory: PrefixMemory, texts: readonly string[]): string[] => texts.map((t) => (memory.record(bytes(t)) ? 'hit' : 'miss'));

test('the contract\'s figures: 256 bytes, 1,000 requests, a fifth of the delay', () => {
  expect([PREFIX_KEY_BYTES, PREFIX_MEMORY_REQUESTS, PREFIX_HIT_DELAY_DIVISOR]).toEqual([256, 1_000, 5]);
  const memory = new PrefixMemory();
  expect([memory.requests, memory.keyBytes]).toEqual([1_000, 256]);
});

test('a repeated prompt is a hit; another prompt a miss; hits and misses are counted', () => {
  const memory = new PrefixMemory();
  expect(outcomes(memory, ['user\nhello\n', 'user\nhello\n', 'user\nbye\n', 'user\nhello\n'])).toEqual(['miss', 'hit', 'miss', 'hit']);
  expect({ hits: memory.hits, misses: memory.misses, size: memory.size }).toEqual({ hits: 2, misses: 2, size: 2 });
});

test('only the first 256 bytes count: a different tail is a hit, a different byte 256 a miss', () => {
  const head = 'x'.repeat(255);
  const memory = new PrefixMemory();
  expect(outcomes(memory, [`${head}a-tail`, `${head}a-another tail, longer`, `${head}b-tail`, `${head}a`])).toEqual(['miss', 'hit', 'miss', 'hit']);
});

test('a prompt shorter than 256 bytes is its own key: a longer one beginning with it is another', () => {
  const memory = new PrefixMemory();
  expect(outcomes(memory, ['short', 'short and more', 'short', 'shor'])).toEqual(['miss', 'miss', 'hit', 'miss']);
});

test('keys are bytes, not characters: the cut may fall inside a multibyte character', () => {
  // 255 ASCII bytes, then "é" (c3 a9) or "ê" (c3 aa): the first 256 bytes are alike, the 257th differs.
  const head = 'y'.repeat(255);
  const memory = new PrefixMemory();
  expect(outcomes(memory, [`${head}é`, `${head}ê`])).toEqual(['miss', 'hit']);
  // "🐝" is f0 9f 90 9d, "🐞" f0 9f 90 9e: after 252 bytes the last byte of the key differs, after 253 it is cut off.
  expect(outcomes(memory, [`${'z'.repeat(252)}🐝`, `${'z'.repeat(252)}🐞`])).toEqual(['miss', 'miss']);
  expect(outcomes(memory, [`${'w'.repeat(253)}🐝`, `${'w'.repeat(253)}🐞`])).toEqual(['miss', 'hit']);
});

test('a key older than the last 1,000 requests is forgotten: a miss again', () => {
  const memory = new PrefixMemory();
  const others = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `other ${from + i}`);
  // 999 others after it: it is still among the last 1,000 (a hit, which remembers it anew).
  expect(outcomes(memory, ['kept', ...others(0, 999), 'kept']).at(-1)).toBe('hit');
  // 1,000 others after its last time: forgotten.
  expect(outcomes(memory, [...others(1_000, 1_000), 'kept']).at(-1)).toBe('miss');
  expect(memory.size).toBe(1_000);
});

test('a key seen several times is forgotten only once its last time is out of the window', () => {
  const memory = new PrefixMemory(3);
  expect(outcomes(memory, ['a', 'a', 'b', 'c', 'a'])).toEqual(['miss', 'hit', 'miss', 'miss', 'hit']);
  // The first 'a' has left the window (now b, c, a) but its second time kept it: it goes only after three more.
  expect(outcomes(memory, ['d', 'e', 'f', 'a'])).toEqual(['miss', 'miss', 'miss', 'miss']);
});

test('an empty prompt text is never a hit, leaves no key, and takes its place among the last requests', () => {
  const memory = new PrefixMemory(2);
  expect(outcomes(memory, ['', ''])).toEqual(['miss', 'miss']);
  expect(memory.size).toBe(0);
  expect(outcomes(memory, ['a', '', '', 'a'])).toEqual(['miss', 'miss', 'miss', 'miss']);
  expect({ hits: memory.hits, misses: memory.misses }).toEqual({ hits: 0, misses: 6 });
});

test('memory stays bounded: distinct prompts past the window leave at most 1,000 keys', () => {
  const memory = new PrefixMemory();
  for (let i = 0; i < 5_000; i++) memory.record(bytes(`${i}`.padEnd(300, '.')));
  expect({ size: memory.size, misses: memory.misses, hits: memory.hits }).toEqual({ size: 1_000, misses: 5_000, hits: 0 });
});

test('refuses a window or key length it cannot use', () => {
  expect(() => new PrefixMemory(0)).toThrow(/^requests: must be a whole number of at least 1, got 0$/);
  expect(() => new PrefixMemory(10, 1.5)).toThrow(/^keyBytes: must be a whole number of at least 1, got 1.5$/);
});

test.each([
  [20, true, 4],
  [20, false, 20],
  [12, true, 2],
  [13, true, 3],
  [2, true, 0],
  [0, true, 0],
  [0, false, 0],
])('prefixCacheDelayMs(%d, %s) is %d', (firstByteDelayMs, hit, expected) => {
  expect(prefixCacheDelayMs(firstByteDelayMs, hit)).toBe(expected);
});
