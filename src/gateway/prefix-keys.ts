/**
 * Prefix keys of a prompt, as routing v3 defines them: the prompt text's UTF-8 bytes cut into blocks of
 * `blockBytes` (only full blocks count), each block's key covering it and every block before it. Keys start from
 * the model's name, so two models never share one.
 *
 * One pass over the bytes with two 32-bit lanes (FNV-1a, and a multiply-xorshift with another constant); at each
 * block's end the lanes make one 53-bit key (a safe integer: a Map key without a string). 53 bits keep
 * collisions out of reach at the table's sizes (about one in 10^6 for 100,000 keys), and a collision only sends
 * a request to a worker that may not hold its prefix: affinity is a hint, never a correctness matter. The work
 * is linear in the prompt, so bounded by the gateway's body limit.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const MIX_SEED = 0x9747b28c;
const MIX_PRIME = 0x5bd1e995;

/** The 32-bit lanes after `bytes`, from `a` and `b`. */
interface Lanes {
  a: number;
  b: number;
}

function feed(lanes: Lanes, bytes: Uint8Array, from: number, to: number): void {
  let { a, b } = lanes;
  for (let i = from; i < to; i++) {
    const byte = bytes[i] as number;
    a = Math.imul(a ^ byte, FNV_PRIME);
    b = Math.imul(b ^ byte, MIX_PRIME);
    b ^= b >>> 15;
  }
  lanes.a = a;
  lanes.b = b;
}

/** The lanes as one non-negative safe integer: 32 bits of one, 21 of the other. */
function keyOf(lanes: Lanes): number {
  return (lanes.a >>> 0) * 0x200000 + ((lanes.b >>> 0) & 0x1fffff);
}

/**
 * The chained keys of `text`'s full blocks of `blockBytes`, for `model`, shortest prefix first: key i covers
 * blocks 0..i. Empty when the text is shorter than one block.
 */
export function prefixKeys(model: string, text: Uint8Array, blockBytes: number): number[] {
  const blocks = Math.floor(text.length / blockBytes);
  if (blocks === 0) return [];
  const lanes: Lanes = { a: FNV_OFFSET, b: MIX_SEED };
  const name = Buffer.from(model, 'utf8');
  feed(lanes, name, 0, name.length);
  // A separator no model name holds (ids are printable), so "m" + "x..." never meets "mx" + "...".
  feed(lanes, ZERO, 0, 1);
  const keys = new Array<number>(blocks);
  for (let block = 0; block < blocks; block++) {
    feed(lanes, text, block * blockBytes, (block + 1) * blockBytes);
    keys[block] = keyOf(lanes);
  }
  return keys;
}

const ZERO = new Uint8Array(1);
