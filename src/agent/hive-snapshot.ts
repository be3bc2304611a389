import type { MessageInitShape } from '@bufbuild/protobuf';
import type { DeviceSchema, WorkerStateSchema } from '../../gen/hive/v1/registry_pb.js';

/** A hive.v1.WorkerState: the protobuf-es message, or its init shape (a plain object with the same fields). */
export type WorkerInit = MessageInitShape<typeof WorkerStateSchema>;
/** A hive.v1.Device: the protobuf-es message, or its init shape. */
export type DeviceInit = MessageInitShape<typeof DeviceSchema>;

/**
 * What a hive reports about itself in a full snapshot: the content of a HiveHeartbeatPayload without the fields
 * the agent owns (hive_id, sequence, timestamp, unchanged). Fields may be protobuf-es messages or init shapes.
 */
export interface HiveSnapshot {
  /** Every worker on the hive (may be empty). */
  readonly workers: readonly WorkerInit[];
  /** Capacity of the hive's accelerators (may be empty: the queen then reports no free VRAM). */
  readonly devices: readonly DeviceInit[];
  /** Total RAM of the hive in bytes; omitted when not reported. */
  readonly ramTotalBytes?: bigint;
}

/**
 * Where the agent gets the hive's current state from, once per heartbeat interval: sync or async. A provider
 * that throws or rejects skips that interval's snapshot (the agent logs it and keeps the stream alive).
 */
export type SnapshotProvider = () => HiveSnapshot | Promise<HiveSnapshot>;
