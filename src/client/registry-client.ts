import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { durationFromMs, FieldMaskSchema, timestampMs } from '@bufbuild/protobuf/wkt';
import { credentials as grpcCredentials, type ChannelCredentials, type Client, type Metadata } from '@grpc/grpc-js';
import type { Labels } from '../catalog/labels.js';
import type { CatalogPatch } from '../catalog/types.js';
import type { Backend, Worker, WorkerEntry } from '../common/worker.js';
import {
  HiveCatalog,
  type CatalogHive as ProtoCatalogHive,
  type UpdateHiveRequestSchema,
} from '../../gen/hive/v1/catalog_pb.js';
import {
  HiveRegistry,
  type FindBestWorkerForModelRequestSchema,
  type WatchEvent,
} from '../../gen/hive/v1/registry_pb.js';
import type { Resources } from '../registry/resources.js';
import { BACKEND_TO_PROTO } from '../server/domain-to-proto.js';
import {
  catalogHiveFromProto,
  entryFromProto,
  hiveFromProto,
  hiveTokenFromProto,
  queenFromProto,
  resourcesFromProto,
  workerFromProto,
  type CatalogHive,
  type HiveStateView,
  type HiveToken,
  type QueenInfo,
} from './proto-to-domain.js';
import { failoverMethods, type QueenCursor } from './queen-failover.js';
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
  /**
   * Names the slot held on the worker, when the call asked to reserve: pass it to releaseWorker once the request
   * is served. Absent otherwise.
   */
  readonly reservationId?: string;
}

/** How findBestWorkerForModel picks, beyond the model. Every field is optional; `{}` is a plain pick. */
export interface FindBestWorkerOptions {
  /**
   * Hold one of the picked worker's slots (see Worker.maxConcurrency) until releaseWorker or the reservation's
   * TTL, so concurrent callers are spread over free slots. The answer's reservationId names it. Default false.
   */
  readonly reserve?: boolean;
  /**
   * How long the reservation lives without releaseWorker, in milliseconds (rounded to whole ms): more than 0 and at
   * most 10 min, which the queen checks (INVALID_ARGUMENT naming reservation_ttl). Default: the queen's, 30 s.
   * Meant for `reserve`; the queen checks it either way.
   */
  readonly reservationTtlMs?: number;
  /** A worker without the model is picked only when its device has this much VRAM free, in bytes. Default 0. */
  readonly minVramBytes?: number;
  /** Only workers of hives whose catalog labels include every entry (equality). Default: every hive. */
  readonly selector?: Readonly<Record<string, string>>;
}

/** When a worker reported as failed may be picked again. */
export interface WorkerExclusion {
  /** Wall-clock ms since the epoch, by the queen's clock. */
  readonly excludedUntilMs: number;
}

/** Filters of the worker lists. */
export interface WorkerQuery {
  /** Also list workers of offline hives (default false). */
  readonly includeOffline?: boolean;
}

export const DEFAULT_DEADLINE_MS = 5_000;

/**
 * A Duration from milliseconds: whole milliseconds, finite, or RangeError naming `option` (the queen checks the
 * range). Beyond 2^53 ms the seconds would not convert exactly, so that is a RangeError too.
 */
function duration(option: string, ms: number) {
  if (!Number.isFinite(ms) || Math.abs(ms) > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${option}: must be a finite number of milliseconds, got ${ms}`);
  }
  return durationFromMs(Math.round(ms));
}

/** A max_age from milliseconds (the queen checks that it is positive). */
function maxAge(ms: number) {
  return duration('maxAgeMs', ms);
}

/**
 * The FindBestWorkerForModel request for `modelId` and `options`: RangeError naming the option for a value the
 * wire cannot carry (the queen checks the rest).
 */
export function findBestWorkerRequest(
  modelId: string,
  options: FindBestWorkerOptions,
): MessageInitShape<typeof FindBestWorkerForModelRequestSchema> {
  const { minVramBytes } = options;
  // uint64 on the wire: a fraction or a negative number has no encoding, and past 2^53 a number is not exact.
  if (minVramBytes !== undefined && !(Number.isSafeInteger(minVramBytes) && minVramBytes >= 0)) {
    throw new RangeError(`minVramBytes: must be a whole number of bytes from 0 to ${Number.MAX_SAFE_INTEGER}, got ${minVramBytes}`);
  }
  return {
    modelId,
    reserve: options.reserve ?? false,
    ...(options.reservationTtlMs === undefined ? {} : { reservationTtl: duration('reservationTtlMs', options.reservationTtlMs) }),
    minVramBytes: BigInt(minVramBytes ?? 0),
    selector: { ...options.selector },
  };
}

/**
 * A typed client for a queen: every unary RPC of hive.v1.HiveRegistry and hive.v1.HiveCatalog as a method taking
 * and returning the domain's plain types (never protobuf messages). Every call has a deadline; a failed call
 * rejects with ClientError carrying the gRPC code. `registry` and `catalog` give the same RPCs at the protobuf
 * level, for callers that want the messages themselves (the CLI prints them as protobuf JSON).
 *
 * Given several queens serving one fleet, a call that cannot reach one (UNAVAILABLE, or its deadline passed while
 * still connecting) goes to the next in the list, each with the full deadline; any other answer is final. The
 * first queen is tried first until it fails a call, then the one that answered (see queen-failover).
 *
 * One client holds one channel per queen (HTTP/2 connection, reconnected by grpc-js as needed); share it, and
 * `close()` it when done.
 */
export class RegistryClient {
  /** hive.v1.HiveRegistry's unary RPCs, protobuf messages in and out. */
  readonly registry: UnaryMethods<ServiceMethods<typeof HiveRegistry>>;
  /** hive.v1.HiveCatalog's RPCs, protobuf messages in and out. */
  readonly catalog: UnaryMethods<ServiceMethods<typeof HiveCatalog>>;
  /** host:port of every queen, as given. */
  readonly addresses: readonly string[];
  private readonly channels: Client[];
  private readonly rawRegistries: Client[];
  private readonly metadata: () => Metadata;
  private readonly cursor: QueenCursor = { index: 0 };

  constructor(
    /** host:port of the queen, or of several queens serving one fleet (tried in this order). */
    address: string | readonly string[],
    options: RegistryClientOptions = {},
  ) {
    const addresses = typeof address === 'string' ? [address] : [...address];
    if (addresses.length === 0) throw new RangeError('address: give at least one queen (host:port)');
    const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) {
      throw new RangeError(`deadlineMs: must be a positive number of milliseconds, got ${deadlineMs}`);
    }
    // Checked before any channel exists, so a bad token leaves nothing to close.
    const metadata = bearerMetadata(options.token);
    const credentials = options.credentials ?? grpcCredentials.createInsecure();
    // Two grpc-js clients with the same address, credentials and options share one subchannel from grpc-js's
    // pool, so both services ride one connection per queen. A channel dials only when a call needs it.
    const registries = addresses.map((queen) => rawClient(HiveRegistry, queen, credentials));
    const catalogs = addresses.map((queen) => rawClient(HiveCatalog, queen, credentials));
    this.addresses = addresses;
    this.channels = [...registries, ...catalogs];
    this.rawRegistries = registries;
    this.metadata = metadata;
    this.registry = failoverMethods(
      addresses,
      registries.map((raw) => unaryMethods(HiveRegistry, raw, deadlineMs, metadata)),
      this.cursor,
    );
    this.catalog = failoverMethods(
      addresses,
      catalogs.map((raw) => unaryMethods(HiveCatalog, raw, deadlineMs, metadata)),
      this.cursor,
    );
  }

  /** host:port of the queen calls go to first: the first given, until a call had to move to another. */
  get address(): string {
    return this.addresses[this.cursor.index] ?? '';
  }

  // ---- hive.v1.HiveRegistry ---------------------------------------------------------------------------------

  /** One hive's last accepted snapshot, liveness and owner queen. NOT_FOUND for an unknown hive. */
  async getHiveState(hiveId: string): Promise<HiveStateView> {
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
   * The worker that should serve `modelId` now; with `options.reserve`, holding one of its slots (see
   * FindBestWorkerOptions). RESOURCE_EXHAUSTED when every eligible worker is busy, loading, fully reserved or
   * excluded after failures (retry later), or none without the model has `minVramBytes` free; UNAVAILABLE when
   * none is eligible, or no online hive matches `selector`. RangeError, before any call, for an option the wire
   * cannot carry.
   */
  async findBestWorkerForModel(modelId: string, options: FindBestWorkerOptions = {}): Promise<BestWorker> {
    const response = await this.registry.findBestWorkerForModel(findBestWorkerRequest(modelId, options));
    if (response.entry === undefined) throw new Error('FindBestWorkerForModel: the response has no entry');
    const best: BestWorker = { entry: entryFromProto(response.entry), modelLoaded: response.modelLoaded };
    return response.reservationId === '' ? best : { ...best, reservationId: response.reservationId };
  }

  /**
   * Ends a reservation from findBestWorkerForModel, freeing its slot. `success` says whether the request served
   * under it succeeded: true also clears the worker's failure record (see reportWorkerFailure). False when the
   * reservation is unknown or already expired; INVALID_ARGUMENT for an empty id.
   */
  async releaseWorker(reservationId: string, success: boolean): Promise<boolean> {
    return (await this.registry.releaseWorker({ reservationId, success })).released;
  }

  /**
   * Reports that a request to the worker failed: the queen does not pick it until the answer's time (1 s,
   * doubling with each failure in a row, at most 5 min). `reason` is only logged (at most 1,024 characters).
   * NOT_FOUND for an unknown worker.
   */
  async reportWorkerFailure(workerId: string, reason = ''): Promise<WorkerExclusion> {
    const { excludedUntil } = await this.registry.reportWorkerFailure({ workerId, reason });
    if (excludedUntil === undefined) throw new Error('ReportWorkerFailure: the response has no excluded_until');
    return { excludedUntilMs: timestampMs(excludedUntil) };
  }

  async totalWorkerCount(): Promise<number> {
    return (await this.registry.totalWorkerCount({})).count;
  }

  /** The hive's workers, sorted by id; empty for an unknown hive. */
  async getWorkersOnHive(hiveId: string): Promise<Worker[]> {
    return (await this.registry.getWorkersOnHive({ hiveId })).workers.map(workerFromProto);
  }

  /** The queens serving the fleet, sorted by id; a queen on its own lists only itself (`self: true`). */
  async listQueens(): Promise<QueenInfo[]> {
    return (await this.registry.listQueens({})).queens.map(queenFromProto);
  }

  /**
   * The registry's changes: a snapshot ending with `synced`, then live events, resuming by itself after a lost
   * stream (see watchEvents). Iterate with `for await`; `break` or `options.signal` ends it.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchUpdate, void, undefined> {
    for await (const event of watchEvents(this.rawRegistries, options, this.metadata, this.cursor)) {
      const update = watchUpdateFromProto(event);
      if (update !== undefined) yield update;
    }
  }

  /** The same stream as `watch`, as protobuf WatchEvent messages (what the CLI prints with --json). */
  watchEvents(options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    return watchEvents(this.rawRegistries, options, this.metadata, this.cursor);
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

  /**
   * Cordons a hive (admin): its workers stay listed but are never picked, until uncordonHive. Persisted by the
   * queen; cordoning a cordoned hive changes nothing. NOT_FOUND for a hive not in the catalog.
   */
  async cordonHive(hiveId: string): Promise<CatalogHive> {
    return this.catalogHive(await this.catalog.cordonHive({ hiveId }));
  }

  /** Lets a cordoned hive's workers be picked again (admin). NOT_FOUND for a hive not in the catalog. */
  async uncordonHive(hiveId: string): Promise<CatalogHive> {
    return this.catalogHive(await this.catalog.uncordonHive({ hiveId }));
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

/** A client for the queen at `address` (host:port), or for several queens serving one fleet. See RegistryClient. */
export function createRegistryClient(address: string | readonly string[], options: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient(address, options);
}
