import { isIP } from 'node:net';
import { isWildcardHost } from '../common/hosts.js';
import { checkId } from '../registry/ids.js';

/**
 * This queen as ListQueens reports it; `queenId` is also what every HiveState and WorkerEntry it answers carries
 * (on one queen, every hive is its own). Resolved at start, once the listeners are bound.
 */
export interface QueenIdentity {
  /** `--queen-id`, else the host name and the bound gRPC port: `gpu-queen-1:50051`. */
  readonly queenId: string;
  /**
   * HOST:PORT where agents and operators reach this queen: `--advertise`, else the listen address with a wildcard
   * host (0.0.0.0, ::) replaced by the host name and port 0 by the port actually bound.
   */
  readonly address: string;
  /** HOST:PORT of the HTTP listener as bound (a wildcard host replaced by the host name); '' without it. */
  readonly httpAddress: string;
  /** When this queen started serving, wall-clock ms since the epoch. */
  readonly startedAtWallMs: number;
}

/** The settings the identity is made of (checked by the CLI), beside the bound port and the host name. */
export interface IdentitySettings {
  /** Absent or '': the default. */
  readonly queenId?: string;
  /** Absent or '': the default. */
  readonly advertise?: string;
  readonly listen: string;
}

/** The host name and bound port make an id outside the id rules; the CLI exits 2 with this message. */
export class QueenIdentityError extends Error {
  override readonly name = 'QueenIdentityError';
}


/** `host` and `port` as one address, an IPv6 literal in brackets. */
function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A listen address (HOST:PORT or [IPv6]:PORT) as others reach it: `boundPort` in place of its port (which differs
 * only for port 0) and `hostName` in place of a wildcard host.
 */
export function reachableAddress(listen: string, boundPort: number, hostName: string): string {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return joinHostPort(isWildcardHost(host) ? hostName : host, boundPort);
}

/** The default queen id: the host name (as `hostname` prints it) and the bound gRPC port. */
export function defaultQueenId(hostName: string, grpcPort: number): string {
  return `${hostName}:${grpcPort}`;
}

/**
 * This queen's identity once gRPC is bound on `grpcPort` (the HTTP listener's address is added when it is bound).
 * Throws QueenIdentityError when the default id, from the host name, breaks the id rules: `--queen-id` is then
 * needed.
 */
export function resolveQueenIdentity(
  settings: IdentitySettings,
  grpcPort: number,
  hostName: string,
  startedAtWallMs: number,
): QueenIdentity {
  let queenId = settings.queenId ?? '';
  if (queenId === '') {
    queenId = defaultQueenId(hostName, grpcPort);
    const problem = checkId('the default queen id (the host name and gRPC port)', queenId);
    if (problem !== undefined) throw new QueenIdentityError(`${problem}; set one with --queen-id`);
  }
  const advertise = settings.advertise ?? '';
  return {
    queenId,
    address: advertise === '' ? reachableAddress(settings.listen, grpcPort, hostName) : advertise,
    httpAddress: '',
    startedAtWallMs,
  };
}
