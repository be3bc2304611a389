import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  Backend,
  DeviceSchema,
  HealthStatus,
  HiveHeartbeatPayloadSchema,
  WorkerStateSchema,
  WorkerStatus,
  type Device,
  type HiveHeartbeatPayload,
  type WorkerState,
} from '../gen/hive/v1/registry_pb.js';

/**
 * A synthetic but realistic fleet, the same in every process of the benchmark: hive `i` has 4 GPUs and 8 workers
 * (two per GPU) with every field a real hive reports. Deterministic, so the server, the load generators and the
 * in-process benchmark agree on ids, sizes and which model is where.
 */

/** Workers per hive. */
export const WORKERS_PER_HIVE = 8;
/** GPUs per hive. */
export const DEVICES_PER_HIVE = 4;

const GIB = 1024n * 1024n * 1024n;
/** A fixed wall time for reported timestamps, so payload sizes do not drift with the date. */
const REPORTED_AT_MS = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Models loaded across the fleet; each appears on about 1/12 of the workers. */
export const MODELS = [
  'meta-llama/Llama-3.1-8B-Instruct',
  'meta-llama/Llama-3.1-70B-Instruct',
  'mistralai/Mistral-7B-Instruct-v0.3',
  'mistralai/Mixtral-8x7B-Instruct-v0.1',
  'Qwen/Qwen2.5-7B-Instruct',
  'Qwen/Qwen2.5-32B-Instruct',
  'google/gemma-2-9b-it',
  'google/gemma-2-27b-it',
  'microsoft/Phi-3.5-mini-instruct',
  'deepseek-ai/DeepSeek-R1-Distill-Qwen-14B',
  'tiiuae/falcon-7b-instruct',
  'bigcode/starcoder2-15b',
] as const;

/** The model scheduling requests ask for. */
export const SCHEDULED_MODEL = MODELS[0];

/** Id of hive `i`: `hive-00042`. */
export function hiveId(i: number): string {
  return `hive-${String(i).padStart(5, '0')}`;
}

/** Id of worker `j` of hive `i`: `hive-00042-w3`. */
export function workerId(i: number, j: number): string {
  return `${hiveId(i)}-w${j}`;
}

/** A cheap deterministic pseudo-random 0-99 from two small integers. */
function spread(i: number, j: number): number {
  return (i * 37 + j * 11 + ((i * j) % 7)) % 100;
}

/**
 * Worker `j` of hive `i`. Workers 0-3 are idle, 4-5 busy, 6 loading, all with a model loaded; worker 7 is idle
 * with no model (so it reports no model, VRAM or GPU load, as a real idle process does). One hive in 50 has a
 * degraded worker 0.
 */
export function wireWorker(i: number, j: number): WorkerState {
  const state = j <= 3 || j === 7 ? WorkerStatus.IDLE : j <= 5 ? WorkerStatus.BUSY : WorkerStatus.LOADING;
  const base = {
    workerId: workerId(i, j),
    state,
    url: `http://10.${(i >> 8) & 255}.${i & 255}.1:${9300 + j}/v1`,
    backend: Backend.CUDA,
    ramBytes: BigInt(2 + (j % 4)) * GIB,
    cpuPercent: spread(i, j + 3) / 2,
    health: i % 50 === 0 && j === 0 ? HealthStatus.DEGRADED : HealthStatus.HEALTHY,
    lastHeartbeat: timestampFromMs(REPORTED_AT_MS - j * 137),
  };
  if (j === 7) return create(WorkerStateSchema, base);
  return create(WorkerStateSchema, {
    ...base,
    modelId: MODELS[(i + j) % MODELS.length],
    deviceId: j % DEVICES_PER_HIVE,
    vramBytes: BigInt(12 + (j % 3) * 4) * GIB,
    gpuPercent: spread(i, j),
  });
}

/** Device `d` of every hive: an 80 GiB A100. */
export function wireDevice(d: number): Device {
  return create(DeviceSchema, {
    deviceId: d,
    backend: Backend.CUDA,
    name: 'NVIDIA A100-SXM4-80GB',
    vramTotalBytes: 80n * GIB,
  });
}

/** Every worker of hive `i`. */
export function wireWorkers(i: number): WorkerState[] {
  return Array.from({ length: WORKERS_PER_HIVE }, (_, j) => wireWorker(i, j));
}

/** Every device of a hive. */
export function wireDevices(): Device[] {
  return Array.from({ length: DEVICES_PER_HIVE }, (_, d) => wireDevice(d));
}

/** A full snapshot of hive `i` (8 workers, 4 devices, RAM total, sender timestamp). */
export function snapshotPayload(
  i: number,
  sequence: bigint,
  workers = wireWorkers(i),
  devices = wireDevices(),
): HiveHeartbeatPayload {
  return create(HiveHeartbeatPayloadSchema, {
    hiveId: hiveId(i),
    timestamp: timestampFromMs(REPORTED_AT_MS),
    workers,
    sequence,
    devices,
    ramTotalBytes: 512n * GIB,
  });
}

/** A liveness tick of hive `i`. */
export function tickPayload(i: number, sequence: bigint): HiveHeartbeatPayload {
  return create(HiveHeartbeatPayloadSchema, {
    hiveId: hiveId(i),
    timestamp: timestampFromMs(REPORTED_AT_MS),
    sequence,
    unchanged: true,
  });
}
