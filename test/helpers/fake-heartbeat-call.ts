// A fake Heartbeat call for the agent's unit tests: records what the agent writes and lets the test play the queen.
import { EventEmitter } from 'node:events';
import { create } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { status, type StatusObject } from '@grpc/grpc-js';
import type { HeartbeatCall } from '../../src/agent/heartbeat-transport';
import { HeartbeatAckSchema, type HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb';

/** A Heartbeat call that records what the agent writes and lets the test play the queen. */
export class FakeCall extends EventEmitter implements HeartbeatCall {
  readonly writes: HiveHeartbeatPayload[] = [];
  /** What the transport's metadata source gave when this call opened (see setup's `metadata`). */
  metadata: string | undefined;
  halfClosed = false;
  cancelled = false;
  private over = false;

  write(payload: HiveHeartbeatPayload): boolean {
    this.writes.push(payload);
    return true;
  }
  end(): void {
    this.halfClosed = true;
  }
  cancel(): void {
    this.cancelled = true;
    this.finish(status.CANCELLED, 'Cancelled on client');
  }
  /** The queen's ack for `sequence`. */
  ack(sequence: number, accepted = true, error = '', intervalMs = 5_000): void {
    this.emit(
      'data',
      create(HeartbeatAckSchema, {
        sequence: BigInt(sequence),
        accepted,
        error,
        heartbeatInterval: durationFromMs(intervalMs),
      }),
    );
  }
  /** Ends the call as grpc-js does: 'error' for a non-OK status, then 'status'. */
  finish(code: status, details: string): void {
    if (this.over) return;
    this.over = true;
    if (code !== status.OK) this.emit('error', Object.assign(new Error(details), { code, details }));
    this.emit('status', { code, details, metadata: undefined } as unknown as StatusObject);
  }
  /** What each payload was, in order: 'snapshot:<seq>:<worker ids>' or 'tick:<seq>'. */
  get summary(): string[] {
    return this.writes.map((p) =>
      p.unchanged ? `tick:${p.sequence}` : `snapshot:${p.sequence}:${p.workers.map((w) => w.workerId).join(',')}`,
    );
  }
}
