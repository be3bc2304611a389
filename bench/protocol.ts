/**
 * What the benchmark's processes say to each other: one JSON object per line on the child's stdout, and for the
 * server child, one command per line on its stdin. Kept in one place so both ends agree.
 */

/** Which server a scenario runs against. */
export type ServerKind = 'queen' | 'production' | 'bare';

/** CPU and memory of a process at one instant (process.cpuUsage(), process.memoryUsage()). */
export interface ProcessStats {
  /** When the figures were read: process.hrtime (CLOCK_MONOTONIC on Linux, so comparable across processes). */
  readonly atMs: number;
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

/** What the server child answers to a 'stats' command: its process figures, plus the queen's catalog counter. */
export interface ServerStats extends ProcessStats {
  /** Catalog write transactions committed since the queen started (`catalog.writeTransactions`); bare: absent. */
  readonly catalogWrites?: number;
}

/**
 * What the server child answers to a 'memory' command: all of process.memoryUsage(), read after a full garbage
 * collection when the child runs with --expose-gc, plus the queen's online hives and open heartbeat streams.
 */
export interface ServerMemory {
  readonly atMs: number;
  readonly rssBytes: number;
  readonly heapTotalBytes: number;
  readonly heapUsedBytes: number;
  /** Memory of C++ objects bound to JS objects (Buffers included). */
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
  /** Whether a full gc ran first (the child was started with --expose-gc). */
  readonly afterGc: boolean;
  /** Queen only: hives online in its registry, and heartbeat streams open. */
  readonly onlineHives?: number;
  readonly heartbeatStreams?: number;
}

/** Heartbeat load: `hives` streams, each with at most `window` payloads unacked. */
export interface HeartbeatLoadSpec {
  readonly mode: 'heartbeat';
  readonly address: string;
  /** 'snapshot': every payload a full snapshot; 'tick': a snapshot first, then liveness ticks. */
  readonly variant: 'snapshot' | 'tick';
  readonly hives: number;
  /** Hive ids start here, so concurrent or successive runs never share a hive. */
  readonly firstHive: number;
  readonly window: number;
  /** Streams sharing one connection (1: each hive its own TCP connection, as real hives). */
  readonly streamsPerConnection: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** The production queen's access file (bench-access.ts): calls then carry its tokens. */
  readonly access?: string;
}

/** Unary load: `inFlight` calls of one method outstanding at all times. */
export interface UnaryLoadSpec {
  readonly mode: 'unary';
  readonly address: string;
  readonly method: 'findBestWorkerForModel' | 'getHiveState';
  /** Requests for GetHiveState cycle over hives 0..hives-1. */
  readonly hives: number;
  readonly inFlight: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** The production queen's access file (bench-access.ts): calls then carry its tokens. */
  readonly access?: string;
}

/**
 * Background fleet: `hives` streams, one snapshot each, then a tick per hive every `tickEveryMs` until stopped.
 * The filler answers each 'acks' line on its stdin with an 'acks' event (acks counted so far).
 */
export interface FillSpec {
  readonly mode: 'fill';
  readonly address: string;
  readonly hives: number;
  /** Hive ids start here (0 if absent), so several fillers against one server never share a hive. */
  readonly firstHive?: number;
  /** Streams sharing one connection (1: each hive its own TCP connection, as real hives). */
  readonly streamsPerConnection: number;
  readonly tickEveryMs: number;
  /** The filler exits on its own after this long, even if nobody stops it. */
  readonly maxLifetimeMs: number;
  /** The production queen's access file (bench-access.ts): calls then carry its tokens. */
  readonly access?: string;
}

/**
 * The production variant's Watch client, in its own process as a separate client application would be: it opens
 * one Watch on the whole fleet with the access file's caller token, says 'synced' once the fleet's snapshot has
 * arrived, and reads every event until stopped.
 */
export interface WatchHoldSpec {
  readonly mode: 'watch';
  readonly address: string;
  readonly access: string;
}

export type LoadSpec = HeartbeatLoadSpec | UnaryLoadSpec | FillSpec | WatchHoldSpec;

/** One figure of the in-process (no gRPC) benchmark: absolute, there is no baseline to divide by. */
export interface DomainFigure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** How it was measured (counts, what is included). */
  readonly detail: string;
}

/** The in-process benchmark's parameters: how many hives of the standard fleet, and how long each timing runs. */
export interface DomainSpec {
  readonly hives: number;
  readonly maxMsPerTiming: number;
}

/** What one measured load run reports. */
export interface LoadResult {
  /** Completed operations (acks or calls) inside the measurement window. */
  readonly ops: number;
  /** Actual length of the measurement window. */
  readonly elapsedMs: number;
  /** Operations that failed (rejected acks, failed calls), whole run. */
  readonly failures: number;
  readonly firstFailure?: string;
  /** Latency percentiles in milliseconds, from send to ack or response, inside the window. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Load generator CPU time inside the window. */
  readonly clientCpuUs: number;
  /** Encoded size of one response (unary) or one request (heartbeat), in bytes. */
  readonly messageBytes: number;
}

/** Lines the load generator writes on stdout. */
export type LoadEvent =
  | { readonly event: 'measure-start' }
  | { readonly event: 'measure-end' }
  | { readonly event: 'filled'; readonly hives: number; readonly workers: number; readonly elapsedMs: number }
  | { readonly event: 'result'; readonly result: LoadResult }
  | { readonly event: 'synced' }
  | {
      readonly event: 'acks';
      /** Acks the filler has received so far (the initial snapshots' included), and how many said not accepted. */
      readonly acks: number;
      readonly rejected: number;
      /** When counted: process.hrtime in ms, as ProcessStats.atMs. */
      readonly atMs: number;
    }
  | { readonly event: 'domain'; readonly figures: readonly DomainFigure[] }
  | { readonly event: 'failed'; readonly error: string };

/** Lines the server child writes on stdout. */
export type ServerEvent =
  | { readonly event: 'ready'; readonly port: number; readonly httpPort?: number }
  | { readonly event: 'stats'; readonly stats: ServerStats }
  | { readonly event: 'memory'; readonly memory: ServerMemory }
  | { readonly event: 'heap-snapshot'; readonly path: string };

/** process.hrtime in milliseconds: CLOCK_MONOTONIC on Linux, so comparable across the benchmark's processes. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Reads process.cpuUsage() and process.memoryUsage() now. */
export function processStats(): ProcessStats {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    atMs: monotonicMs(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
  };
}

/** Writes one event line on stdout. */
export function emit(event: LoadEvent | ServerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
