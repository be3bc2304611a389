import { create } from '@bufbuild/protobuf';
import { type Timestamp, TimestampSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Backend, Device, Health, WallTime, Worker, WorkerEntry, WorkerStatus } from '../common/worker.js';
import {
  Backend as ProtoBackend,
  DeviceSchema,
  HealthStatus as ProtoHealth,
  QueenInfoSchema,
  ResourcesSchema,
  WorkerEntrySchema,
  WorkerStateSchema,
  WorkerStatus as ProtoWorkerStatus,
  type Device as ProtoDevice,
  type QueenInfo,
  type Resources as ProtoResources,
  type WorkerEntry as ProtoWorkerEntry,
  type WorkerState,
} from '../../gen/hive/v1/registry_pb.js';
import type { Resources } from '../registry/resources.js';
import type { QueenIdentity } from './queen-identity.js';

const WORKER_STATUS_TO_PROTO: Readonly<Record<WorkerStatus, ProtoWorkerStatus>> = {
  unspecified: ProtoWorkerStatus.UNSPECIFIED,
  idle: ProtoWorkerStatus.IDLE,
  busy: ProtoWorkerStatus.BUSY,
  loading: ProtoWorkerStatus.LOADING,
  error: ProtoWorkerStatus.ERROR,
  stopping: ProtoWorkerStatus.STOPPING,
};

export const BACKEND_TO_PROTO: Readonly<Record<Backend, ProtoBackend>> = {
  unspecified: ProtoBackend.UNSPECIFIED,
  cpu: ProtoBackend.CPU,
  cuda: ProtoBackend.CUDA,
  metal: ProtoBackend.METAL,
  rocm: ProtoBackend.ROCM,
};

const HEALTH_TO_PROTO: Readonly<Record<Health, ProtoHealth>> = {
  unspecified: ProtoHealth.UNSPECIFIED,
  healthy: ProtoHealth.HEALTHY,
  degraded: ProtoHealth.DEGRADED,
};

/** The largest value a uint32 count field can carry; counts above it are clamped rather than wrapped. */
const MAX_UINT32 = 0xffff_ffff;
/** The largest value a uint64 field can carry. */
const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

export function uint32(count: number): number {
  return Math.min(count, MAX_UINT32);
}

function uint64(value: bigint): bigint {
  return value > MAX_UINT64 ? MAX_UINT64 : value;
}

export function wallTimeToProto(time: WallTime): Timestamp {
  return create(TimestampSchema, { seconds: BigInt(time.seconds), nanos: time.nanos });
}

export function wallMsToProto(ms: number): Timestamp {
  return timestampFromMs(Math.floor(ms));
}

export function workerToProto(w: Worker): WorkerState {
  return create(WorkerStateSchema, {
    workerId: w.workerId,
    state: WORKER_STATUS_TO_PROTO[w.state],
    url: w.url,
    modelId: w.modelId,
    backend: BACKEND_TO_PROTO[w.backend],
    deviceId: w.deviceId,
    vramBytes: w.vramBytes === undefined ? undefined : BigInt(w.vramBytes),
    ramBytes: w.ramBytes === undefined ? undefined : BigInt(w.ramBytes),
    cpuPercent: w.cpuPercent,
    gpuPercent: w.gpuPercent,
    health: HEALTH_TO_PROTO[w.health],
    lastHeartbeat: w.lastHeartbeat === undefined ? undefined : wallTimeToProto(w.lastHeartbeat),
    maxConcurrency: w.maxConcurrency,
    requestsRunning: w.requestsRunning,
    requestsWaiting: w.requestsWaiting,
    kvCacheUsage: w.kvCacheUsage,
    engine: w.engine,
    engineVersion: w.engineVersion,
    contextLength: w.contextLength,
    statusMessage: w.statusMessage,
  });
}

export function deviceToProto(d: Device): ProtoDevice {
  return create(DeviceSchema, {
    deviceId: d.deviceId,
    backend: BACKEND_TO_PROTO[d.backend],
    name: d.name,
    vramTotalBytes: BigInt(d.vramTotalBytes),
  });
}

/** `queenId`: the answering queen, the owner of the entry's hive unless the entry names another. */
export function entryToProto(entry: WorkerEntry, queenId: string): ProtoWorkerEntry {
  return create(WorkerEntrySchema, {
    hiveId: entry.hiveId,
    worker: workerToProto(entry.worker),
    hiveOnline: entry.hiveOnline,
    queenId: entry.queenId ?? queenId,
  });
}

export function resourcesToProto(r: Resources): ProtoResources {
  return create(ResourcesSchema, {
    workerCount: uint32(r.workerCount),
    vramUsedBytes: uint64(r.vramUsedBytes),
    ramUsedBytes: uint64(r.ramUsedBytes),
    vramTotalBytes: uint64(r.vramTotalBytes),
    vramFreeBytes: uint64(r.vramFreeBytes),
    ramTotalBytes: uint64(r.ramTotalBytes),
  });
}

/** A queen as ListQueens reports it: `hives` = the online hives it owns, `self` = it is the one answering. */
export function queenToProto(queen: QueenIdentity, hives: number, self: boolean): QueenInfo {
  return create(QueenInfoSchema, {
    queenId: queen.queenId,
    address: queen.address,
    httpAddress: queen.httpAddress,
    startedAt: wallMsToProto(queen.startedAtWallMs),
    hives: uint32(hives),
    self,
  });
}
