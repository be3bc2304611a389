import { cpus } from 'node:os';
import { BenchChild } from './bench-child.js';
import type { HeartbeatLoadSpec, LoadResult, LoadSpec, ServerKind, ServerStats, UnaryLoadSpec } from './protocol.js';

/** Knobs of the network scenarios (see run.ts for the values used). */
export interface NetworkSettings {
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Heartbeat scenario: concurrent hive streams, and payloads each may have unacked. */
  readonly heartbeatHives: number;
  readonly heartbeatWindow: number;
  /** Unary scenario: hives kept online in the background, and calls in flight. */
  readonly fleetHives: number;
  readonly unaryInFlight: number;
}

/** One measured run of the load generator against one server. */
export interface Measurement {
  readonly result: LoadResult;
  readonly opsPerSecond: number;
  /** Server CPU time per completed operation, over the window. */
  readonly serverCpuUsPerOp: number;
  /** Server and load generator CPU use over the window, in % of one core. */
  readonly serverCpuPercent: number;
  readonly clientCpuPercent: number;
  /** The whole machine's CPU use over the window, in % of all its cores (others' load included). */
  readonly machineBusyPercent: number;
  readonly serverRssBytes: number;
}

/**
 * The baseline's and the queen's measurements of the same scenario in the same round: the queen on its defaults
 * (`queen`) and as in production (`production`: HTTP listener with metrics, authentication, a Watch client).
 */
export interface Pair {
  readonly scenario: string;
  readonly round: number;
  readonly bare: Measurement;
  readonly queen: Measurement;
  readonly production: Measurement;
}

const START_TIMEOUT_MS = 10_000;
const STATS_TIMEOUT_MS = 5_000;
const FILL_TIMEOUT_MS = 40_000;

/** Busy and total CPU time of the whole machine so far (all cores), in ms. */
export function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const { user, nice, sys, idle, irq } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + idle + irq;
  }
  return { busy, total };
}

export interface RunningServer {
  readonly child: BenchChild;
  readonly address: string;
  /** The queen's HTTP listener port, when it was started with one. */
  readonly httpPort?: number;
  /** The production queen's access file: load generators send its tokens. */
  readonly access?: string;
}

/**
 * Starts a server child of `kind`; a queen gets the catalog `db` (server-main's default, ':memory:', if none) and,
 * with `httpListen`, an HTTP listener (dashboard, /metrics) on that address.
 */
export async function startServer(kind: ServerKind, db?: string, httpListen?: string): Promise<RunningServer> {
  const args: string[] = [kind];
  if (kind === 'queen' && (db !== undefined || httpListen !== undefined)) args.push(db ?? ':memory:');
  if (kind === 'queen' && httpListen !== undefined) args.push(httpListen);
  const child = new BenchChild(`${kind} server`, 'server-main.js', args);
  const ready = await child.next('ready', START_TIMEOUT_MS);
  const address = `127.0.0.1:${String(ready['port'])}`;
  return {
    child,
    address,
    ...(typeof ready['httpPort'] === 'number' ? { httpPort: ready['httpPort'] } : {}),
    ...(typeof ready['access'] === 'string' ? { access: ready['access'] } : {}),
  };
}

export async function serverStats(server: RunningServer): Promise<ServerStats> {
  server.child.send('stats');
  const event = await server.child.next('stats', STATS_TIMEOUT_MS);
  return event['stats'] as ServerStats;
}

/** The spec field that makes a load generator use the production queen's tokens. */
function accessOf(server: RunningServer): { access?: string } {
  return server.access === undefined ? {} : { access: server.access };
}

/** The production queen's Watch client (its own process), synced before it returns; none for the other servers. */
async function startWatcher(server: RunningServer): Promise<BenchChild | undefined> {
  if (server.access === undefined) return undefined;
  const watcher = new BenchChild('watcher', 'load-main.js', [
    JSON.stringify({ mode: 'watch', address: server.address, access: server.access } satisfies LoadSpec),
  ]);
  try {
    await watcher.next('synced', FILL_TIMEOUT_MS);
  } catch (error) {
    await watcher.stop();
    throw error;
  }
  return watcher;
}

/** Runs one load generator child against `server` and reads the server's CPU at the window's two ends. */
async function measure(server: RunningServer, spec: HeartbeatLoadSpec | UnaryLoadSpec): Promise<Measurement> {
  const load = new BenchChild(`${spec.mode} load`, 'load-main.js', [JSON.stringify(spec)]);
  try {
    const budgetMs = spec.warmupMs + spec.measureMs + 20_000;
    await load.next('measure-start', budgetMs);
    const [serverStart, machineStart] = [await serverStats(server), machineCpu()];
    await load.next('measure-end', budgetMs);
    const [serverEnd, machineEnd] = [await serverStats(server), machineCpu()];
    const result = (await load.next('result', budgetMs))['result'] as LoadResult;
    await load.exit(5_000);
    if (result.failures > 0) {
      throw new Error(`${spec.mode} load: ${result.failures} failures, first: ${result.firstFailure ?? '?'}`);
    }
    const serverCpuUs =
      serverEnd.cpuUserUs + serverEnd.cpuSystemUs - serverStart.cpuUserUs - serverStart.cpuSystemUs;
    const serverWindowMs = serverEnd.atMs - serverStart.atMs;
    const opsPerSecond = (result.ops * 1_000) / result.elapsedMs;
    const serverCpuPercent = serverCpuUs / 10 / serverWindowMs;
    return {
      result,
      opsPerSecond,
      // The server's CPU rate over its own window, divided by the op rate over the load generator's window.
      serverCpuUsPerOp: (serverCpuPercent * 10_000) / opsPerSecond,
      serverCpuPercent,
      clientCpuPercent: result.clientCpuUs / 10 / result.elapsedMs,
      machineBusyPercent: (100 * (machineEnd.busy - machineStart.busy)) / (machineEnd.total - machineStart.total),
      serverRssBytes: serverEnd.rssBytes,
    };
  } finally {
    await load.stop();
  }
}

/** Heartbeat throughput against a fresh server of `kind`: every payload a snapshot, or ticks after the first. */
export async function heartbeatRun(
  kind: ServerKind,
  variant: 'snapshot' | 'tick',
  settings: NetworkSettings,
): Promise<Measurement> {
  const server = await startServer(kind);
  let watcher: BenchChild | undefined;
  try {
    watcher = await startWatcher(server);
    return await measure(server, {
      ...accessOf(server),
      mode: 'heartbeat',
      address: server.address,
      variant,
      hives: settings.heartbeatHives,
      firstHive: 0,
      window: settings.heartbeatWindow,
      streamsPerConnection: 1,
      warmupMs: settings.warmupMs,
      measureMs: settings.measureMs,
    });
  } finally {
    await watcher?.stop();
    await server.child.stop();
  }
}

export const UNARY_METHODS: readonly UnaryLoadSpec['method'][] = ['findBestWorkerForModel', 'getHiveState'];

/**
 * Unary throughput against a fresh server of `kind` with a fleet of `settings.fleetHives` hives kept online by a
 * filler process (one snapshot each, then a tick every 5 s, as the default heartbeat interval asks): one
 * measurement per method. The baseline gets the same background fleet, so both servers carry the same streams.
 */
export async function unaryRuns(kind: ServerKind, settings: NetworkSettings): Promise<Map<string, Measurement>> {
  const server = await startServer(kind);
  const filler = new BenchChild(`${kind} fleet filler`, 'load-main.js', [
    JSON.stringify({
      ...accessOf(server),
      mode: 'fill',
      address: server.address,
      hives: settings.fleetHives,
      streamsPerConnection: 20,
      tickEveryMs: 5_000,
      maxLifetimeMs: 60_000,
    } satisfies LoadSpec),
  ]);
  let watcher: BenchChild | undefined;
  try {
    await filler.next('filled', FILL_TIMEOUT_MS);
    watcher = await startWatcher(server);
    const results = new Map<string, Measurement>();
    for (const method of UNARY_METHODS) {
      results.set(
        method,
        await measure(server, {
          ...accessOf(server),
          mode: 'unary',
          address: server.address,
          method,
          hives: settings.fleetHives,
          inFlight: settings.unaryInFlight,
          warmupMs: settings.warmupMs,
          measureMs: settings.measureMs,
        }),
      );
    }
    return results;
  } finally {
    await watcher?.stop();
    await filler.stop();
    await server.child.stop();
  }
}
