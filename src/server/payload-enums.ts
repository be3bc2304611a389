import type { Backend, Health, WorkerStatus } from '../common/worker.js';
import {
  Backend as ProtoBackend,
  HealthStatus as ProtoHealth,
  WorkerStatus as ProtoWorkerStatus,
} from '../../gen/hive/v1/registry_pb.js';

/** Wire enums to domain values. A number outside the enum (open enums on the wire) maps to undefined at run time. */

/** Byte figures must be exact in a JavaScript number: 2^53 - 1 bytes (8 PiB) is far above any real device. */
export const MAX_BYTES = BigInt(Number.MAX_SAFE_INTEGER);

export const WORKER_STATUS_FROM_PROTO: Readonly<Record<ProtoWorkerStatus, WorkerStatus>> = {
  [ProtoWorkerStatus.UNSPECIFIED]: 'unspecified',
  [ProtoWorkerStatus.IDLE]: 'idle',
  [ProtoWorkerStatus.BUSY]: 'busy',
  [ProtoWorkerStatus.LOADING]: 'loading',
  [ProtoWorkerStatus.ERROR]: 'error',
  [ProtoWorkerStatus.STOPPING]: 'stopping',
};

export const BACKEND_FROM_PROTO: Readonly<Record<ProtoBackend, Backend>> = {
  [ProtoBackend.UNSPECIFIED]: 'unspecified',
  [ProtoBackend.CPU]: 'cpu',
  [ProtoBackend.CUDA]: 'cuda',
  [ProtoBackend.METAL]: 'metal',
  [ProtoBackend.ROCM]: 'rocm',
};

export const HEALTH_FROM_PROTO: Readonly<Record<ProtoHealth, Health>> = {
  [ProtoHealth.UNSPECIFIED]: 'unspecified',
  [ProtoHealth.HEALTHY]: 'healthy',
  [ProtoHealth.DEGRADED]: 'degraded',
};

