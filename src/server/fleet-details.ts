import type { Clock } from '../common/clock.js';
import type { Backend } from '../common/worker.js';
import type { Catalog } from '../catalog/catalog.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';

// What the dashboard shows beside the Watch stream: what changes without a Watch event (the age of a hive's last
// heartbeat, reservations, exclusions) or lives in the catalog (labels, cordon, hives registered but not connected).

/** One accelerator of a hive, with the VRAM its workers report using. */
export interface DeviceDetail {
  readonly deviceId: number;
  readonly name: string;
  readonly backend: Backend;
  readonly vramTotalBytes: number;
  readonly vramUsedBytes: number;
}

/** What scheduling holds on one worker: only workers with a reservation or an exclusion are listed. */
export interface WorkerHoldDetail {
  readonly reserved: number;
  /** Wall-clock end of its exclusion after failures, epoch ms. */
  readonly excludedUntilMs?: number;
}

/** One hive as the dashboard shows it beside its Watch state. */
export interface HiveDetail {
  readonly hiveId: string;
  /** Known to the registry (connected now or recently); false for a catalog hive never seen or evicted. */
  readonly inRegistry: boolean;
  /** In the catalog (labels, cordon and description come from there). */
  readonly registered: boolean;
  /** The queen's receive time of the last accepted payload, epoch ms (absent when not in the registry). */
  readonly lastHeartbeatMs?: number;
  /** In a federation, the other queen that holds the hive's stream (absent: this queen, or not in the registry). */
  readonly queenId?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string;
  readonly cordoned: boolean;
  readonly vramTotalBytes: number;
  readonly vramUsedBytes: number;
  readonly vramFreeBytes: number;
  readonly devices: readonly DeviceDetail[];
  /** By worker id. */
  readonly holds: Readonly<Record<string, WorkerHoldDetail>>;
}

export interface FleetDetailSources {
  readonly registry: HiveRegistry;
  readonly scheduling: SchedulingIndex;
  readonly catalog: Catalog;
  readonly clock: Clock;
}

/** Every hive of the registry and the catalog, by id, as of now. */
export function fleetDetails({ registry, scheduling, catalog, clock }: FleetDetailSources): Map<string, HiveDetail> {
  const now = clock.now();
  const wallNow = clock.wallNow();
  const details = new Map<string, HiveDetail>();
  const records = new Map(catalog.list().map((record) => [record.hiveId, record]));
  for (const hiveId of registry.allHiveIds()) {
    const hive = registry.getHive(hiveId);
    if (hive === undefined) continue;
    const record = records.get(hiveId);
    const usedByDevice = new Map<number, number>();
    const holds: Record<string, WorkerHoldDetail> = {};
    for (const worker of hive.workers) {
      if (worker.deviceId !== undefined && worker.vramBytes !== undefined) {
        usedByDevice.set(worker.deviceId, (usedByDevice.get(worker.deviceId) ?? 0) + worker.vramBytes);
      }
      const hold = scheduling.holdOn(hiveId, worker.workerId);
      if (hold.reserved > 0 || hold.excludedUntil !== undefined) {
        holds[worker.workerId] = {
          reserved: hold.reserved,
          ...(hold.excludedUntil === undefined ? {} : { excludedUntilMs: Math.round(wallNow + hold.excludedUntil - now) }),
        };
      }
    }
    details.set(hiveId, {
      hiveId,
      inRegistry: true,
      registered: record !== undefined,
      lastHeartbeatMs: hive.lastHeartbeatWallMs,
      ...(hive.owner === undefined ? {} : { queenId: hive.owner }),
      labels: record?.labels ?? {},
      description: record?.description ?? '',
      cordoned: record?.cordoned ?? false,
      vramTotalBytes: Number(hive.resources.vramTotalBytes),
      vramUsedBytes: Number(hive.resources.vramUsedBytes),
      vramFreeBytes: Number(hive.resources.vramFreeBytes),
      devices: hive.devices.map((device) => ({
        deviceId: device.deviceId,
        name: device.name,
        backend: device.backend,
        vramTotalBytes: device.vramTotalBytes,
        vramUsedBytes: usedByDevice.get(device.deviceId) ?? 0,
      })),
      holds,
    });
  }
  for (const record of records.values()) {
    if (details.has(record.hiveId)) continue;
    details.set(record.hiveId, {
      hiveId: record.hiveId,
      inRegistry: false,
      registered: true,
      labels: record.labels,
      description: record.description,
      cordoned: record.cordoned,
      vramTotalBytes: 0,
      vramUsedBytes: 0,
      vramFreeBytes: 0,
      devices: [],
      holds: {},
    });
  }
  return details;
}
