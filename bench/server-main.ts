// Child process: one server under test, on 127.0.0.1 with a free port.
//   node dist/bench/server-main.js queen [DB [HTTP]] | production | bare
// DB is the queen's catalog (its `db` setting): ':memory:' unless given, so a benchmark never writes the
// developer's ./data catalog; a scenario that measures the file catalog passes a path in a temporary folder.
// HTTP is the queen's `httpListen` (off unless given): the dashboard scenario opens pages on it.
// `production` is the queen as run in production: its HTTP listener on (so metrics count every call) and
// authentication on, with a `read` caller and a token for each of the scenarios' hives, written to a file named by
// "access" in the ready event (see bench-access.ts).
// Prints {"event":"ready","port":N} (with "httpPort" when HTTP is on); answers each "stats" line on stdin with its
// CPU and memory (and the queen's catalog write transactions); exits on SIGTERM, when its stdin closes (the parent
// is gone), or after MAX_LIFETIME_MS whatever happens.
import { ServerCredentials } from '@grpc/grpc-js';
import pino from 'pino';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildServeConfig } from '../src/cli/config.js';
import { parseAuthFile } from '../src/server/callers.js';
import { QueenServer } from '../src/server/queen-server.js';
import { issueAccess, writeAuthFile } from './bench-access.js';
import { bareServer } from './bare-server.js';
import { emit, processStats, type ServerStats } from './protocol.js';

const MAX_LIFETIME_MS = 120_000;
const LISTEN = '127.0.0.1:0';
const DEFAULT_DB = ':memory:';

async function main(): Promise<void> {
  const kind = process.argv[2];
  setTimeout(() => {
    process.stderr.write(`server-main: still running after ${MAX_LIFETIME_MS} ms, exiting\n`);
    process.exit(3);
  }, MAX_LIFETIME_MS).unref();

  let stop: () => Promise<void>;
  let stats: () => ServerStats = processStats;
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
    const db = process.argv[3] ?? DEFAULT_DB;
    const httpListen = production ? LISTEN : process.argv[4];
    const parsed = buildServeConfig(
      {
        listen: LISTEN,
        ...(httpListen === undefined ? {} : { httpListen }),
        ...(auth === undefined ? {} : { authFilePath: auth.path }),
        drainTimeoutMs: '1s',
        db,
        maxStreamsPerAddress: '10000',
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
  } else if (kind === 'bare') {
    const server = bareServer();
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(LISTEN, ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    stop = async () => server.forceShutdown();
  } else {
    throw new Error(`usage: server-main.js queen [DB [HTTP]] | production | bare (got ${JSON.stringify(kind)})`);
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
    if (line.trim() === 'stats') emit({ event: 'stats', stats: stats() });
  });
  commands.on('close', exit);
  emit({ event: 'ready', port, ...(httpPort === undefined ? {} : { httpPort }), ...(access === undefined ? {} : { access }) });
}

main().catch((error: unknown) => {
  process.stderr.write(`server-main: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
