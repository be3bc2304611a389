import type { Timestamp } from '@bufbuild/protobuf/wkt';
import type { Device, WallTime, Worker } from '../common/worker.js';
import type { Device as ProtoDevice, WorkerState } from '../../gen/hive/v1/registry_pb.js';
import type { KnownSnapshot } from '../registry/types.js';
import { compareIds } from '../registry/ids.js';
import { BACKEND_FROM_PROTO, HEALTH_FROM_PROTO, WORKER_STATUS_FROM_PROTO } from './payload-enums.js';

/**
 * A full snapshot mostly repeats what its hive last sent: an agent sends one when something changed, and it is
 * usually one worker of many. A wire worker equal, field by field, to the one the hive's last accepted snapshot
 * holds under its id is that worker: the same values passed every check then, and the checks are pure functions of
 * the values, so the accepted object is reused as it is (no validation, no new object). Downstream, the registry's
 * diff and the scheduler's index see the very same object and skip it. Anything that differs, however slightly, goes
 * the whole way through validation.
 */

/** The worker of `known` (sorted by id) with `workerId`: at `index` when the hive keeps its order, else searched. */
export function knownWorker(known: KnownSnapshot, index: number, workerId: string): Worker | undefined {
  const workers = known.workers;
  const at = workers[index];
  if (at !== undefined && at.workerId === workerId) return at;
  let low = 0;
  let high = workers.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const worker = workers[middle] as Worker;
    const order = compareIds(worker.workerId, workerId);
    if (order === 0) return worker;
    if (order < 0) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

/** The device of `known` (sorted by id) with `deviceId`, at `index` when the hive keeps its order. */
export function knownDevice(known: KnownSnapshot, index: number, deviceId: number): Device | undefined {
  const at = known.devices[index];
  if (at !== undefined && at.deviceId === deviceId) return at;
  return known.devices.find((device) => device.deviceId === deviceId);
}

/**
 * True when `w` carries exactly the values of the accepted `known` worker (same id assumed). Every Worker field is
 * compared: SAME_FIELDS makes a field added to Worker a compile error until it is compared here.
 */
export function sameWorker(known: Worker, w: WorkerState): boolean {
  return (
    known.url === w.url &&
    known.state === WORKER_STATUS_FROM_PROTO[w.state] &&
    known.modelId === w.modelId &&
    known.backend === BACKEND_FROM_PROTO[w.backend] &&
    known.health === HEALTH_FROM_PROTO[w.health] &&
    known.deviceId === w.deviceId &&
    sameBytes(known.vramBytes, w.vramBytes) &&
    sameBytes(known.ramBytes, w.ramBytes) &&
    known.cpuPercent === w.cpuPercent &&
    known.gpuPercent === w.gpuPercent &&
    sameTime(known.lastHeartbeat, w.lastHeartbeat) &&
    known.maxConcurrency === w.maxConcurrency &&
    known.requestsRunning === w.requestsRunning &&
    known.requestsWaiting === w.requestsWaiting &&
    known.kvCacheUsage === w.kvCacheUsage &&
    known.engine === w.engine &&
    known.engineVersion === w.engineVersion &&
    known.contextLength === w.contextLength &&
    known.statusMessage === w.statusMessage
  );
}

/** True when `d` carries exactly the values of the accepted `known` device (same id assumed). */
export function sameDevice(known: Device, d: ProtoDevice): boolean {
  return (
    known.name === d.name &&
    known.backend === BACKEND_FROM_PROTO[d.backend] &&
    (d.vramTotalBytes === undefined ? known.vramTotalBytes === 0 : sameBytes(known.vramTotalBytes, d.vramTotalBytes))
  );
}

/** Every field of Worker, as sameWorker compares it (workerId by the lookup): listed so that a new field must be. */
const SAME_FIELDS: Readonly<Record<keyof Worker, true>> = {
  workerId: true,
  state: true,
  url: true,
  modelId: true,
  backend: true,
  deviceId: true,
  vramBytes: true,
  ramBytes: true,
  cpuPercent: true,
  gpuPercent: true,
  health: true,
  lastHeartbeat: true,
  maxConcurrency: true,
  requestsRunning: true,
  requestsWaiting: true,
  kvCacheUsage: true,
  engine: true,
  engineVersion: true,
  contextLength: true,
  statusMessage: true,
};
void SAME_FIELDS;

/**
 * An accepted byte count and a wire one, equal. The accepted one is at most MAX_BYTES (2^53 - 1), where Number() of
 * a bigint is exact; a wire value above it converts to 2^53 or more, so it never equals an accepted one.
 */
function sameBytes(known: number | undefined, wire: bigint | undefined): boolean {
  if (known === undefined || wire === undefined) return known === wire;
  return Number(wire) === known;
}

function sameTime(known: WallTime | undefined, wire: Timestamp | undefined): boolean {
  if (known === undefined || wire === undefined) return known === wire;
  return wire.nanos === known.nanos && Number(wire.seconds) === known.seconds;
}
