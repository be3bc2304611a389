// Child process: one server under test, on 127.0.0.1 with a free port.
//   node dist/bench/server-main.js queen [DB [HTTP]] | production | bare [--max-streams-per-address N] [--lifetime-ms N]
// DB is the queen's catalog (its `db` setting): ':memory:' unless given, so a benchmark never writes the
// developer's ./data catalog; a scenario that measures the file catalog passes a path in a temporary folder.
// HTTP is the queen's `httpListen` (off unless given): the dashboard scenario opens pages on it.
// `production` is the queen as run in production: its HTTP listener on (so metrics count every call) and
// authentication on, with a `read` caller and a token for each of the scenarios' hives, written to a file named by
// "access" in the ready event (see bench-access.ts).
// Prints {"event":"ready","port":N} (with "httpPort" when HTTP is on); answers each "stats" line on stdin with its
// CPU and memory (and the queen's catalog write transactions), each "memory" line with all of its memory figures
// (after a full gc when run with --expose-gc; the queen adds its online hives and open streams), and each
// "heap-snapshot PATH" line by writing a V8 heap snapshot to PATH; exits on SIGTERM, when its stdin closes (the
// parent is gone), or after --lifetime-ms (default MAX_LIFETIME_MS) whatever happens.
// --max-streams-per-address replaces the queen's bench value (10,000) for a scenario with more hives than that.
import { ServerCredentials } from '@grpc/grpc-js';
import pino from 'pino';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeHeapSnapshot } from 'node:v8';
import { buildServeConfig } from '../src/cli/config.js';
import { parseAuthFile } from '../src/server/callers.js';
import { QueenServer } from '../src/server/queen-server.js';
import { issueAccess, writeAuthFile } from './bench-access.js';
import { bareServer } from './bare-server.js';
import { emit, monotonicMs, processStats, type ServerMemory, type ServerStats } from './protocol.js';

const MAX_LIFETIME_MS = 120_000;
const LISTEN = '127.0.0.1:0';
const DEFAULT_DB = ':memory:';
const MAX_STREAMS_PER_ADDRESS = 10_000;

/** The positional arguments, and the value of each `--name value` pair. */
function parseArgs(args: readonly string[]): { positional: string[]; named: Map<string, string> } {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined) throw new Error(`${arg}: needs a value`);
    named.set(arg.slice(2), value);
    i++;
  }
  return { positional, named };
}

function countOption(named: Map<string, string>, name: string, fallback: number): number {
  const raw = named.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: must be a positive integer, got ${raw}`);
  return value;
}

/** process.memoryUsage() after a full gc when `global.gc` is there (--expose-gc). */
function memoryNow(): Omit<ServerMemory, 'onlineHives' | 'heartbeatStreams'> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const m = process.memoryUsage();
  return {
    atMs: monotonicMs(),
    rssBytes: m.rss,
    heapTotalBytes: m.heapTotal,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
    afterGc: gc !== undefined,
  };
}

async function main(): Promise<void> {
  const { positional, named } = parseArgs(process.argv.slice(2));
  const kind = positional[0];
  const lifetimeMs = countOption(named, 'lifetime-ms', MAX_LIFETIME_MS);
  setTimeout(() => {
    process.stderr.write(`server-main: still running after ${lifetimeMs} ms, exiting\n`);
    process.exit(3);
  }, lifetimeMs).unref();

  let stop: () => Promise<void>;
  let stats: () => ServerStats = processStats;
  let memory: () => ServerMemory = memoryNow;
  let port: number;
  let httpPort: number | undefined;
  let access: string | undefined;
  if (kind === 'queen' || kind === 'production') {
    // The production defaults (as `hive-registry serve` with no flags) but for the catalog, on a free loopback
    // port, logging nothing; every simulated hive connects from 127.0.0.1, so one address holds them all, and the
    // heartbeat scenarios drive each stream as fast as its acks come back (far above any real hive), so the rate
    // limit is raised: they measure the heartbeat path, not the throttle.
    const production = kind === 'production';
    const folder = production ? mkdtempSync(join(tmpdir(), 'hive-bench-auth-')) : undefined;
    const auth = folder === undefined ? undefined : writeAuthFile(folder);
    const db = positional[1] ?? DEFAULT_DB;
    const httpListen = production ? LISTEN : positional[2];
    const parsed = buildServeConfig(
      {
        listen: LISTEN,
        ...(httpListen === undefined ? {} : { httpListen }),
        ...(auth === undefined ? {} : { authFilePath: auth.path }),
        drainTimeoutMs: '1s',
        db,
        maxStreamsPerAddress: String(countOption(named, 'max-streams-per-address', MAX_STREAMS_PER_ADDRESS)),
        heartbeatRateLimit: '100000000',
      },
      {},
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const callers = auth === undefined ? undefined : parseAuthFile(readFileSync(auth.path, 'utf8'), auth.path);
    const queen = await QueenServer.start({ ...parsed.config, ...(callers === undefined ? {} : { callers }) }, pino({ level: 'silent' }));
    if (auth !== undefined && folder !== undefined) access = await issueAccess(queen.catalog, auth.callerToken, folder);
    port = queen.port;
    httpPort = queen.httpPort;
    stop = async () => {
      await queen.stop();
      if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
    };
    stats = () => ({ ...processStats(), catalogWrites: queen.catalog.writeTransactions });
    memory = () => ({
      ...memoryNow(),
      onlineHives: queen.registry.fleetCounts().onlineHives,
      heartbeatStreams: queen.registry.streamCount,
    });
  } else if (kind === 'bare') {
    const server = bareServer();
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(LISTEN, ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    stop = async () => server.forceShutdown();
  } else {
    throw new Error(
      `usage: server-main.js queen [DB [HTTP]] | production | bare [--max-streams-per-address N] ` +
        `[--lifetime-ms N] (got ${JSON.stringify(kind)})`,
    );
  }

  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    setTimeout(() => process.exit(0), 3_000).unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', exit);
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const [command, argument] = line.trim().split(/\s+/);
    if (command === 'stats') emit({ event: 'stats', stats: stats() });
    if (command === 'memory') emit({ event: 'memory', memory: memory() });
    if (command === 'heap-snapshot' && argument !== undefined) {
      emit({ event: 'heap-snapshot', path: writeHeapSnapshot(argument) });
    }
  });
  commands.on('close', exit);
  emit({ event: 'ready', port, ...(httpPort === undefined ? {} : { httpPort }), ...(access === undefined ? {} : { access }) });
}

main().catch((error: unknown) => {
  process.stderr.write(`server-main: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
