import type { Duration } from '@bufbuild/protobuf/wkt';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import type { Backend, WorkerEntry } from '../common/worker.js';
import {
  Backend as ProtoBackend,
  FindIdleWorkersResponseSchema,
  FindWorkersByBackendResponseSchema,
  FindWorkersByModelResponseSchema,
  GetAvailableResourcesResponseSchema,
  GetWorkerCountResponseSchema,
  GetWorkerResponseSchema,
  GetWorkersOnHiveResponseSchema,
  GetWorkerUrlResponseSchema,
  HiveCountResponseSchema,
  IsHiveOnlineResponseSchema,
  ListActiveHivesResponseSchema,
  ListAllHivesResponseSchema,
  ListAllWorkersResponseSchema,
  ListQueensResponseSchema,
  ReleaseWorkerResponseSchema,
  RemoveHiveResponseSchema,
  ReportWorkerFailureResponseSchema,
  TotalWorkerCountResponseSchema,
  type FindBestWorkerForModelRequest,
  type FindIdleWorkersRequest,
  type FindWorkersByBackendRequest,
  type FindWorkersByModelRequest,
  type GetAvailableResourcesRequest,
  type GetHiveStateRequest,
  type GetWorkerCountRequest,
  type GetWorkerRequest,
  type GetWorkersOnHiveRequest,
  type GetWorkerUrlRequest,
  type IsHiveOnlineRequest,
  type ListActiveHivesRequest,
  type ReleaseWorkerRequest,
  type RemoveHiveRequest,
  type ReportWorkerFailureRequest,
} from '../../gen/hive/v1/registry_pb.js';
import type { Clock } from '../common/clock.js';
import { checkLabels } from '../catalog/labels.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { HiveView } from '../registry/types.js';
import { quote } from '../registry/ids.js';
import type { PickRequest } from '../scheduler/pick-worker.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';
import {
  entryToProto,
  queenToProto,
  resourcesToProto,
  uint32,
  wallMsToProto,
  workerToProto,
} from './domain-to-proto.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';
import type { WatchStreams } from './watch-streams.js';
import { BACKEND_FROM_PROTO } from './payload-enums.js';
import { durationMs, positiveDurationMs } from './payload-to-heartbeat.js';
import { noPick } from './pick-outcome.js';
import type { QueenRecord } from '../federation/queen-directory.js';
import type { QueenIdentity } from './queen-identity.js';
import { requireId, requireModelId, requireValid, unary, unaryEncoded } from './unary.js';
import { findBestResponseBytes, getHiveStateResponseBytes } from './wire-splice.js';

/** The federation as the registry's RPCs see it: its live queens, and removal of another queen's hive. */
export interface FleetMembership {
  /** Every live queen, sorted by queen id, this one included. */
  queens(): readonly QueenRecord[];
  /** Removes a hive another queen owns from every queen; rejects `unavailable` when etcd does not answer. */
  removeRemote(hiveId: string): Promise<void>;
}

/** Default and longest life of a reservation without ReleaseWorker. */
export const DEFAULT_RESERVATION_TTL_MS = 30_000;
export const MAX_RESERVATION_TTL_MS = 600_000;
/** Longest failure reason kept (it is only logged). */
const MAX_REASON_LENGTH = 1_024;
/** Reservation ids are issued as UUIDs; anything printable up to this length is looked up. */
const RESERVATION_ID = /^[\x21-\x7e]{1,128}$/;

/** FindBestWorkerForModel's request in the scheduler's terms, or INVALID_ARGUMENT naming the field. */
function pickRequestOf(req: FindBestWorkerForModelRequest): PickRequest {
  const modelId = requireModelId('model_id', req.modelId);
  let reservationTtlMs = DEFAULT_RESERVATION_TTL_MS;
  if (req.reservationTtl !== undefined) {
    const ms = durationMs('reservation_ttl', req.reservationTtl);
    if (!(ms > 0) || ms > MAX_RESERVATION_TTL_MS) {
      throw new DomainError(
        'invalid_argument',
        `reservation_ttl: must be more than 0 and at most ${MAX_RESERVATION_TTL_MS / 60_000} min, got ${ms} ms`,
      );
    }
    reservationTtlMs = ms;
  }
  if (req.minVramBytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DomainError('invalid_argument', `min_vram_bytes: must be at most ${Number.MAX_SAFE_INTEGER}, got ${req.minVramBytes}`);
  }
  requireValid(checkLabels('selector', req.selector));
  return { modelId, reserve: req.reserve, reservationTtlMs, minVramBytes: Number(req.minVramBytes), selector: req.selector };
}

function maxAgeMs(value: Duration | undefined): number | undefined {
  return value === undefined ? undefined : positiveDurationMs('max_age', value);
}

function requireBackend(value: ProtoBackend): Backend {
  const backend = BACKEND_FROM_PROTO[value];
  if (backend === undefined) throw new DomainError('invalid_argument', `backend: ${value} is not a Backend value`);
  if (backend === 'unspecified') {
    throw new DomainError('invalid_argument', 'backend: must be set (BACKEND_UNSPECIFIED matches no worker)');
  }
  return backend;
}

/**
 * The unary RPCs of hive.v1.HiveRegistry, plus the Heartbeat and Watch streams' handlers. `self` is this queen
 * (set once its port is bound, before any call is read): on its own, it owns every hive in the registry.
 */
export function registryService(
  registry: HiveRegistry,
  scheduling: SchedulingIndex,
  streams: HeartbeatStreams,
  watches: WatchStreams,
  logger: Logger,
  clock: Clock,
  self: () => QueenIdentity,
  federation: () => FleetMembership | undefined = () => undefined,
): UntypedServiceImplementation {
  const hiveOrNotFound = (hiveId: string): HiveView => {
    const hive = registry.getHive(requireId('hive_id', hiveId));
    if (hive === undefined) throw new DomainError('not_found', `hive_id: no hive ${quote(hiveId)} in the registry`);
    return hive;
  };
  const workerOrNotFound = (workerId: string) => {
    const entry = registry.findWorker(requireId('worker_id', workerId));
    if (entry === undefined) {
      throw new DomainError('not_found', `worker_id: no worker ${quote(workerId)} in the registry`);
    }
    return entry;
  };
  const entriesToProto = (entries: readonly WorkerEntry[]) => {
    const { queenId } = self();
    return entries.map((entry) => entryToProto(entry, queenId));
  };

  return {
    heartbeat: streams.handle,
    watch: watches.handle,

    getHiveState: unaryEncoded('GetHiveState', logger, (req: GetHiveStateRequest) =>
      getHiveStateResponseBytes(hiveOrNotFound(req.hiveId), self().queenId),
    ),

    listActiveHives: unary('ListActiveHives', logger, ListActiveHivesResponseSchema, (req: ListActiveHivesRequest) => ({
      hiveIds: registry.activeHiveIds(maxAgeMs(req.maxAge)),
    })),

    listAllHives: unary('ListAllHives', logger, ListAllHivesResponseSchema, () => ({
      hiveIds: [...registry.allHiveIds()],
    })),

    getAvailableResources: unary(
      'GetAvailableResources',
      logger,
      GetAvailableResourcesResponseSchema,
      (req: GetAvailableResourcesRequest) => ({ resources: resourcesToProto(hiveOrNotFound(req.hiveId).resources) }),
    ),

    removeHive: unary('RemoveHive', logger, RemoveHiveResponseSchema, (req: RemoveHiveRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      const members = federation();
      if (members !== undefined && registry.ownerOf(hiveId) !== undefined) {
        // Another queen's hive: the removal goes through etcd to every queen, its owner included (which ends the
        // stream); here it goes at once.
        return members.removeRemote(hiveId).then(() => {
          streams.removeHive(hiveId, 'was removed from the federation');
          return { removed: true };
        });
      }
      return { removed: streams.removeHive(hiveId, 'was removed from the registry') };
    }),

    getWorkerCount: unary('GetWorkerCount', logger, GetWorkerCountResponseSchema, (req: GetWorkerCountRequest) => ({
      count: uint32(hiveOrNotFound(req.hiveId).workers.length),
    })),

    isHiveOnline: unary('IsHiveOnline', logger, IsHiveOnlineResponseSchema, (req: IsHiveOnlineRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      return { online: registry.isHiveOnline(hiveId, maxAgeMs(req.maxAge)) };
    }),

    hiveCount: unary('HiveCount', logger, HiveCountResponseSchema, () => ({ count: uint32(registry.hiveCount) })),

    getWorker: unary('GetWorker', logger, GetWorkerResponseSchema, (req: GetWorkerRequest) => ({
      entry: entryToProto(workerOrNotFound(req.workerId), self().queenId),
    })),

    getWorkerUrl: unary('GetWorkerUrl', logger, GetWorkerUrlResponseSchema, (req: GetWorkerUrlRequest) => {
      const entry = workerOrNotFound(req.workerId);
      return { url: entry.worker.url, hiveId: entry.hiveId };
    }),

    listAllWorkers: unary('ListAllWorkers', logger, ListAllWorkersResponseSchema, () => ({
      workers: entriesToProto(registry.listWorkers(() => true, true)),
    })),

    findIdleWorkers: unary('FindIdleWorkers', logger, FindIdleWorkersResponseSchema, (req: FindIdleWorkersRequest) => ({
      workers: entriesToProto(registry.listWorkers((w) => w.state === 'idle', req.includeOffline)),
    })),

    findWorkersByModel: unary(
      'FindWorkersByModel',
      logger,
      FindWorkersByModelResponseSchema,
      (req: FindWorkersByModelRequest) => {
        const modelId = requireModelId('model_id', req.modelId);
        return {
          workers: entriesToProto(registry.listWorkers((w) => w.modelId === modelId, req.includeOffline)),
        };
      },
    ),

    findWorkersByBackend: unary(
      'FindWorkersByBackend',
      logger,
      FindWorkersByBackendResponseSchema,
      (req: FindWorkersByBackendRequest) => {
        const backend = requireBackend(req.backend);
        return {
          workers: entriesToProto(registry.listWorkers((w) => w.backend === backend, req.includeOffline)),
        };
      },
    ),

    findBestWorkerForModel: unaryEncoded('FindBestWorkerForModel', logger, (req: FindBestWorkerForModelRequest) => {
      const request = pickRequestOf(req);
      const pick = scheduling.pick(request, registry.onlineCheck());
      if (pick.kind !== 'picked') throw noPick(pick, request);
      return findBestResponseBytes(
        pick.entry,
        // The scheduler's entry names no queen: the hive's owner, another queen's in a federation, else this one.
        registry.ownerOf(pick.entry.hiveId) ?? self().queenId,
        pick.modelLoaded,
        pick.reservation?.reservationId ?? '',
      );
    }),

    releaseWorker: unary('ReleaseWorker', logger, ReleaseWorkerResponseSchema, (req: ReleaseWorkerRequest) => {
      if (!RESERVATION_ID.test(req.reservationId)) {
        throw new DomainError(
          'invalid_argument',
          'reservation_id: must be 1-128 printable characters, as FindBestWorkerForModel gave it',
        );
      }
      return { released: scheduling.release(req.reservationId, req.success) !== undefined };
    }),

    reportWorkerFailure: unary(
      'ReportWorkerFailure',
      logger,
      ReportWorkerFailureResponseSchema,
      (req: ReportWorkerFailureRequest) => {
        const entry = workerOrNotFound(req.workerId);
        if (req.reason.length > MAX_REASON_LENGTH) {
          throw new DomainError('invalid_argument', `reason: must be at most ${MAX_REASON_LENGTH} characters, got ${req.reason.length}`);
        }
        const record = scheduling.reportFailure(entry.worker.workerId);
        const excludedForMs = record.excludedUntil - clock.now();
        logger.info(
          { hiveId: entry.hiveId, workerId: entry.worker.workerId, failures: record.failures, excludedForMs, reason: req.reason },
          'worker failure reported: not picked until the exclusion ends',
        );
        return { excludedUntil: wallMsToProto(clock.wallNow() + excludedForMs) };
      },
    ),

    totalWorkerCount: unary('TotalWorkerCount', logger, TotalWorkerCountResponseSchema, () => ({
      count: uint32(registry.totalWorkerCount),
    })),

    getWorkersOnHive: unary(
      'GetWorkersOnHive',
      logger,
      GetWorkersOnHiveResponseSchema,
      (req: GetWorkersOnHiveRequest) => ({
        workers: registry.workersOnHive(requireId('hive_id', req.hiveId)).map(workerToProto),
      }),
    ),

    // ListQueensRequest has no fields: nothing to check.
    listQueens: unary('ListQueens', logger, ListQueensResponseSchema, () => {
      const me = self();
      const members = federation();
      // Without a federation this queen is the only one, and every online hive in the registry is its own.
      if (members === undefined) return { queens: [queenToProto(me, registry.ownedOnlineHiveCount(), true)] };
      const owned = registry.onlineHivesByOwner(me.queenId);
      return {
        queens: members.queens().map((queen) =>
          queen.queenId === me.queenId
            ? queenToProto(me, owned.get(me.queenId) ?? 0, true)
            : queenToProto(
                { queenId: queen.queenId, address: queen.address, httpAddress: queen.httpAddress, startedAtWallMs: queen.startedAtMs },
                owned.get(queen.queenId) ?? 0,
                false,
              ),
        ),
      };
    }),
  };
}
