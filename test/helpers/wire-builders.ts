import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  Backend,
  HealthStatus,
  WorkerStatus,
  type Device,
  type DeviceSchema,
  type HiveHeartbeatPayload,
  type WorkerState,
  type WorkerStateSchema,
} from '../../gen/hive/v1/registry_pb';
import type { PayloadInit } from './client';

export type WorkerInit = MessageInitShape<typeof WorkerStateSchema>;
export type DeviceInit = MessageInitShape<typeof DeviceSchema>;

/** Plain field overrides of a message (no protobuf-es bookkeeping keys). */
type Fields<T> = Partial<Omit<T, '$typeName' | '$unknown'>>;
/** Overrides of a payload; nested workers and devices may be init objects too. */
export type PayloadOverrides = Fields<Omit<HiveHeartbeatPayload, 'workers' | 'devices'>> & {
  workers?: WorkerInit[];
  devices?: DeviceInit[];
};

/** A wire WorkerState: idle, healthy, CUDA, with a valid URL; any field can be overridden. */
export function wireWorker(workerId: string, overrides: Fields<WorkerState> = {}): WorkerInit {
  return {
    workerId,
    state: WorkerStatus.IDLE,
    url: `http://10.0.0.1:9300/${workerId}`,
    backend: Backend.CUDA,
    health: HealthStatus.HEALTHY,
    ...overrides,
  };
}

/** A wire Device of `vramTotalBytes`. */
export function wireDevice(deviceId: number, vramTotalBytes: bigint, overrides: Fields<Device> = {}): DeviceInit {
  return { deviceId, backend: Backend.CUDA, name: `gpu-${deviceId}`, vramTotalBytes, ...overrides };
}

/** A full-snapshot payload (unchanged = false). */
export function snapshotPayload(
  hiveId: string,
  sequence: number | bigint,
  workers: readonly WorkerInit[] = [],
  overrides: PayloadOverrides = {},
): PayloadInit {
  return { hiveId, sequence: BigInt(sequence), workers: [...workers], ...overrides };
}

/** A liveness tick (unchanged = true, no workers, no devices). */
export function tickPayload(hiveId: string, sequence: number | bigint, overrides: PayloadOverrides = {}): PayloadInit {
  return { hiveId, sequence: BigInt(sequence), unchanged: true, ...overrides };
}
