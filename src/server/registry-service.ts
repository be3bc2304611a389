import type { Duration } from '@bufbuild/protobuf/wkt';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import type { Backend } from '../common/worker.js';
import {
  Backend as ProtoBackend,
  FindBestWorkerForModelResponseSchema,
  FindIdleWorkersResponseSchema,
  FindWorkersByBackendResponseSchema,
  FindWorkersByModelResponseSchema,
  GetAvailableResourcesResponseSchema,
  GetHiveStateResponseSchema,
  GetWorkerCountResponseSchema,
  GetWorkerResponseSchema,
  GetWorkersOnHiveResponseSchema,
  GetWorkerUrlResponseSchema,
  HiveCountResponseSchema,
  IsHiveOnlineResponseSchema,
  ListActiveHivesResponseSchema,
  ListAllHivesResponseSchema,
  ListAllWorkersResponseSchema,
  RemoveHiveResponseSchema,
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
  type RemoveHiveRequest,
} from '../../gen/hive/v1/registry_pb.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { HiveView } from '../registry/types.js';
import { quote } from '../registry/ids.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';
import { entryToProto, hiveToProto, resourcesToProto, uint32, workerToProto } from './domain-to-proto.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';
import type { WatchStreams } from './watch-streams.js';
import { BACKEND_FROM_PROTO, positiveDurationMs } from './payload-to-heartbeat.js';
import { requireId, requireModelId, unary } from './unary.js';

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

/** The unary RPCs of hive.v1.HiveRegistry, plus the Heartbeat and Watch streams' handlers. */
export function registryService(
  registry: HiveRegistry,
  scheduling: SchedulingIndex,
  streams: HeartbeatStreams,
  watches: WatchStreams,
  logger: Logger,
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

  return {
    heartbeat: streams.handle,
    watch: watches.handle,

    getHiveState: unary('GetHiveState', logger, GetHiveStateResponseSchema, (req: GetHiveStateRequest) => ({
      hive: hiveToProto(hiveOrNotFound(req.hiveId)),
    })),

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

    removeHive: unary('RemoveHive', logger, RemoveHiveResponseSchema, (req: RemoveHiveRequest) => ({
      removed: streams.removeHive(requireId('hive_id', req.hiveId), 'was removed from the registry'),
    })),

    getWorkerCount: unary('GetWorkerCount', logger, GetWorkerCountResponseSchema, (req: GetWorkerCountRequest) => ({
      count: uint32(hiveOrNotFound(req.hiveId).workers.length),
    })),

    isHiveOnline: unary('IsHiveOnline', logger, IsHiveOnlineResponseSchema, (req: IsHiveOnlineRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      return { online: registry.isHiveOnline(hiveId, maxAgeMs(req.maxAge)) };
    }),

    hiveCount: unary('HiveCount', logger, HiveCountResponseSchema, () => ({ count: uint32(registry.hiveCount) })),

    getWorker: unary('GetWorker', logger, GetWorkerResponseSchema, (req: GetWorkerRequest) => ({
      entry: entryToProto(workerOrNotFound(req.workerId)),
    })),

    getWorkerUrl: unary('GetWorkerUrl', logger, GetWorkerUrlResponseSchema, (req: GetWorkerUrlRequest) => {
      const entry = workerOrNotFound(req.workerId);
      return { url: entry.worker.url, hiveId: entry.hiveId };
    }),

    listAllWorkers: unary('ListAllWorkers', logger, ListAllWorkersResponseSchema, () => ({
      workers: registry.listWorkers(() => true, true).map(entryToProto),
    })),

    findIdleWorkers: unary('FindIdleWorkers', logger, FindIdleWorkersResponseSchema, (req: FindIdleWorkersRequest) => ({
      workers: registry.listWorkers((w) => w.state === 'idle', req.includeOffline).map(entryToProto),
    })),

    findWorkersByModel: unary(
      'FindWorkersByModel',
      logger,
      FindWorkersByModelResponseSchema,
      (req: FindWorkersByModelRequest) => {
        const modelId = requireModelId('model_id', req.modelId);
        return {
          workers: registry.listWorkers((w) => w.modelId === modelId, req.includeOffline).map(entryToProto),
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
          workers: registry.listWorkers((w) => w.backend === backend, req.includeOffline).map(entryToProto),
        };
      },
    ),

    findBestWorkerForModel: unary(
      'FindBestWorkerForModel',
      logger,
      FindBestWorkerForModelResponseSchema,
      (req: FindBestWorkerForModelRequest) => {
        const modelId = requireModelId('model_id', req.modelId);
        const pick = scheduling.pick(modelId, registry.onlineCheck());
        switch (pick.kind) {
          case 'picked':
            return { entry: entryToProto(pick.entry), modelLoaded: pick.modelLoaded };
          case 'no_capacity':
            throw new DomainError(
              'no_capacity',
              `no idle worker for model ${quote(modelId)}: ${pick.busy} of ${pick.eligible} eligible workers are busy or loading; retry later`,
            );
          case 'unavailable':
            throw new DomainError(
              'unavailable',
              pick.eligible === 0
                ? `no eligible worker for model ${quote(modelId)}: no worker on an online hive is healthy`
                : `no eligible worker for model ${quote(modelId)}: none of the ${pick.eligible} healthy workers on online hives is idle, busy or loading`,
            );
        }
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
  };
}
