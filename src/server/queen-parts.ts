import type { Logger } from 'pino';
import type { Catalog, RemoteCatalogChange } from '../catalog/catalog.js';
import { EtcdCatalog } from '../catalog/etcd-catalog.js';
import { SqliteCatalog } from '../catalog/sqlite-catalog.js';
import type { Clock } from '../common/clock.js';
import { EtcdUnavailableError, type EtcdStore } from '../federation/etcd-store.js';
import type { Federation } from '../federation/federation.js';
import type { SnapshotObserver } from '../registry/types.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';
import type { HeartbeatStreams } from './heartbeat-streams.js';
import type { ServerConfig } from './server-config.js';

// How the queen's parts are chosen and joined at start: which catalog, who hears of registry snapshots, and what a
// change another queen made to a shared catalog does here. queen-server.ts composes them.

/**
 * What this queen does when another queen changes a shared catalog, as the catalog RPCs do on this one: a hive's
 * labels and cordon reach the scheduler; a deregistered hive leaves the registry and its stream here ends with
 * ABORTED; a revoked hive token ends the streams opened with it.
 */
export function remoteCatalogChanges(
  scheduling: SchedulingIndex,
  streams: HeartbeatStreams,
  logger: Logger,
): (change: RemoteCatalogChange) => void {
  return (change) => {
    try {
      if (change.kind === 'token_revoked') {
        const ended = streams.endToken(change.tokenId);
        const { hiveId, tokenId } = change;
        logger.info({ hiveId, tokenId, streamsEnded: ended }, 'hive token revoked by another queen');
        return;
      }
      const { hiveId, record } = change;
      scheduling.setPolicy(hiveId, record && { labels: record.labels, cordoned: record.cordoned });
      if (record === undefined) streams.removeHive(hiveId, 'was deregistered from the catalog');
    } catch (error) {
      logger.error({ hiveId: change.hiveId, err: error }, 'applying a catalog change made by another queen failed');
    }
  };
}

/** The catalog a queen opens by itself: in etcd for a federation, else the SQLite file `config.db`. */
export async function openCatalog(config: ServerConfig, clock: Clock, logger: Logger, etcd: EtcdStore | undefined): Promise<Catalog> {
  if (etcd === undefined || config.etcd === undefined) {
    return SqliteCatalog.open(config.db, () => clock.wallNow(), config.registration, { maxHives: config.maxHives });
  }
  const log = logger.child({ component: 'catalog' });
  // A queen never exits because of etcd: at start it waits for etcd to answer, saying so.
  for (let retryMs = 250; ; retryMs = Math.min(retryMs * 2, 5_000)) {
    try {
      return await EtcdCatalog.open(etcd, {
        prefix: config.etcd.prefix,
        registration: config.registration,
        maxHives: config.maxHives,
        wallNow: () => clock.wallNow(),
        logger: log,
      });
    } catch (error) {
      if (!(error instanceof EtcdUnavailableError)) throw error;
      log.warn({ err: error.message, retryMs }, 'cannot read the catalog from etcd; retrying until it answers');
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}

/** The registry's observer in a federation: the scheduler's index, then the federation's claim of a new stream's hive. */
export function federatedObserver(scheduling: SchedulingIndex, federation: () => Federation | undefined): SnapshotObserver {
  return {
    snapshotReplaced: (hiveId, workers, devices) => {
      scheduling.snapshotReplaced(hiveId, workers, devices);
      federation()?.snapshotAccepted(hiveId);
    },
    heartbeatAccepted: (hiveId) => scheduling.heartbeatAccepted(hiveId),
    hiveRemoved: (hiveId) => scheduling.hiveRemoved(hiveId),
  };
}

