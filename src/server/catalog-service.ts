import { create } from '@bufbuild/protobuf';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import type { Catalog } from '../catalog/catalog.js';
import { checkDescription, checkLabels, type Labels } from '../catalog/labels.js';
import type { CatalogPatch, CatalogRecord } from '../catalog/types.js';
import {
  CatalogHiveSchema,
  CordonHiveResponseSchema,
  DeregisterHiveResponseSchema,
  GetCatalogHiveResponseSchema,
  IssueHiveTokenResponseSchema,
  ListCatalogHivesResponseSchema,
  ListHiveTokensResponseSchema,
  RevokeHiveTokenResponseSchema,
  RegisterHiveResponseSchema,
  UncordonHiveResponseSchema,
  UpdateHiveResponseSchema,
  type CatalogHive,
  type CordonHiveRequest,
  type DeregisterHiveRequest,
  type GetCatalogHiveRequest,
  type IssueHiveTokenRequest,
  type ListCatalogHivesRequest,
  type ListHiveTokensRequest,
  type RevokeHiveTokenRequest,
  type RegisterHiveRequest,
  type UncordonHiveRequest,
  type UpdateHiveRequest,
} from '../../gen/hive/v1/catalog_pb.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import { quote } from '../registry/ids.js';
import { wallMsToProto } from './domain-to-proto.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';
import { requireId, requireValid, unary } from './unary.js';

/** Token ids are issued as 16 hex digits; anything in this shape is looked up (unknown ones are not revoked). */
const TOKEN_ID = /^[A-Za-z0-9_-]{1,64}$/;

function requireTokenId(value: string): string {
  if (!TOKEN_ID.test(value)) {
    throw new DomainError('invalid_argument', 'token_id: must be 1-64 characters of [A-Za-z0-9_-] (as IssueHiveToken gave it)');
  }
  return value;
}

/** The fields UpdateHive may change, as update_mask paths. */
const UPDATABLE_PATHS = ['labels', 'description'] as const;

function catalogHiveToProto(record: CatalogRecord, online: boolean): CatalogHive {
  return create(CatalogHiveSchema, {
    hiveId: record.hiveId,
    labels: { ...record.labels },
    description: record.description,
    createdAt: wallMsToProto(record.createdAtMs),
    updatedAt: wallMsToProto(record.updatedAtMs),
    lastSeen: record.lastSeenMs === undefined ? undefined : wallMsToProto(record.lastSeenMs),
    lastPeer: record.lastPeer,
    online,
    cordoned: record.cordoned,
  });
}

function requireLabels(field: string, labels: Labels): Labels {
  requireValid(checkLabels(field, labels));
  return labels;
}

function requireDescription(field: string, description: string): string {
  requireValid(checkDescription(field, description));
  return description;
}

/**
 * What UpdateHive changes. With update_mask: exactly its paths (`labels` replaces the whole map, `*` means both).
 * Without one (AIP-134): the fields set in `hive`, non-empty labels and a non-empty description.
 */
function patchOf(request: UpdateHiveRequest, hive: CatalogHive): CatalogPatch {
  const paths = request.updateMask?.paths ?? [];
  const named = new Set<string>();
  if (paths.length === 0) {
    if (Object.keys(hive.labels).length > 0) named.add('labels');
    if (hive.description !== '') named.add('description');
    if (named.size === 0) {
      throw new DomainError(
        'invalid_argument',
        'update_mask: nothing to update: name labels and/or description in update_mask (an empty value clears it), or set them in hive',
      );
    }
  }
  for (const [i, path] of paths.entries()) {
    if (path === '*') UPDATABLE_PATHS.forEach((p) => named.add(p));
    else if ((UPDATABLE_PATHS as readonly string[]).includes(path)) named.add(path);
    else {
      throw new DomainError(
        'invalid_argument',
        `update_mask.paths[${i}]: ${quote(path)} cannot be updated; the paths are ${UPDATABLE_PATHS.join(', ')} (or * for both)`,
      );
    }
  }
  return {
    ...(named.has('labels') ? { labels: requireLabels('hive.labels', hive.labels) } : {}),
    ...(named.has('description') ? { description: requireDescription('hive.description', hive.description) } : {}),
  };
}

/** Who else wants to know when an RPC changed the catalog (the scheduler: labels and cordon). */
export interface CatalogHooks {
  /**
   * Called after an RPC's write is committed (RegisterHive, UpdateHive, DeregisterHive, CordonHive, UncordonHive)
   * with the hive's record as it now is, or undefined when it was deregistered. Also called for a cordon or
   * uncordon that found the hive already in that state, so a listener must treat it as "this is the record now",
   * not as "this changed". Not called for hives that join by heartbeat (open registration) nor for the records
   * loaded at start: read those from the catalog. A throw is logged and does not fail the RPC, whose write stands.
   */
  hiveChanged?(hiveId: string, record: CatalogRecord | undefined): void;
}

/**
 * The RPCs of hive.v1.HiveCatalog. `online` comes from the live registry at the time of the call. Reads answer
 * from the catalog's memory at once; writes answer once the store has committed them.
 */
export function catalogService(
  catalog: Catalog,
  registry: HiveRegistry,
  streams: HeartbeatStreams,
  logger: Logger,
  hooks: CatalogHooks = {},
): UntypedServiceImplementation {
  const toProto = (record: CatalogRecord): CatalogHive =>
    catalogHiveToProto(record, registry.isHiveOnline(record.hiveId));

  /**
   * Tells the hook about a committed write. The write cannot be undone, so a failing hook must not turn the RPC
   * into an error: the caller would retry a change that already happened.
   */
  const changed = (rpc: string, hiveId: string, record: CatalogRecord | undefined): void => {
    try {
      hooks.hiveChanged?.(hiveId, record);
    } catch (error) {
      logger.error({ rpc, hiveId, err: error }, 'catalog change hook failed; the catalog write stands');
    }
  };

  /** CordonHive and UncordonHive: the same write, in two directions. */
  const cordon = async (rpc: string, requestedHiveId: string, cordoned: boolean): Promise<{ hive: CatalogHive }> => {
    const hiveId = requireId('hive_id', requestedHiveId);
    const record = await catalog.setCordoned(hiveId, cordoned);
    logger.info({ hiveId }, cordoned ? 'hive cordoned: its workers are never picked' : 'hive uncordoned');
    changed(rpc, hiveId, record);
    return { hive: toProto(record) };
  };

  return {
    registerHive: unary('RegisterHive', logger, RegisterHiveResponseSchema, async (req: RegisterHiveRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      const record = await catalog.register(
        hiveId,
        requireLabels('labels', req.labels),
        requireDescription('description', req.description),
      );
      logger.info({ hiveId }, 'hive registered in the catalog');
      changed('RegisterHive', hiveId, record);
      return { hive: toProto(record) };
    }),

    getCatalogHive: unary('GetCatalogHive', logger, GetCatalogHiveResponseSchema, (req: GetCatalogHiveRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      const record = catalog.get(hiveId);
      if (record === undefined) throw new DomainError('not_found', `hive_id: no hive ${quote(hiveId)} in the catalog`);
      return { hive: toProto(record) };
    }),

    listCatalogHives: unary(
      'ListCatalogHives',
      logger,
      ListCatalogHivesResponseSchema,
      (req: ListCatalogHivesRequest) => ({
        hives: catalog.list(requireLabels('selector', req.selector)).map(toProto),
      }),
    ),

    updateHive: unary('UpdateHive', logger, UpdateHiveResponseSchema, async (req: UpdateHiveRequest) => {
      if (req.hive === undefined) throw new DomainError('invalid_argument', 'hive: must be set (hive_id names the hive)');
      const hiveId = requireId('hive.hive_id', req.hive.hiveId);
      const record = await catalog.update(hiveId, patchOf(req, req.hive));
      logger.info({ hiveId }, 'hive updated in the catalog');
      changed('UpdateHive', hiveId, record);
      return { hive: toProto(record) };
    }),

    deregisterHive: unary('DeregisterHive', logger, DeregisterHiveResponseSchema, async (req: DeregisterHiveRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      if (!(await catalog.deregister(hiveId))) return { removed: false };
      logger.info({ hiveId }, 'hive deregistered from the catalog');
      streams.removeHive(hiveId, 'was deregistered from the catalog');
      changed('DeregisterHive', hiveId, undefined);
      return { removed: true };
    }),

    issueHiveToken: unary('IssueHiveToken', logger, IssueHiveTokenResponseSchema, async (req: IssueHiveTokenRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      const issued = await catalog.issueToken(hiveId);
      logger.info({ hiveId, tokenId: issued.tokenId }, 'hive token issued');
      return { token: issued.token, tokenId: issued.tokenId };
    }),

    revokeHiveToken: unary('RevokeHiveToken', logger, RevokeHiveTokenResponseSchema, async (req: RevokeHiveTokenRequest) => {
      const hiveId = requireId('hive_id', req.hiveId);
      const tokenId = requireTokenId(req.tokenId);
      if (!(await catalog.revokeToken(hiveId, tokenId))) return { revoked: false };
      const ended = streams.endToken(tokenId);
      logger.info({ hiveId, tokenId, streamsEnded: ended }, 'hive token revoked');
      return { revoked: true };
    }),

    listHiveTokens: unary('ListHiveTokens', logger, ListHiveTokensResponseSchema, (req: ListHiveTokensRequest) => ({
      tokens: catalog.listTokens(requireId('hive_id', req.hiveId)).map((record) => ({
        tokenId: record.tokenId,
        createdAt: wallMsToProto(record.createdAtMs),
        lastUsedAt: record.lastUsedAtMs === undefined ? undefined : wallMsToProto(record.lastUsedAtMs),
      })),
    })),

    cordonHive: unary('CordonHive', logger, CordonHiveResponseSchema, (req: CordonHiveRequest) =>
      cordon('CordonHive', req.hiveId, true),
    ),

    uncordonHive: unary('UncordonHive', logger, UncordonHiveResponseSchema, (req: UncordonHiveRequest) =>
      cordon('UncordonHive', req.hiveId, false),
    ),
  };
}
