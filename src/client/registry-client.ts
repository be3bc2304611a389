import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { durationFromMs, FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import { credentials as grpcCredentials, type ChannelCredentials, type Client, type Metadata } from '@grpc/grpc-js';
import type { Labels } from '../catalog/labels.js';
import type { CatalogPatch } from '../catalog/types.js';
import type { Backend, Worker, WorkerEntry } from '../common/worker.js';
import {
  HiveCatalog,
  type CatalogHive as ProtoCatalogHive,
  type UpdateHiveRequestSchema,
} from '../../gen/hive/v1/catalog_pb.js';
import { HiveRegistry, type WatchEvent } from '../../gen/hive/v1/registry_pb.js';
import type { Resources } from '../registry/resources.js';
import type { HiveView } from '../registry/types.js';
import { BACKEND_TO_PROTO } from '../server/domain-to-proto.js';
import {
  catalogHiveFromProto,
  entryFromProto,
  hiveFromProto,
  hiveTokenFromProto,
  resourcesFromProto,
  workerFromProto,
  type CatalogHive,
  type HiveToken,
} from './proto-to-domain.js';
import { bearerMetadata, rawClient, unaryMethods, type UnaryMethods } from './unary-client.js';
import { watchEvents, watchUpdateFromProto, type WatchOptions, type WatchUpdate } from './watch-stream.js';

type ServiceMethods<S> = S extends GenService<infer M> ? M : never;

/** How the client connects and how long it waits. */
export interface RegistryClientOptions {
  /** Deadline of every call, in milliseconds (default 5,000). */
  readonly deadlineMs?: number;
  /** Channel credentials (default: plaintext, for a queen on loopback). */
  readonly credentials?: ChannelCredentials;
  /**
   * Bearer token for a queen with authentication on: every call (unary and Watch) sends metadata
   * `authorization: Bearer <token>`. Printable ASCII without spaces, or the constructor throws RangeError. Default
   * none (a queen without authentication).
   */
  readonly token?: string;
}

/** A hive token just issued: the secret, shown this once (the queen keeps only its hash), and its id. */
export interface IssuedHiveToken {
  /** The secret the hive's agent sends; store it in a file only the agent can read. */
  readonly token: string;
  /** Names the token in listHiveTokens and revokeHiveToken; not a secret. */
  readonly tokenId: string;
}

/** What FindBestWorkerForModel picked. */
export interface BestWorker {
  readonly entry: WorkerEntry;
  /** False when no idle worker had the model and the pick is the fallback (a worker to load it on). */
  readonly modelLoaded: boolean;
}

/** Filters of the worker lists. */
export interface WorkerQuery {
  /** Also list workers of offline hives (default false). */
  readonly includeOffline?: boolean;
}

export const DEFAULT_DEADLINE_MS = 5_000;

/** A max_age from milliseconds: whole milliseconds, finite, or RangeError (the queen checks that it is positive). */
function maxAge(ms: number) {
  if (!Number.isFinite(ms)) throw new RangeError(`maxAgeMs: must be a finite number of milliseconds, got ${ms}`);
  return durationFromMs(Math.round(ms));
}

/**
 * A typed client for a queen: every unary RPC of hive.v1.HiveRegistry and hive.v1.HiveCatalog as a method taking
 * and returning the domain's plain types (never protobuf messages). Every call has a deadline; a failed call
 * rejects with ClientError carrying the gRPC code. `registry` and `catalog` give the same RPCs at the protobuf
 * level, for callers that want the messages themselves (the CLI prints them as protobuf JSON).
 *
 * One client holds one channel (HTTP/2 connection, reconnected by grpc-js as needed); share it, and `close()` it
 * when done.
 */
export class RegistryClient {
  /** hive.v1.HiveRegistry's unary RPCs, protobuf messages in and out. */
  readonly registry: UnaryMethods<ServiceMethods<typeof HiveRegistry>>;
  /** hive.v1.HiveCatalog's RPCs, protobuf messages in and out. */
  readonly catalog: UnaryMethods<ServiceMethods<typeof HiveCatalog>>;
  private readonly channels: Client[];
  private readonly rawRegistry: Client;
  private readonly metadata: () => Metadata;

  constructor(
    /** host:port of the queen. */
    readonly address: string,
    options: RegistryClientOptions = {},
  ) {
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) {
      throw new RangeError(`deadlineMs: must be a positive number of milliseconds, got ${deadlineMs}`);
    }
    // Checked before any channel exists, so a bad token leaves nothing to close.
    const metadata = bearerMetadata(options.token);
    const credentials = options.credentials ?? grpcCredentials.createInsecure();
    const registry = rawClient(HiveRegistry, address, credentials);
    // Two grpc-js clients with the same address, credentials and options share one subchannel from grpc-js's
    // pool, so both services ride one connection.
    const catalog = rawClient(HiveCatalog, address, credentials);
    this.channels = [registry, catalog];
    this.rawRegistry = registry;
    this.metadata = metadata;
    this.registry = unaryMethods(HiveRegistry, registry, deadlineMs, metadata);
    this.catalog = unaryMethods(HiveCatalog, catalog, deadlineMs, metadata);
  }

  // ---- hive.v1.HiveRegistry ---------------------------------------------------------------------------------

  /** One hive's last accepted snapshot and liveness. NOT_FOUND for an unknown hive. */
  async getHiveState(hiveId: string): Promise<HiveView> {
    const { hive } = await this.registry.getHiveState({ hiveId });
    if (hive === undefined) throw new Error('GetHiveState: the response has no hive');
    return hiveFromProto(hive);
  }

  /** Online hive ids, sorted. `maxAgeMs` replaces the offline threshold for this call. */
  async listActiveHives(maxAgeMs?: number): Promise<string[]> {
    return (await this.registry.listActiveHives(maxAgeMs === undefined ? {} : { maxAge: maxAge(maxAgeMs) })).hiveIds;
  }

  /** Every hive id in the registry (offline ones not yet evicted included), sorted. */
  async listAllHives(): Promise<string[]> {
    return (await this.registry.listAllHives({})).hiveIds;
  }

  async getAvailableResources(hiveId: string): Promise<Resources> {
    return resourcesFromProto((await this.registry.getAvailableResources({ hiveId })).resources);
  }

  /** Removes a hive from the registry (not the catalog); false for an unknown hive. */
  async removeHive(hiveId: string): Promise<boolean> {
    return (await this.registry.removeHive({ hiveId })).removed;
  }

  async getWorkerCount(hiveId: string): Promise<number> {
    return (await this.registry.getWorkerCount({ hiveId })).count;
  }

  /** False for an unknown hive. */
  async isHiveOnline(hiveId: string, maxAgeMs?: number): Promise<boolean> {
    return (await this.registry.isHiveOnline(maxAgeMs === undefined ? { hiveId } : { hiveId, maxAge: maxAge(maxAgeMs) }))
      .online;
  }

  async hiveCount(): Promise<number> {
    return (await this.registry.hiveCount({})).count;
  }

  /** NOT_FOUND for an unknown worker. */
  async getWorker(workerId: string): Promise<WorkerEntry> {
    const { entry } = await this.registry.getWorker({ workerId });
    if (entry === undefined) throw new Error('GetWorker: the response has no entry');
    return entryFromProto(entry);
  }

  async getWorkerUrl(workerId: string): Promise<{ readonly url: string; readonly hiveId: string }> {
    const { url, hiveId } = await this.registry.getWorkerUrl({ workerId });
    return { url, hiveId };
  }

  /** Every worker of every hive, offline hives flagged; sorted by hive id, then worker id. */
  async listAllWorkers(): Promise<WorkerEntry[]> {
    return (await this.registry.listAllWorkers({})).workers.map(entryFromProto);
  }

  async findIdleWorkers(query: WorkerQuery = {}): Promise<WorkerEntry[]> {
    return (await this.registry.findIdleWorkers({ includeOffline: query.includeOffline ?? false })).workers.map(
      entryFromProto,
    );
  }

  async findWorkersByModel(modelId: string, query: WorkerQuery = {}): Promise<WorkerEntry[]> {
    return (
      await this.registry.findWorkersByModel({ modelId, includeOffline: query.includeOffline ?? false })
    ).workers.map(entryFromProto);
  }

  async findWorkersByBackend(backend: Backend, query: WorkerQuery = {}): Promise<WorkerEntry[]> {
    if (!Object.prototype.hasOwnProperty.call(BACKEND_TO_PROTO, backend)) {
      throw new RangeError(`backend: must be one of ${Object.keys(BACKEND_TO_PROTO).join(', ')}, got ${JSON.stringify(backend)}`);
    }
    return (
      await this.registry.findWorkersByBackend({
        backend: BACKEND_TO_PROTO[backend],
        includeOffline: query.includeOffline ?? false,
      })
    ).workers.map(entryFromProto);
  }

  /**
   * The worker that should serve `modelId` now. RESOURCE_EXHAUSTED when every eligible worker is busy or loading
   * (retry later), UNAVAILABLE when none is eligible.
   */
  async findBestWorkerForModel(modelId: string): Promise<BestWorker> {
    const { entry, modelLoaded } = await this.registry.findBestWorkerForModel({ modelId });
    if (entry === undefined) throw new Error('FindBestWorkerForModel: the response has no entry');
    return { entry: entryFromProto(entry), modelLoaded };
  }

  async totalWorkerCount(): Promise<number> {
    return (await this.registry.totalWorkerCount({})).count;
  }

  /** The hive's workers, sorted by id; empty for an unknown hive. */
  async getWorkersOnHive(hiveId: string): Promise<Worker[]> {
    return (await this.registry.getWorkersOnHive({ hiveId })).workers.map(workerFromProto);
  }

  /**
   * The registry's changes: a snapshot ending with `synced`, then live events, resuming by itself after a lost
   * stream (see watchEvents). Iterate with `for await`; `break` or `options.signal` ends it.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchUpdate, void, undefined> {
    for await (const event of watchEvents(this.rawRegistry, options, this.metadata)) {
      const update = watchUpdateFromProto(event);
      if (update !== undefined) yield update;
    }
  }

  /** The same stream as `watch`, as protobuf WatchEvent messages (what the CLI prints with --json). */
  watchEvents(options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    return watchEvents(this.rawRegistry, options, this.metadata);
  }

  // ---- hive.v1.HiveCatalog ----------------------------------------------------------------------------------

  /** Adds a hive to the catalog. ALREADY_EXISTS when present. */
  async registerHive(hiveId: string, labels: Labels = {}, description = ''): Promise<CatalogHive> {
    return this.catalogHive(await this.catalog.registerHive({ hiveId, labels: { ...labels }, description }));
  }

  /** NOT_FOUND when absent. */
  async getCatalogHive(hiveId: string): Promise<CatalogHive> {
    return this.catalogHive(await this.catalog.getCatalogHive({ hiveId }));
  }

  /** Hives whose labels match every entry of `selector` (empty: all), sorted by hive id. */
  async listCatalogHives(selector: Labels = {}): Promise<CatalogHive[]> {
    return (await this.catalog.listCatalogHives({ selector: { ...selector } })).hives.map(catalogHiveFromProto);
  }

  /**
   * Changes what `patch` sets: `labels` replaces the whole map (`{}` clears it), `description` replaces the text
   * (`''` clears it). Sent with an explicit update mask, so clearing works. NOT_FOUND when absent.
   */
  async updateHive(hiveId: string, patch: CatalogPatch): Promise<CatalogHive> {
    return this.catalogHive(await this.catalog.updateHive(updateHiveRequest(hiveId, patch)));
  }

  /** Removes a hive from the catalog and the registry (ending its stream); false when absent. */
  async deregisterHive(hiveId: string): Promise<boolean> {
    return (await this.catalog.deregisterHive({ hiveId })).removed;
  }

  /**
   * Issues a new token for the hive's Heartbeat stream (admin). The token is in this answer only; earlier tokens
   * stay valid until revoked, so a hive can rotate without a gap. NOT_FOUND for a hive not in the catalog.
   */
  async issueHiveToken(hiveId: string): Promise<IssuedHiveToken> {
    const { token, tokenId } = await this.catalog.issueHiveToken({ hiveId });
    return { token, tokenId };
  }

  /**
   * Revokes one of the hive's tokens (admin); a stream opened with it is ended with UNAUTHENTICATED. False when the
   * hive has no such live token.
   */
  async revokeHiveToken(hiveId: string, tokenId: string): Promise<boolean> {
    return (await this.catalog.revokeHiveToken({ hiveId, tokenId })).revoked;
  }

  /** The hive's live tokens, oldest first, without their secrets (admin). NOT_FOUND for a hive not in the catalog. */
  async listHiveTokens(hiveId: string): Promise<readonly HiveToken[]> {
    return (await this.catalog.listHiveTokens({ hiveId })).tokens.map(hiveTokenFromProto);
  }

  /** Closes the connection; calls after this fail. */
  close(): void {
    for (const channel of this.channels) channel.close();
  }

  private catalogHive(response: { hive?: ProtoCatalogHive }): CatalogHive {
    if (response.hive === undefined) throw new Error('the response has no hive');
    return catalogHiveFromProto(response.hive);
  }
}

/**
 * The UpdateHive request for `patch`, with an explicit update mask naming exactly the fields the patch sets (so
 * `{}` labels and `''` description clear them). RangeError for a patch that sets nothing.
 */
export function updateHiveRequest(hiveId: string, patch: CatalogPatch): MessageInitShape<typeof UpdateHiveRequestSchema> {
  const paths = [
    ...(patch.labels === undefined ? [] : ['labels']),
    ...(patch.description === undefined ? [] : ['description']),
  ];
  if (paths.length === 0) throw new RangeError('updateHive: the patch sets nothing');
  return {
    hive: { hiveId, labels: { ...(patch.labels ?? {}) }, description: patch.description ?? '' },
    updateMask: create(FieldMaskSchema, { paths }),
  };
}

/** A client for the queen at `address` (host:port). See RegistryClient. */
export function createRegistryClient(address: string, options: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient(address, options);
}
