import type { DescService } from '@bufbuild/protobuf';
import { status, type Metadata, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TokenDirectory } from '../catalog/catalog.js';
import { tokenSha256 } from '../catalog/hive-tokens.js';
import { quote } from '../registry/ids.js';
import type { CallerTokens, Role } from './callers.js';
import { serviceError, type CallStatus } from './status-map.js';

/** What a method needs: a caller with at least this role, or (`hive`) a hive token. */
export type Access = Role | 'hive';

/**
 * Every method of our services and what it needs. A method missing here cannot be served with auth on
 * (`guardService` refuses to start), so a new RPC is never open by omission.
 */
export const METHOD_ACCESS: Readonly<Record<string, Access>> = {
  'hive.v1.HiveRegistry/Heartbeat': 'hive',
  'hive.v1.HiveRegistry/Watch': 'read',
  'hive.v1.HiveRegistry/GetHiveState': 'read',
  'hive.v1.HiveRegistry/ListActiveHives': 'read',
  'hive.v1.HiveRegistry/ListAllHives': 'read',
  'hive.v1.HiveRegistry/GetAvailableResources': 'read',
  'hive.v1.HiveRegistry/RemoveHive': 'admin',
  'hive.v1.HiveRegistry/GetWorkerCount': 'read',
  'hive.v1.HiveRegistry/IsHiveOnline': 'read',
  'hive.v1.HiveRegistry/HiveCount': 'read',
  'hive.v1.HiveRegistry/GetWorker': 'read',
  'hive.v1.HiveRegistry/GetWorkerUrl': 'read',
  'hive.v1.HiveRegistry/ListAllWorkers': 'read',
  'hive.v1.HiveRegistry/FindIdleWorkers': 'read',
  'hive.v1.HiveRegistry/FindWorkersByModel': 'read',
  'hive.v1.HiveRegistry/FindWorkersByBackend': 'read',
  'hive.v1.HiveRegistry/FindBestWorkerForModel': 'read',
  'hive.v1.HiveRegistry/ReleaseWorker': 'read',
  'hive.v1.HiveRegistry/ReportWorkerFailure': 'read',
  'hive.v1.HiveRegistry/TotalWorkerCount': 'read',
  'hive.v1.HiveRegistry/GetWorkersOnHive': 'read',
  'hive.v1.HiveRegistry/ListQueens': 'read',
  'hive.v1.HiveCatalog/RegisterHive': 'admin',
  'hive.v1.HiveCatalog/GetCatalogHive': 'read',
  'hive.v1.HiveCatalog/ListCatalogHives': 'read',
  'hive.v1.HiveCatalog/UpdateHive': 'admin',
  'hive.v1.HiveCatalog/DeregisterHive': 'admin',
  'hive.v1.HiveCatalog/IssueHiveToken': 'admin',
  'hive.v1.HiveCatalog/RevokeHiveToken': 'admin',
  'hive.v1.HiveCatalog/ListHiveTokens': 'admin',
  'hive.v1.HiveCatalog/CordonHive': 'admin',
  'hive.v1.HiveCatalog/UncordonHive': 'admin',
};

/** Who made a call: an operator or program holding a caller token, or a hive holding its own token. */
export type Principal =
  | { readonly kind: 'caller'; readonly name: string; readonly role: Role }
  | { readonly kind: 'hive'; readonly hiveId: string; readonly tokenId: string };

export type AccessDecision = { readonly principal: Principal } | { readonly denied: CallStatus };

/** `Bearer <token>`; the scheme is case-insensitive (RFC 6750), the token is one run of visible characters. */
const BEARER = /^bearer +([\x21-\x7e]+) *$/i;

/** The token of an `authorization` value (gRPC metadata or HTTP header), or undefined when it is not one bearer. */
export function bearerToken(authorization: string): string | undefined {
  return BEARER.exec(authorization)?.[1];
}

/** Whether a caller with `role` may call what needs `needed` (admin includes read). */
export function roleAllows(role: Role, needed: Role): boolean {
  return role === 'admin' || needed === 'read';
}

/**
 * Who may call what, with auth on. A call's `authorization: Bearer <token>` metadata is hashed once and matched
 * against the caller tokens (constant time, every entry) and then the hive tokens (by hash). Missing or unknown:
 * UNAUTHENTICATED; known without the right: PERMISSION_DENIED. Messages name the caller and the method, never
 * the token.
 */
export class AccessControl {
  constructor(
    private readonly callers: CallerTokens,
    /** The catalog's hive tokens: checked by hash, and their use noted. */
    private readonly hiveTokens: TokenDirectory,
    private readonly wallNow: () => number,
  ) {}

  /** Whether `metadata` may call `method` (`package.Service/Method`). */
  decide(method: string, metadata: Metadata): AccessDecision {
    const access = METHOD_ACCESS[method];
    if (access === undefined) {
      return { denied: { code: status.PERMISSION_DENIED, details: `${method}: no access rule; refused` } };
    }
    const identified = this.authenticate(method, metadata);
    if ('denied' in identified) return identified;
    const { principal } = identified;
    if (access === 'hive') {
      if (principal.kind === 'caller') {
        return {
          denied: {
            code: status.PERMISSION_DENIED,
            details: `${method}: caller ${quote(principal.name)} holds a caller token; a Heartbeat stream needs a hive token (IssueHiveToken)`,
          },
        };
      }
      this.hiveTokens.used(principal.tokenId, this.wallNow());
      return identified;
    }
    if (principal.kind === 'hive') {
      return {
        denied: {
          code: status.PERMISSION_DENIED,
          details: `${method}: a hive token (hive ${quote(principal.hiveId)}) may only open a Heartbeat stream`,
        },
      };
    }
    if (!roleAllows(principal.role, access)) {
      return {
        denied: {
          code: status.PERMISSION_DENIED,
          details: `${method}: caller ${quote(principal.name)} has role ${principal.role}; this method needs ${access}`,
        },
      };
    }
    return identified;
  }

  private authenticate(method: string, metadata: Metadata): AccessDecision {
    const values = metadata.get('authorization');
    if (values.length === 0) {
      return {
        denied: {
          code: status.UNAUTHENTICATED,
          details: `${method}: authentication required: send metadata "authorization: Bearer <token>"`,
        },
      };
    }
    const value = values.length === 1 ? values[0] : undefined;
    const token = typeof value === 'string' ? bearerToken(value) : undefined;
    if (token === undefined) {
      return {
        denied: {
          code: status.UNAUTHENTICATED,
          details: `${method}: the authorization metadata must be one "Bearer <token>"`,
        },
      };
    }
    const principal = this.principalOf(token);
    if (principal !== undefined) return { principal };
    return { denied: { code: status.UNAUTHENTICATED, details: `${method}: unknown or revoked token` } };
  }

  /**
   * Whose token this is: a caller (hashed once, matched against every caller in constant time), else a live hive
   * token (the catalog, by hash); undefined when unknown or revoked. Shared by gRPC calls and the HTTP listener.
   */
  principalOf(token: string): Principal | undefined {
    const caller = this.callers.match(tokenSha256(token));
    if (caller !== undefined) return { kind: 'caller', name: caller.name, role: caller.role };
    const hive = this.hiveTokens.verify(token);
    if (hive !== undefined) return { kind: 'hive', hiveId: hive.hiveId, tokenId: hive.tokenId };
    return undefined;
  }
}

/** A guarded handler gets the call's principal as an extra argument (only the Heartbeat handler reads it). */
type AnyHandler = (...args: unknown[]) => void;

/**
 * Wraps every handler of `service` so that it runs only for calls `access` lets in; the others end with the
 * decision's status before the handler sees them. Streams get the principal as the handler's last argument.
 * Throws at start for a method with no access rule.
 */
export function guardService(
  service: DescService,
  implementation: UntypedServiceImplementation,
  access: AccessControl,
  logger: Logger,
): UntypedServiceImplementation {
  const guarded: Record<string, UntypedHandleCall> = {};
  for (const method of service.methods) {
    const path = `${service.typeName}/${method.name}`;
    if (METHOD_ACCESS[path] === undefined) throw new Error(`no access rule for ${path}`);
    const handler = implementation[method.localName] as unknown as AnyHandler | undefined;
    if (handler === undefined) continue;
    const refuse = (denied: CallStatus, peer: string): void => {
      logger.info({ rpc: path, code: denied.code, peer, details: denied.details }, 'call refused');
    };
    const unary = method.methodKind === 'unary' || method.methodKind === 'client_streaming';
    const wrapped = unary
      ? (call: { metadata: Metadata; getPeer(): string }, callback: (error: unknown) => void): void => {
          const decision = access.decide(path, call.metadata);
          if ('denied' in decision) {
            refuse(decision.denied, call.getPeer());
            callback(serviceError(decision.denied));
            return;
          }
          handler(call, callback);
        }
      : (call: { metadata: Metadata; getPeer(): string; emit(event: 'error', error: unknown): boolean }): void => {
          const decision = access.decide(path, call.metadata);
          if ('denied' in decision) {
            refuse(decision.denied, call.getPeer());
            call.emit('error', serviceError(decision.denied));
            return;
          }
          handler(call, decision.principal);
        };
    // grpc-js's handler types differ by method kind; the wrapper keeps each method's kind.
    guarded[method.localName] = wrapped as unknown as UntypedHandleCall;
  }
  return guarded;
}
