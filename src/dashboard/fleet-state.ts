// The dashboard's picture of the fleet, built from the queen's live feed: Watch events (protobuf JSON form) and
// the periodic details. Pure (no DOM, no clock of its own): the page renders what `view` returns.

import type { DetailsJson, HiveDetailJson, WatchEventJson, WorkerStateJson } from './feed-json.js';

export type { DetailsJson, HiveDetailJson, WatchEventJson, WorkerStateJson } from './feed-json.js';

/** A worker as the page shows it. */
export interface WorkerRow {
  readonly hiveId: string;
  readonly hiveOnline: boolean;
  readonly workerId: string;
  /** idle, busy, loading, error, stopping or unspecified. */
  readonly state: string;
  readonly modelId: string;
  /** cpu, cuda, metal, rocm or unspecified. */
  readonly backend: string;
  readonly url: string;
  readonly deviceId?: number;
  readonly vramBytes?: number;
  readonly gpuPercent?: number;
  readonly cpuPercent?: number;
  /** healthy, degraded or unspecified. */
  readonly health: string;
  readonly slots: number;
  readonly reserved: number;
  readonly excludedUntilMs?: number;
  /** The inference engine (`vllm`, `llama.cpp`, ...) and its version, as the worker reports them. */
  readonly engine?: string;
  readonly engineVersion?: string;
  /** Requests the engine runs now and queues, by its own count. */
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
  /** KV cache in use, a fraction 0-1. */
  readonly kvCacheUsage?: number;
  /** Longest context of the loaded model, in tokens. */
  readonly contextLength?: number;
  /** Why the worker is in its state, for people. */
  readonly statusMessage?: string;
}

/** A hive as the page shows it. */
export interface HiveRow {
  readonly hiveId: string;
  /** online, offline, or absent (in the catalog, not connected: never seen or evicted). */
  readonly status: 'online' | 'offline' | 'absent';
  readonly lastHeartbeatMs?: number;
  /** In a federation, the other queen holding the hive's stream. */
  readonly queenId?: string;
  readonly workerCount: number;
  readonly vramTotalBytes: number;
  readonly vramUsedBytes: number;
  readonly vramFreeBytes: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly cordoned: boolean;
  readonly registered: boolean;
  /** Whether the queen's details of this hive have come yet (they follow its Watch events by a moment). */
  readonly detailsKnown: boolean;
}

/** What the filters ask; empty strings match everything. */
export interface Filter {
  readonly model: string;
  readonly backend: string;
  readonly state: string;
}

export interface FleetView {
  readonly hives: readonly HiveRow[];
  readonly workers: readonly WorkerRow[];
  /** Every worker, before filtering. */
  readonly workerTotal: number;
  readonly models: readonly string[];
  readonly onlineHives: number;
  readonly offlineHives: number;
  readonly workersByState: Readonly<Record<string, number>>;
}

interface HiveEntry {
  online: boolean;
  readonly workers: Map<string, WorkerStateJson>;
}

/** `WORKER_STATUS_IDLE` -> `idle`: the enum prefix off, lower case; absent is the zero value. */
export function enumName(value: string | undefined, prefix: string): string {
  if (value === undefined || value === '') return 'unspecified';
  return (value.startsWith(prefix) ? value.slice(prefix.length) : value).toLowerCase();
}

function bytes(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The fleet as of the last event applied. Watch semantics: RESYNC drops everything (a snapshot follows), a
 * snapshot or replay ends with SYNCED, HIVE_REMOVED takes the hive's workers with it. Details replace per hive;
 * `resetDetails` makes the next details event replace them all (a new connection starts with every hive).
 */
export class FleetState {
  private readonly hives = new Map<string, HiveEntry>();
  private details = new Map<string, HiveDetailJson>();
  private replaceDetails = true;
  /** Revision held whole (after SYNCED or a live event); 0 before. */
  revision = 0;
  epoch = '';
  /** A snapshot or replay has ended since the last RESYNC or reset. */
  synced = false;
  /** Server clock minus the page's, from the last details event. */
  clockOffsetMs = 0;

  /** Applies one Watch event. */
  applyWatch(event: WatchEventJson): void {
    const revision = Number(event.revision ?? '0');
    if (event.epoch !== undefined) this.epoch = event.epoch;
    const hiveId = event.hiveId ?? '';
    switch (event.type) {
      case 'WATCH_EVENT_TYPE_RESYNC':
        this.hives.clear();
        this.synced = false;
        return;
      case 'WATCH_EVENT_TYPE_SYNCED':
        this.synced = true;
        this.revision = revision;
        return;
      case 'WATCH_EVENT_TYPE_HIVE_ONLINE':
      case 'WATCH_EVENT_TYPE_HIVE_OFFLINE':
        this.hive(hiveId).online = event.type === 'WATCH_EVENT_TYPE_HIVE_ONLINE';
        break;
      case 'WATCH_EVENT_TYPE_HIVE_REMOVED':
        this.hives.delete(hiveId);
        break;
      case 'WATCH_EVENT_TYPE_WORKER_UPSERTED': {
        const hive = this.hive(hiveId);
        hive.online = event.hiveOnline ?? false;
        const worker = event.worker;
        if (worker?.workerId !== undefined) hive.workers.set(worker.workerId, worker);
        break;
      }
      case 'WATCH_EVENT_TYPE_WORKER_REMOVED':
        this.hives.get(hiveId)?.workers.delete(event.worker?.workerId ?? '');
        break;
      default:
        return;
    }
    if (this.synced) this.revision = revision;
  }

  /** Drops the fleet: the next events are a fresh snapshot. */
  reset(): void {
    this.hives.clear();
    this.synced = false;
    this.revision = 0;
    this.resetDetails();
  }

  /** The next details event holds every hive: it replaces what is known instead of updating it. */
  resetDetails(): void {
    this.replaceDetails = true;
  }

  /** Applies one details event, received at `pageNowMs` on the page's clock. */
  applyDetails(details: DetailsJson, pageNowMs: number): void {
    if (this.replaceDetails) this.details = new Map();
    this.replaceDetails = false;
    for (const hive of details.hives) this.details.set(hive.hiveId, hive);
    for (const hiveId of details.gone) this.details.delete(hiveId);
    this.clockOffsetMs = details.serverTimeMs - pageNowMs;
  }

  /** The rows to show, filtered, sorted by hive id then worker id. */
  view(filter: Filter): FleetView {
    const workers: WorkerRow[] = [];
    const workersByState: Record<string, number> = {};
    const models = new Set<string>();
    const matchedHives = new Set<string>();
    const filtering = filter.model !== '' || filter.backend !== '' || filter.state !== '';
    let workerTotal = 0;
    let onlineHives = 0;
    let offlineHives = 0;
    const hiveIds = new Set([...this.hives.keys(), ...this.details.keys()]);
    const sortedIds = [...hiveIds].sort(compareText);
    const hives: HiveRow[] = [];
    for (const hiveId of sortedIds) {
      const entry = this.hives.get(hiveId);
      const detail = this.details.get(hiveId);
      if (entry === undefined && detail === undefined) continue;
      const status = entry === undefined ? 'absent' : entry.online ? 'online' : 'offline';
      if (status === 'online') onlineHives++;
      else offlineHives++;
      const holds = detail?.holds ?? {};
      for (const worker of [...(entry?.workers.values() ?? [])].sort((a, b) => compareText(a.workerId ?? '', b.workerId ?? ''))) {
        workerTotal++;
        const row = this.workerRow(hiveId, entry?.online ?? false, worker, holds);
        if (row.modelId !== '') models.add(row.modelId);
        if (row.hiveOnline) workersByState[row.state] = (workersByState[row.state] ?? 0) + 1;
        if (filter.model !== '' && row.modelId !== filter.model) continue;
        if (filter.backend !== '' && row.backend !== filter.backend) continue;
        if (filter.state !== '' && row.state !== filter.state) continue;
        workers.push(row);
        matchedHives.add(hiveId);
      }
      if (filtering && !matchedHives.has(hiveId)) continue;
      hives.push({
        hiveId,
        status,
        ...(detail?.lastHeartbeatMs === undefined ? {} : { lastHeartbeatMs: detail.lastHeartbeatMs }),
        ...(detail?.queenId === undefined ? {} : { queenId: detail.queenId }),
        workerCount: entry?.workers.size ?? 0,
        vramTotalBytes: detail?.vramTotalBytes ?? 0,
        vramUsedBytes: detail?.vramUsedBytes ?? 0,
        vramFreeBytes: detail?.vramFreeBytes ?? 0,
        labels: detail?.labels ?? {},
        cordoned: detail?.cordoned ?? false,
        registered: detail?.registered ?? false,
        detailsKnown: detail !== undefined,
      });
    }
    return { hives, workers, workerTotal, models: [...models].sort(compareText), onlineHives, offlineHives, workersByState };
  }

  private workerRow(
    hiveId: string,
    hiveOnline: boolean,
    worker: WorkerStateJson,
    holds: HiveDetailJson['holds'],
  ): WorkerRow {
    const workerId = worker.workerId ?? '';
    const hold = holds[workerId];
    const vram = bytes(worker.vramBytes);
    return {
      hiveId,
      hiveOnline,
      workerId,
      state: enumName(worker.state, 'WORKER_STATUS_'),
      modelId: worker.modelId ?? '',
      backend: enumName(worker.backend, 'BACKEND_'),
      url: worker.url ?? '',
      ...(worker.deviceId === undefined ? {} : { deviceId: worker.deviceId }),
      ...(vram === undefined ? {} : { vramBytes: vram }),
      ...(worker.gpuPercent === undefined ? {} : { gpuPercent: worker.gpuPercent }),
      ...(worker.cpuPercent === undefined ? {} : { cpuPercent: worker.cpuPercent }),
      health: enumName(worker.health, 'HEALTH_STATUS_'),
      slots: worker.maxConcurrency ?? 1,
      reserved: hold?.reserved ?? 0,
      ...(hold?.excludedUntilMs === undefined ? {} : { excludedUntilMs: hold.excludedUntilMs }),
      ...(worker.engine === undefined ? {} : { engine: worker.engine }),
      ...(worker.engineVersion === undefined ? {} : { engineVersion: worker.engineVersion }),
      ...(worker.requestsRunning === undefined ? {} : { requestsRunning: worker.requestsRunning }),
      ...(worker.requestsWaiting === undefined ? {} : { requestsWaiting: worker.requestsWaiting }),
      ...(worker.kvCacheUsage === undefined ? {} : { kvCacheUsage: worker.kvCacheUsage }),
      ...(worker.contextLength === undefined ? {} : { contextLength: worker.contextLength }),
      ...(worker.statusMessage === undefined ? {} : { statusMessage: worker.statusMessage }),
    };
  }

  private hive(hiveId: string): HiveEntry {
    let hive = this.hives.get(hiveId);
    if (hive === undefined) {
      hive = { online: false, workers: new Map() };
      this.hives.set(hiveId, hive);
    }
    return hive;
  }
}
