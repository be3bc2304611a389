import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchChild } from './bench-child.js';
import { hiveId } from './fleet.js';
import { machineCpu, serverStats, startServer, type RunningServer } from './network-scenarios.js';
import type { LoadEvent, LoadSpec, ServerStats } from './protocol.js';
import { sleep } from './stats.js';

/**
 * "1,000 hives heartbeating once a second": what the durable catalog costs the queen. A filler keeps a fleet
 * online (one snapshot per hive, then a liveness tick per hive per second) against a queen with an in-memory
 * catalog and then against one with a file catalog in a fresh temporary folder; both checkpoint heartbeat times
 * once per flush interval (the default, 1 s), one transaction for every hive changed since the last one. Over a
 * measured window: server CPU, catalog write transactions, heartbeats acked, server memory. Afterwards the file
 * run's SQLite file is opened here (the bench parent; the queen has stopped) and must hold every hive with a
 * recent last_seen, or the scenario fails.
 */

/** The scenario's knobs (run.ts sets them). */
export interface CatalogSettings {
  readonly hives: number;
  readonly tickEveryMs: number;
  readonly streamsPerConnection: number;
  /** After the fleet is filled, before the window. */
  readonly warmupMs: number;
  readonly measureMs: number;
}

export type CatalogKind = 'memory' | 'file';

/** One run against one queen, over the measured window. */
export interface CatalogMeasurement {
  readonly kind: CatalogKind;
  /** Time from the filler's start until every hive's snapshot was acked. */
  readonly fillMs: number;
  /** Heartbeats acked (all accepted) per second, counted by the filler over its own window. */
  readonly heartbeatsPerSecond: number;
  /** Catalog write transactions committed per second, counted by the queen over its window. */
  readonly writeTransactionsPerSecond: number;
  /** Server CPU over the window, in % of one core, and per acked heartbeat. */
  readonly serverCpuPercent: number;
  readonly serverCpuUsPerHeartbeat: number;
  /** The whole machine's CPU use over the window, in % of all its cores (others' load included). */
  readonly machineBusyPercent: number;
  /** Server memory at the end of the window. */
  readonly serverRssBytes: number;
  readonly serverHeapUsedBytes: number;
}

/** What the file run's SQLite file held once its queen had stopped. */
export interface CatalogFileCheck {
  readonly hives: number;
  readonly hivesWithLastSeen: number;
  /** How long before the end of the window the oldest last_seen was (every hive ticks once a second). */
  readonly oldestLastSeenBeforeEndMs: number;
  /** The database file and whatever SQLite left beside it (-wal, -shm), after the stop. */
  readonly fileBytes: number;
  /** Where the temporary folder was made (os.tmpdir()): its file system decides what a commit costs. */
  readonly folder: string;
}

export interface CatalogComparison {
  readonly settings: CatalogSettings;
  readonly memory: CatalogMeasurement;
  readonly file: CatalogMeasurement;
  readonly fileCheck: CatalogFileCheck;
}

const FILL_TIMEOUT_MS = 40_000;
const ACKS_TIMEOUT_MS = 5_000;
/**
 * The file must hold, for every hive, a last_seen no older than this before the window's end: each hive ticks
 * once a second and the queen checkpoints once a second (and once more when it stops), so 3 s is generous.
 */
const LAST_SEEN_SLACK_MS = 3_000;

type AcksEvent = Extract<LoadEvent, { event: 'acks' }>;

/** Asks the filler how many acks it has counted so far. */
export async function fillerAcks(filler: BenchChild): Promise<AcksEvent> {
  filler.send('acks');
  const { acks, rejected, atMs } = await filler.next('acks', ACKS_TIMEOUT_MS);
  if (typeof acks !== 'number' || typeof rejected !== 'number' || typeof atMs !== 'number') {
    throw new Error(`${filler.name}: malformed acks event`);
  }
  return { event: 'acks', acks, rejected, atMs };
}

function catalogWrites(stats: ServerStats): number {
  if (stats.catalogWrites === undefined) throw new Error('the queen did not report catalogWrites');
  return stats.catalogWrites;
}

/** Fills a fleet against `server`, warms up, and measures one window. */
async function measureCheckpoints(
  kind: CatalogKind,
  server: RunningServer,
  settings: CatalogSettings,
): Promise<{ measurement: CatalogMeasurement; windowEndWallMs: number }> {
  const spec: LoadSpec = {
    mode: 'fill',
    address: server.address,
    hives: settings.hives,
    streamsPerConnection: settings.streamsPerConnection,
    tickEveryMs: settings.tickEveryMs,
    maxLifetimeMs: FILL_TIMEOUT_MS + settings.warmupMs + settings.measureMs + 15_000,
  };
  const filler = new BenchChild(`${kind}-catalog fleet filler`, 'load-main.js', [JSON.stringify(spec)]);
  try {
    const filled = await filler.next('filled', FILL_TIMEOUT_MS);
    await sleep(settings.warmupMs);
    const [serverStart, acksStart] = await Promise.all([serverStats(server), fillerAcks(filler)]);
    const machineStart = machineCpu();
    await sleep(settings.measureMs);
    const [serverEnd, acksEnd] = await Promise.all([serverStats(server), fillerAcks(filler)]);
    const machineEnd = machineCpu();
    const windowEndWallMs = Date.now();
    if (acksEnd.rejected > 0) throw new Error(`${kind} catalog: ${acksEnd.rejected} heartbeats were not accepted`);

    const serverWindowMs = serverEnd.atMs - serverStart.atMs;
    const serverCpuUs =
      serverEnd.cpuUserUs + serverEnd.cpuSystemUs - serverStart.cpuUserUs - serverStart.cpuSystemUs;
    const heartbeatsPerSecond = ((acksEnd.acks - acksStart.acks) * 1_000) / (acksEnd.atMs - acksStart.atMs);
    const serverCpuPercent = serverCpuUs / 10 / serverWindowMs;
    const measurement: CatalogMeasurement = {
      kind,
      fillMs: Number(filled['elapsedMs']),
      heartbeatsPerSecond,
      writeTransactionsPerSecond:
        ((catalogWrites(serverEnd) - catalogWrites(serverStart)) * 1_000) / serverWindowMs,
      serverCpuPercent,
      serverCpuUsPerHeartbeat: (serverCpuPercent * 10_000) / heartbeatsPerSecond,
      machineBusyPercent: (100 * (machineEnd.busy - machineStart.busy)) / (machineEnd.total - machineStart.total),
      serverRssBytes: serverEnd.rssBytes,
      serverHeapUsedBytes: serverEnd.heapUsedBytes,
    };
    return { measurement, windowEndWallMs };
  } finally {
    await filler.stop();
  }
}

/**
 * Reads the stopped queen's catalog file: every hive of the fleet must be there with a last_seen from the end of
 * the run. Throws, naming what is wrong, otherwise. The bench parent opens the file read-only; src/catalog stays
 * the only production code that talks to the driver.
 */
function checkCatalogFile(
  path: string,
  hives: number,
  windowEndWallMs: number,
): Omit<CatalogFileCheck, 'fileBytes' | 'folder'> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  let rows: { hive_id: string; last_seen: number | null }[];
  try {
    rows = db.prepare('SELECT hive_id, last_seen FROM hives').all() as { hive_id: string; last_seen: number | null }[];
  } finally {
    db.close();
  }
  const lastSeen = new Map(rows.map((row) => [row.hive_id, row.last_seen]));
  const problems: string[] = [];
  if (rows.length !== hives) problems.push(`${rows.length} hives instead of ${hives}`);
  const missing = Array.from({ length: hives }, (_, i) => hiveId(i)).filter((id) => !lastSeen.has(id));
  if (missing.length > 0) problems.push(`${missing.length} of the fleet's hives missing (first: ${missing[0]})`);
  const seen = rows.filter((row) => row.last_seen !== null).map((row) => row.last_seen ?? 0);
  if (seen.length !== rows.length) problems.push(`${rows.length - seen.length} hives without last_seen`);
  const oldest = seen.length === 0 ? Number.NaN : Math.min(...seen);
  const oldestBeforeEndMs = windowEndWallMs - oldest;
  if (!(oldestBeforeEndMs <= LAST_SEEN_SLACK_MS)) {
    problems.push(
      `the oldest last_seen is ${Math.round(oldestBeforeEndMs)} ms before the window's end ` +
        `(at most ${LAST_SEEN_SLACK_MS} ms expected)`,
    );
  }
  if (problems.length > 0) throw new Error(`catalog file check failed for ${path}: ${problems.join('; ')}`);
  return { hives: rows.length, hivesWithLastSeen: seen.length, oldestLastSeenBeforeEndMs: oldestBeforeEndMs };
}

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** The scenario: the in-memory catalog, then the file catalog in a temporary folder removed afterwards. */
export async function catalogCheckpointRuns(settings: CatalogSettings): Promise<CatalogComparison> {
  const memoryServer = await startServer('queen', ':memory:');
  let memory: CatalogMeasurement;
  try {
    memory = (await measureCheckpoints('memory', memoryServer, settings)).measurement;
  } finally {
    await memoryServer.child.stop();
  }

  const folder = tmpdir();
  const dir = mkdtempSync(join(folder, 'hive-registry-bench-'));
  try {
    const path = join(dir, 'catalog.db');
    const fileServer = await startServer('queen', path);
    let run: Awaited<ReturnType<typeof measureCheckpoints>>;
    try {
      run = await measureCheckpoints('file', fileServer, settings);
    } finally {
      // The stop drains the streams and writes a final checkpoint before the file is read below.
      await fileServer.child.stop();
    }
    const check = checkCatalogFile(path, settings.hives, run.windowEndWallMs);
    return { settings, memory, file: run.measurement, fileCheck: { ...check, fileBytes: folderBytes(dir), folder } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
