// What the queen's live feed (GET /api/events) carries, as the page reads it: Watch events in protobuf JSON form
// and the periodic details of each hive (see the server's watch-json and fleet-details).

/** hive.v1.WorkerState in protobuf JSON form (64-bit integers are strings; absent fields are defaults). */
export interface WorkerStateJson {
  readonly workerId?: string;
  readonly state?: string;
  readonly url?: string;
  readonly modelId?: string;
  readonly backend?: string;
  readonly deviceId?: number;
  readonly vramBytes?: string;
  readonly ramBytes?: string;
  readonly cpuPercent?: number;
  readonly gpuPercent?: number;
  readonly health?: string;
  readonly lastHeartbeat?: string;
  readonly maxConcurrency?: number;
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
  /** A fraction, 0-1. */
  readonly kvCacheUsage?: number;
  readonly engine?: string;
  readonly engineVersion?: string;
  /** In tokens. */
  readonly contextLength?: number;
  readonly statusMessage?: string;
}

/** hive.v1.WatchEvent in protobuf JSON form. */
export interface WatchEventJson {
  readonly revision?: string;
  readonly epoch?: string;
  readonly type?: string;
  readonly hiveId?: string;
  readonly hiveOnline?: boolean;
  readonly worker?: WorkerStateJson;
}

/** The queen's details of one hive (see the server's fleet-details). */
export interface HiveDetailJson {
  readonly hiveId: string;
  readonly inRegistry: boolean;
  readonly registered: boolean;
  readonly lastHeartbeatMs?: number;
  /** In a federation, the other queen holding the hive's stream (absent: the queen serving this page). */
  readonly queenId?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string;
  readonly cordoned: boolean;
  readonly vramTotalBytes: number;
  readonly vramUsedBytes: number;
  readonly vramFreeBytes: number;
  readonly devices: readonly { deviceId: number; name: string; backend: string; vramTotalBytes: number; vramUsedBytes: number }[];
  readonly holds: Readonly<Record<string, { reserved: number; excludedUntilMs?: number }>>;
}

/** One `details` event. */
export interface DetailsJson {
  readonly serverTimeMs: number;
  readonly hives: readonly HiveDetailJson[];
  readonly gone: readonly string[];
}
