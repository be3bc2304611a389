import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { normalizeLabels } from '../catalog/labels.js';
import type { CatalogRecord } from '../catalog/types.js';
import type { Device, WallTime, Worker, WorkerEntry } from '../common/worker.js';
import type { CatalogHive as ProtoCatalogHive, HiveToken as ProtoHiveToken } from '../../gen/hive/v1/catalog_pb.js';
import type {
  Device as ProtoDevice,
  HiveState,
  QueenInfo as ProtoQueenInfo,
  Resources as ProtoResources,
  WorkerEntry as ProtoWorkerEntry,
  WorkerState,
} from '../../gen/hive/v1/registry_pb.js';
import type { Resources } from '../registry/resources.js';
import type { HiveView } from '../registry/types.js';
import { BACKEND_FROM_PROTO, HEALTH_FROM_PROTO, WORKER_STATUS_FROM_PROTO } from '../server/payload-enums.js';

/**
 * Responses from the queen as the domain's plain types. Lenient where the server is trusted: an enum value this
 * build does not know (a newer queen) reads as 'unspecified' instead of failing the call.
 */

/** A catalog hive as the queen reports it: the durable record plus whether the hive is online now. */
export interface CatalogHive extends CatalogRecord {
  readonly online: boolean;
}

/** A hive as GetHiveState reports it: the registry's view and the queen that owns the hive. */
export interface HiveStateView extends HiveView {
  /** The queen holding the hive's heartbeat stream (`queen_id`); absent from a queen that predates queen ids. */
  readonly queenId?: string;
}

/** A queen serving the fleet, as ListQueens reports it. */
export interface QueenInfo {
  /** Its id (`--queen-id`), which `queenId` of hives and worker entries names. */
  readonly queenId: string;
  /** HOST:PORT where agents and operators reach it (`--advertise`). */
  readonly address: string;
  /** HOST:PORT of its HTTP listener (metrics, dashboard, gateway); '' when it has none. */
  readonly httpAddress: string;
  /** When it started serving, wall-clock ms since the epoch (0 if the queen did not say). */
  readonly startedAtMs: number;
  /** Hives it owns (holds the heartbeat stream of) that are online now. */
  readonly hives: number;
  /** True for the queen that answered. */
  readonly self: boolean;
}

/** One live token of a hive, as ListHiveTokens reports it: never the secret itself. */
export interface HiveToken {
  /** Names the token for revocation; not a secret. */
  readonly tokenId: string;
  /** When the token was issued, wall-clock ms since the epoch (0 if the queen did not say). */
  readonly createdAtMs: number;
  /** When a Heartbeat stream last opened with it, wall-clock ms since the epoch; absent if never. */
  readonly lastUsedAtMs?: number;
}

function wallTime(t: Timestamp): WallTime {
  return { seconds: Number(t.seconds), nanos: t.nanos };
}

function number(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

export function workerFromProto(w: WorkerState): Worker {
  const worker: { -readonly [K in keyof Worker]: Worker[K] } = {
    workerId: w.workerId,
    state: WORKER_STATUS_FROM_PROTO[w.state] ?? 'unspecified',
    url: w.url,
    backend: BACKEND_FROM_PROTO[w.backend] ?? 'unspecified',
    health: HEALTH_FROM_PROTO[w.health] ?? 'unspecified',
  };
  if (w.modelId !== undefined) worker.modelId = w.modelId;
  if (w.deviceId !== undefined) worker.deviceId = w.deviceId;
  if (w.vramBytes !== undefined) worker.vramBytes = number(w.vramBytes);
  if (w.ramBytes !== undefined) worker.ramBytes = number(w.ramBytes);
  if (w.cpuPercent !== undefined) worker.cpuPercent = w.cpuPercent;
  if (w.gpuPercent !== undefined) worker.gpuPercent = w.gpuPercent;
  if (w.lastHeartbeat !== undefined) worker.lastHeartbeat = wallTime(w.lastHeartbeat);
  if (w.maxConcurrency !== undefined) worker.maxConcurrency = w.maxConcurrency;
  if (w.requestsRunning !== undefined) worker.requestsRunning = w.requestsRunning;
  if (w.requestsWaiting !== undefined) worker.requestsWaiting = w.requestsWaiting;
  if (w.kvCacheUsage !== undefined) worker.kvCacheUsage = w.kvCacheUsage;
  if (w.engine !== undefined) worker.engine = w.engine;
  if (w.engineVersion !== undefined) worker.engineVersion = w.engineVersion;
  if (w.contextLength !== undefined) worker.contextLength = w.contextLength;
  if (w.statusMessage !== undefined) worker.statusMessage = w.statusMessage;
  return worker;
}

export function deviceFromProto(d: ProtoDevice): Device {
  return {
    deviceId: d.deviceId,
    backend: BACKEND_FROM_PROTO[d.backend] ?? 'unspecified',
    name: d.name,
    vramTotalBytes: number(d.vramTotalBytes),
  };
}

export function entryFromProto(e: ProtoWorkerEntry): WorkerEntry {
  const entry: WorkerEntry = {
    hiveId: e.hiveId,
    worker: e.worker === undefined ? workerFromProto({ workerId: '' } as WorkerState) : workerFromProto(e.worker),
    hiveOnline: e.hiveOnline,
  };
  // A queen that predates queen ids sends none: left out rather than ''.
  return e.queenId === '' ? entry : { ...entry, queenId: e.queenId };
}

export function resourcesFromProto(r: ProtoResources | undefined): Resources {
  return {
    workerCount: r?.workerCount ?? 0,
    vramUsedBytes: r?.vramUsedBytes ?? 0n,
    ramUsedBytes: r?.ramUsedBytes ?? 0n,
    vramTotalBytes: r?.vramTotalBytes ?? 0n,
    vramFreeBytes: r?.vramFreeBytes ?? 0n,
    ramTotalBytes: r?.ramTotalBytes ?? 0n,
  };
}

export function hiveFromProto(h: HiveState): HiveStateView {
  const view: HiveStateView = {
    hiveId: h.hiveId,
    workers: h.workers.map(workerFromProto),
    devices: h.devices.map(deviceFromProto),
    online: h.online,
    lastHeartbeatWallMs: h.lastHeartbeat === undefined ? 0 : timestampMs(h.lastHeartbeat),
    sequence: h.sequence,
    resources: resourcesFromProto(h.resources),
    ...(h.queenId === '' ? {} : { queenId: h.queenId }),
  };
  return h.senderTimestamp === undefined ? view : { ...view, senderTime: wallTime(h.senderTimestamp) };
}

export function queenFromProto(q: ProtoQueenInfo): QueenInfo {
  return {
    queenId: q.queenId,
    address: q.address,
    httpAddress: q.httpAddress,
    startedAtMs: q.startedAt === undefined ? 0 : timestampMs(q.startedAt),
    hives: q.hives,
    self: q.self,
  };
}

export function catalogHiveFromProto(h: ProtoCatalogHive): CatalogHive {
  const hive: CatalogHive = {
    hiveId: h.hiveId,
    labels: normalizeLabels(h.labels),
    description: h.description,
    createdAtMs: h.createdAt === undefined ? 0 : timestampMs(h.createdAt),
    updatedAtMs: h.updatedAt === undefined ? 0 : timestampMs(h.updatedAt),
    lastPeer: h.lastPeer,
    cordoned: h.cordoned,
    online: h.online,
  };
  return h.lastSeen === undefined ? hive : { ...hive, lastSeenMs: timestampMs(h.lastSeen) };
}

export function hiveTokenFromProto(t: ProtoHiveToken): HiveToken {
  const token: HiveToken = { tokenId: t.tokenId, createdAtMs: t.createdAt === undefined ? 0 : timestampMs(t.createdAt) };
  return t.lastUsedAt === undefined ? token : { ...token, lastUsedAtMs: timestampMs(t.lastUsedAt) };
}
