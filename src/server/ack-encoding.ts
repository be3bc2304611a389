import { create, toBinary } from '@bufbuild/protobuf';
import { DurationSchema, durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { HeartbeatAckSchema } from '../../gen/hive/v1/registry_pb.js';
import { varintLength, writeVarint } from './varint.js';

/**
 * HeartbeatAck, written straight into bytes: every payload of every hive gets one, so the ack path makes no message
 * object, no writer and no copies. The bytes are what the plain encoder writes (fields in number order, defaults
 * left out; a test compares the two over random acks), and grpc-js sends them as they are (grpc-service.ts).
 */

/** What an ack says, filled in while its payload is handled. */
export interface AckDraft {
  readonly sequence: bigint;
  accepted: boolean;
  /** Empty when accepted. */
  error: string;
}

/** Tags: field number << 3 | wire type (0 varint, 2 length-delimited). */
const SEQUENCE_TAG = (1 << 3) | 0;
const ACCEPTED_TAG = (2 << 3) | 0;
const ERROR_TAG = (3 << 3) | 2;
const INTERVAL_TAG = (4 << 3) | 2;
const RECEIVED_AT_TAG = (5 << 3) | 2;
const SECONDS_TAG = (1 << 3) | 0;
const NANOS_TAG = (2 << 3) | 0;
/** Room for the fields of fixed size at most: a 10-byte sequence, accepted, a Timestamp of 2 + 10 + 1 + 5 bytes. */
const FIXED_ROOM = 1 + 10 + 2 + 2 + 11 + 6;

/** The acks of one queen: its heartbeat interval is the same in every one, so its bytes are made once. */
export class AckEncoder {
  private readonly interval: Uint8Array;

  constructor(private readonly heartbeatIntervalMs: number) {
    this.interval = toBinary(DurationSchema, durationFromMs(heartbeatIntervalMs));
  }

  /** The ack's bytes, `receivedWallMs` as its received_at. */
  encode(ack: AckDraft, receivedWallMs: number): Buffer {
    const ms = Math.floor(receivedWallMs);
    // Far outside any real clock (before 1970, or past 2^53 ms): the plain encoder handles negative int64s.
    if (ms < 0 || !Number.isSafeInteger(ms) || ack.sequence < 0n) return this.plain(ack, ms);
    const error = ack.error === '' ? undefined : Buffer.from(ack.error, 'utf8');
    const out = Buffer.allocUnsafe(FIXED_ROOM + this.interval.byteLength + (error === undefined ? 0 : 5 + error.byteLength));
    let at = 0;
    if (ack.sequence !== 0n) {
      out[at++] = SEQUENCE_TAG;
      at = writeBigVarint(out, at, ack.sequence);
    }
    if (ack.accepted) {
      out[at++] = ACCEPTED_TAG;
      out[at++] = 1;
    }
    if (error !== undefined) {
      out[at++] = ERROR_TAG;
      at = writeVarint(out, at, error.byteLength);
      out.set(error, at);
      at += error.byteLength;
    }
    out[at++] = INTERVAL_TAG;
    at = writeVarint(out, at, this.interval.byteLength);
    out.set(this.interval, at);
    at += this.interval.byteLength;
    const seconds = Math.floor(ms / 1_000);
    const nanos = (ms % 1_000) * 1_000_000;
    const timestampLength = (seconds === 0 ? 0 : 1 + varintLength(seconds)) + (nanos === 0 ? 0 : 1 + varintLength(nanos));
    out[at++] = RECEIVED_AT_TAG;
    out[at++] = timestampLength;
    if (seconds !== 0) {
      out[at++] = SECONDS_TAG;
      at = writeVarint(out, at, seconds);
    }
    if (nanos !== 0) {
      out[at++] = NANOS_TAG;
      at = writeVarint(out, at, nanos);
    }
    return out.subarray(0, at);
  }

  private plain(ack: AckDraft, ms: number): Buffer {
    const bytes = toBinary(
      HeartbeatAckSchema,
      create(HeartbeatAckSchema, {
        sequence: ack.sequence,
        accepted: ack.accepted,
        error: ack.error,
        heartbeatInterval: durationFromMs(this.heartbeatIntervalMs),
        receivedAt: timestampFromMs(ms),
      }),
    );
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A uint64 as a varint: as a number while it is a safe integer (every real sequence), else bit by bit. */
function writeBigVarint(out: Buffer, at: number, value: bigint): number {
  if (value <= MAX_SAFE) return writeVarint(out, at, Number(value));
  let v = value;
  let i = at;
  while (v > 0x7fn) {
    out[i++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[i++] = Number(v);
  return i;
}
