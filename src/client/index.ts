// The package's entry point for embedders (routers, tools): the typed client and the types it speaks.
export { ClientError } from './client-error.js';
export { AllQueensFailedError, type QueenFailure } from './queen-failover.js';
export type { CatalogHive, HiveStateView, HiveToken, QueenInfo } from './proto-to-domain.js';
export type { WatchOptions, WatchUpdate, WatchUpdateType } from './watch-stream.js';
export {
  createRegistryClient,
  DEFAULT_DEADLINE_MS,
  RegistryClient,
  type BestWorker,
  type FindBestWorkerOptions,
  type IssuedHiveToken,
  type RegistryClientOptions,
  type WorkerExclusion,
  type WorkerQuery,
} from './registry-client.js';
export type { Backend, Device, Health, WallTime, Worker, WorkerEntry, WorkerStatus } from '../common/worker.js';
export type { HiveView } from '../registry/types.js';
export type { Resources } from '../registry/resources.js';
export type { Labels } from '../catalog/labels.js';
export type { CatalogPatch } from '../catalog/types.js';
