/** Protobuf varints of non-negative safe integers, for the encoders that write bytes by hand. */

/** Bytes `value` takes as a varint. */
export function varintLength(value: number): number {
  let length = 1;
  for (let v = value; v > 0x7f; v = Math.floor(v / 128)) length += 1;
  return length;
}

/** Writes `value` as a varint into `out` at `at`; returns the index after it. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  let v = value;
  let i = at;
  while (v > 0x7f) {
    out[i++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  return i;
}
