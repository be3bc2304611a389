import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import { Etcd3Store } from '../federation/etcd3-store.js';
import type { EtcdStore } from '../federation/etcd-store.js';
import { Federation } from '../federation/federation.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import { quote } from '../registry/ids.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';
import type { QueenIdentity } from './queen-identity.js';
import type { EtcdSettings } from './server-config.js';

export { QueenIdTakenError } from '../federation/queen-directory.js';

/** One connection to etcd for the whole queen (catalog and federation share it). */
export function openEtcd(settings: EtcdSettings): EtcdStore {
  return new Etcd3Store({
    endpoints: settings.endpoints,
    timeoutMs: settings.timeoutMs,
    // Without --etcd-ca, https:// endpoints are verified against the system's CAs.
    ...(settings.tls === undefined ? {} : { tls: settings.tls }),
  });
}

/** What joining needs of the queen. */
export interface FederationParts {
  readonly store: EtcdStore;
  readonly settings: EtcdSettings;
  readonly identity: QueenIdentity;
  readonly registry: HiveRegistry;
  readonly streams: HeartbeatStreams;
  /** Sets the queen's health (gRPC health and /healthz): serving while it sees the whole fleet. */
  readonly healthChanged: (serving: boolean) => void;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Joins the federation as this queen: streams another queen took over end with ABORTED, hives removed elsewhere
 * leave here, and health follows whether the queen sees the whole fleet. Rejects with QueenIdTakenError when a
 * live queen holds this queen's id past one lease TTL.
 */
export function joinFederation(parts: FederationParts): Promise<Federation> {
  const { store, settings, identity, registry, streams, healthChanged, clock, logger } = parts;
  return Federation.join(
    registry,
    {
      store,
      prefix: settings.prefix,
      self: {
        queenId: identity.queenId,
        address: identity.address,
        httpAddress: identity.httpAddress,
        startedAtMs: identity.startedAtWallMs,
      },
      leaseTtlSeconds: Math.round(settings.leaseTtlMs / 1000),
      clock,
      logger: logger.child({ component: 'federation' }),
    },
    {
      endStream: (stream, hiveId, why) => {
        logger.info({ component: 'federation', hiveId }, `heartbeat stream ended: ${why}`);
        streams.end(stream, { code: status.ABORTED, details: `hive ${quote(hiveId)}: ${why}` });
      },
      removeHive: (hiveId, why) => {
        streams.removeHive(hiveId, why);
      },
      healthChanged,
    },
  );
}
