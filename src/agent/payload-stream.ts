import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Clock } from '../common/clock.js';
import { HiveHeartbeatPayloadSchema, type HeartbeatAck, type HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb.js';
import type { HeartbeatCall } from './heartbeat-transport.js';
import type { HiveSnapshot } from './hive-snapshot.js';

/** Whether a payload carried a full snapshot or was a liveness tick (unchanged = true). */
export type PayloadKind = 'snapshot' | 'tick';

interface Unacked {
  readonly kind: PayloadKind;
  /** Encoding of a snapshot's content (workers, devices, ram); undefined for a tick. */
  readonly content: Uint8Array | undefined;
  /** Monotonic ms. */
  readonly sentAt: number;
}

/**
 * The payloads of one Heartbeat call and what the queen made of them: sequences (1 for the first payload of the
 * call, then +1 per payload), the last snapshot the queen accepted, and whether the next payload may be a tick.
 *
 * A tick is sent only when the snapshot to report encodes (binary, protobuf) exactly like the last one the queen
 * ACCEPTED on this call and no payload was rejected since: the queen's last accepted snapshot is what a tick
 * confirms. A new call gets a new PayloadStream, so its first payload is always a full snapshot.
 */
export class PayloadStream {
  private nextSequence = 1n;
  private readonly unacked = new Map<bigint, Unacked>();
  private lastAccepted: Uint8Array | undefined;
  /** Encoding of the last snapshot sent on this call, acknowledged or not. */
  private lastSent: Uint8Array | undefined;
  private snapshotNeeded = false;
  private accepted = false;

  constructor(
    private readonly call: HeartbeatCall,
    private readonly hiveId: string,
    private readonly clock: Clock,
  ) {}

  /** True once the queen has accepted a payload of this call. */
  get acceptedAny(): boolean {
    return this.accepted;
  }

  /**
   * Sends `snapshot` in full, or a tick when it is what the queen already holds. Throws (sending nothing) when
   * the snapshot cannot be encoded, e.g. a number out of its field's range.
   */
  send(snapshot: HiveSnapshot): PayloadKind {
    const { payload, content } = encode(snapshot);
    if (!this.snapshotNeeded && this.lastAccepted !== undefined && sameBytes(content, this.lastAccepted)) {
      this.write(create(HiveHeartbeatPayloadSchema, { unchanged: true }), 'tick', undefined);
      return 'tick';
    }
    this.writeSnapshot(payload, content);
    return 'snapshot';
  }

  /**
   * Sends `snapshot` in full when it differs from the last snapshot sent on this call (acknowledged or not), or
   * when a rejection asks for one; otherwise sends nothing (the regular beat keeps the hive alive). Returns
   * whether it sent. Throws like send().
   */
  sendIfChanged(snapshot: HiveSnapshot): boolean {
    const { payload, content } = encode(snapshot);
    if (!this.snapshotNeeded && this.lastSent !== undefined && sameBytes(content, this.lastSent)) return false;
    this.writeSnapshot(payload, content);
    return true;
  }

  private writeSnapshot(payload: HiveHeartbeatPayload, content: Uint8Array): void {
    this.snapshotNeeded = false;
    this.lastSent = content;
    this.write(payload, 'snapshot', content);
  }

  /**
   * Sends a tick when the queen has accepted a snapshot on this call (the hive is alive even when its snapshot
   * cannot be taken; the queen keeps the last one). Returns whether it sent one.
   */
  tickIfAccepted(): boolean {
    if (this.lastAccepted === undefined) return false;
    this.write(create(HiveHeartbeatPayloadSchema, { unchanged: true }), 'tick', undefined);
    return true;
  }

  /**
   * Matches an ack to its payload and records the outcome; a rejection makes the next payload a full snapshot.
   * Returns the payload's kind, or undefined for a sequence this call never sent (nothing recorded).
   */
  settle(ack: HeartbeatAck): PayloadKind | undefined {
    const sent = this.unacked.get(ack.sequence);
    if (sent === undefined) return undefined;
    this.unacked.delete(ack.sequence);
    if (!ack.accepted) {
      this.snapshotNeeded = true;
    } else {
      this.accepted = true;
      if (sent.content !== undefined) this.lastAccepted = sent.content;
    }
    return sent.kind;
  }

  /** How long the oldest payload still unacknowledged has waited, in ms; 0 when every payload has its ack. */
  oldestUnackedAgeMs(): number {
    const oldest = this.unacked.values().next().value;
    return oldest === undefined ? 0 : this.clock.now() - oldest.sentAt;
  }

  private write(payload: HiveHeartbeatPayload, kind: PayloadKind, content: Uint8Array | undefined): void {
    payload.hiveId = this.hiveId;
    payload.sequence = this.nextSequence;
    payload.timestamp = timestampFromMs(this.clock.wallNow());
    this.nextSequence += 1n;
    this.unacked.set(payload.sequence, { kind, content, sentAt: this.clock.now() });
    this.call.write(payload);
  }
}

/** The payload carrying `snapshot`, and its encoding before the agent's own fields are set. */
function encode(snapshot: HiveSnapshot): { payload: HiveHeartbeatPayload; content: Uint8Array } {
  const payload = create(HiveHeartbeatPayloadSchema, {
    workers: [...snapshot.workers],
    devices: [...snapshot.devices],
    ramTotalBytes: snapshot.ramTotalBytes,
  });
  return { payload, content: toBinary(HiveHeartbeatPayloadSchema, payload) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
