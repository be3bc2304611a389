import type { Duration, Timestamp } from '@bufbuild/protobuf/wkt';
import { DomainError } from '../common/domain-error.js';
import { MAX_CONCURRENCY, type Device, type WallTime, type Worker } from '../common/worker.js';
import {
  type Device as ProtoDevice,
  type HiveHeartbeatPayload,
  type WorkerState,
} from '../../gen/hive/v1/registry_pb.js';
import type { Heartbeat, KnownSnapshot } from '../registry/types.js';
import { checkId, checkModelId, codePoints, quote } from '../registry/ids.js';
import { checkEngineFields, type ProblemSink } from './engine-fields.js';
import { knownDevice, knownWorker, sameDevice, sameWorker } from './known-snapshot.js';
import { BACKEND_FROM_PROTO, HEALTH_FROM_PROTO, MAX_BYTES, WORKER_STATUS_FROM_PROTO } from './payload-enums.js';

/** Limits on what one heartbeat payload may carry. */
export interface PayloadLimits {
  /** Most workers one payload may list. */
  readonly maxWorkersPerHive: number;
  /** Most devices one payload may list. */
  readonly maxDevicesPerHive: number;
}

/** Longest worker URL, in characters. */
export const MAX_URL_LENGTH = 2048;
/** Longest device name, in characters. */
export const MAX_DEVICE_NAME_LENGTH = 256;
/** How many problems one rejection lists before it stops counting. */
const MAX_PROBLEMS = 8;

// google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

/** Collects field problems so one rejection can name several, in field order. */
class Problems implements ProblemSink {
  readonly list: string[] = [];
  add(problem: string | undefined): void {
    if (problem !== undefined && this.list.length < MAX_PROBLEMS) this.list.push(problem);
  }
  get full(): boolean {
    return this.list.length >= MAX_PROBLEMS;
  }
}

/** Maps a wire enum number to the domain value; numbers outside the enum (open enums on the wire) are problems. */
function enumValue<T>(
  table: Readonly<Record<number, T>>,
  enumName: string,
  field: string,
  value: number,
  problems: Problems,
): T | undefined {
  const mapped = table[value];
  if (mapped === undefined) problems.add(`${field}: ${value} is not a ${enumName} value`);
  return mapped;
}

function wallTime(field: string, value: Timestamp | undefined, problems: Problems): WallTime | undefined {
  if (value === undefined) return undefined;
  if (value.seconds < MIN_TIMESTAMP_SECONDS || value.seconds > MAX_TIMESTAMP_SECONDS) {
    problems.add(`${field}: seconds must be within years 1 to 9999, got ${value.seconds}`);
    return undefined;
  }
  if (value.nanos < 0 || value.nanos > 999_999_999) {
    problems.add(`${field}: nanos must be 0 to 999999999, got ${value.nanos}`);
    return undefined;
  }
  return { seconds: Number(value.seconds), nanos: value.nanos };
}

function bytes(field: string, value: bigint | undefined, problems: Problems): number | undefined {
  if (value === undefined) return undefined;
  if (value > MAX_BYTES) {
    problems.add(`${field}: must be at most ${MAX_BYTES} bytes, got ${value}`);
    return undefined;
  }
  return Number(value);
}

function concurrency(field: string, value: number | undefined, problems: Problems): number | undefined {
  if (value === undefined) return undefined;
  if (value < 1 || value > MAX_CONCURRENCY) {
    problems.add(`${field}: must be from 1 to ${MAX_CONCURRENCY} (absent means 1), got ${value}`);
    return undefined;
  }
  return value;
}

function percent(field: string, value: number | undefined, problems: Problems): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0 || value > 100) {
    problems.add(`${field}: must be a number from 0 to 100, got ${value}`);
    return undefined;
  }
  return value;
}

/** An absolute http(s) URL with a host, at most MAX_URL_LENGTH characters. */
export function checkUrl(field: string, value: string): string | undefined {
  if (value.length === 0) return `${field}: must be an absolute http(s) URL, got ""`;
  // value.length counts UTF-16 units: only a string longer than the limit in units can be too long in characters.
  if (value.length > MAX_URL_LENGTH && codePoints(value) > MAX_URL_LENGTH) {
    return `${field}: must be at most ${MAX_URL_LENGTH} characters, got ${codePoints(value)}`;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${field}: must be an absolute http(s) URL, got ${quote(value)}`;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    return `${field}: must be an absolute http(s) URL, got ${quote(value)}`;
  }
  return undefined;
}

function worker(field: string, w: WorkerState, problems: Problems): Worker {
  problems.add(checkId(`${field}.worker_id`, w.workerId));
  problems.add(checkUrl(`${field}.url`, w.url));
  if (w.modelId !== undefined) problems.add(checkModelId(`${field}.model_id`, w.modelId));
  const state = enumValue(WORKER_STATUS_FROM_PROTO, 'WorkerStatus', `${field}.state`, w.state, problems);
  const backend = enumValue(BACKEND_FROM_PROTO, 'Backend', `${field}.backend`, w.backend, problems);
  const health = enumValue(HEALTH_FROM_PROTO, 'HealthStatus', `${field}.health`, w.health, problems);
  // Every key is always present (undefined when not reported) so that all workers share one object shape: V8
  // keeps such objects compact and property reads on the scheduling path monomorphic.
  const worker: Worker = {
    workerId: w.workerId,
    state: state ?? 'unspecified',
    url: w.url,
    modelId: w.modelId,
    backend: backend ?? 'unspecified',
    deviceId: w.deviceId,
    vramBytes: bytes(`${field}.vram_bytes`, w.vramBytes, problems),
    ramBytes: bytes(`${field}.ram_bytes`, w.ramBytes, problems),
    cpuPercent: percent(`${field}.cpu_percent`, w.cpuPercent, problems),
    gpuPercent: percent(`${field}.gpu_percent`, w.gpuPercent, problems),
    health: health ?? 'unspecified',
    lastHeartbeat: wallTime(`${field}.last_heartbeat`, w.lastHeartbeat, problems),
    maxConcurrency: concurrency(`${field}.max_concurrency`, w.maxConcurrency, problems),
    requestsRunning: w.requestsRunning,
    requestsWaiting: w.requestsWaiting,
    kvCacheUsage: w.kvCacheUsage,
    engine: w.engine,
    engineVersion: w.engineVersion,
    contextLength: w.contextLength,
    statusMessage: w.statusMessage,
  };
  // A worker with a problem is never used: the whole payload is rejected.
  checkEngineFields(field, w, problems);
  return worker;
}

function device(field: string, d: ProtoDevice, problems: Problems): Device {
  if (d.name.length > MAX_DEVICE_NAME_LENGTH && codePoints(d.name) > MAX_DEVICE_NAME_LENGTH) {
    problems.add(`${field}.name: must be at most ${MAX_DEVICE_NAME_LENGTH} characters, got ${codePoints(d.name)}`);
  }
  const backend = enumValue(BACKEND_FROM_PROTO, 'Backend', `${field}.backend`, d.backend, problems);
  return {
    deviceId: d.deviceId,
    backend: backend ?? 'unspecified',
    name: d.name,
    vramTotalBytes: bytes(`${field}.vram_total_bytes`, d.vramTotalBytes, problems) ?? 0,
  };
}

/**
 * Converts and validates one heartbeat payload. Throws DomainError('invalid_argument') naming every problem
 * found (up to a few), field by field: `workers[3].url: must be an absolute http(s) URL, got "localhost:9300"`.
 * Semantic checks that need the registry (sequence, ownership, duplicates) are the registry's. `known` is the
 * payload's hive's last accepted snapshot, when the caller has it: a worker or device sent again unchanged is
 * taken from it as it is (see known-snapshot.ts), so the result is the same, only cheaper.
 */
export function payloadToHeartbeat(payload: HiveHeartbeatPayload, limits: PayloadLimits, known?: KnownSnapshot): Heartbeat {
  const problems = new Problems();
  problems.add(checkId('hive_id', payload.hiveId));
  const senderTime = wallTime('timestamp', payload.timestamp, problems);
  if (payload.workers.length > limits.maxWorkersPerHive) {
    problems.add(`workers: at most ${limits.maxWorkersPerHive} per hive, got ${payload.workers.length}`);
  }
  if (payload.devices.length > limits.maxDevicesPerHive) {
    problems.add(`devices: at most ${limits.maxDevicesPerHive} per hive, got ${payload.devices.length}`);
  }
  const ramTotalBytes = bytes('ram_total_bytes', payload.ramTotalBytes, problems);
  const workers: Worker[] = [];
  const devices: Device[] = [];
  if (!problems.full && payload.workers.length <= limits.maxWorkersPerHive) {
    for (let i = 0; i < payload.workers.length; i++) {
      const w = payload.workers[i] as WorkerState;
      const same = known === undefined ? undefined : knownWorker(known, i, w.workerId);
      workers.push(same !== undefined && sameWorker(same, w) ? same : worker(`workers[${i}]`, w, problems));
      if (problems.full) break;
    }
  }
  if (!problems.full && payload.devices.length <= limits.maxDevicesPerHive) {
    for (let i = 0; i < payload.devices.length; i++) {
      const d = payload.devices[i] as ProtoDevice;
      const same = known === undefined ? undefined : knownDevice(known, i, d.deviceId);
      devices.push(same !== undefined && sameDevice(same, d) ? same : device(`devices[${i}]`, d, problems));
      if (problems.full) break;
    }
  }
  if (problems.list.length > 0) {
    throw new DomainError('invalid_argument', problems.list.join('; '));
  }
  return {
    hiveId: payload.hiveId,
    senderTime,
    sequence: payload.sequence,
    unchanged: payload.unchanged,
    workers,
    devices,
    ramTotalBytes,
  };
}

/** A Duration as milliseconds; `field` must be positive. Used for max_age. */
/** A Duration in milliseconds, or INVALID_ARGUMENT naming `field` when it is not a valid Duration. */
export function durationMs(field: string, value: Duration): number {
  const { seconds, nanos } = value;
  if (nanos < -999_999_999 || nanos > 999_999_999 || (seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) {
    throw new DomainError('invalid_argument', `${field}: not a valid Duration (seconds ${seconds}, nanos ${nanos})`);
  }
  return Number(seconds) * 1000 + nanos / 1e6;
}

export function positiveDurationMs(field: string, value: Duration): number {
  const ms = durationMs(field, value);
  if (!(ms > 0)) {
    throw new DomainError('invalid_argument', `${field}: must be positive, got ${ms / 1000}s`);
  }
  return ms;
}
