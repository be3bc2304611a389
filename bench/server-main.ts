// Child process: one server under test, on 127.0.0.1 with a free port.
//   node dist/bench/server-main.js queen [DB [HTTP]] | bare
// DB is the queen's catalog (its `db` setting): ':memory:' unless given, so a benchmark never writes the
// developer's ./data catalog; a scenario that measures the file catalog passes a path in a temporary folder.
// HTTP is the queen's `httpListen` (off unless given): the dashboard scenario opens pages on it.
// Prints {"event":"ready","port":N} (with "httpPort" when HTTP is on); answers each "stats" line on stdin with its
// CPU and memory (and the queen's catalog write transactions); exits on SIGTERM, when its stdin closes (the parent
// is gone), or after MAX_LIFETIME_MS whatever happens.
import { ServerCredentials } from '@grpc/grpc-js';
import pino from 'pino';
import { createInterface } from 'node:readline';
import { buildServeConfig } from '../src/cli/config.js';
import { QueenServer } from '../src/server/queen-server.js';
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
  if (kind === 'queen') {
    // The production defaults (as `hive-registry serve` with no flags) but for the catalog, on a free loopback
    // port, logging nothing; every simulated hive connects from 127.0.0.1, so one address holds them all, and the
    // heartbeat scenarios drive each stream as fast as its acks come back (far above any real hive), so the rate
    // limit is raised: they measure the heartbeat path, not the throttle.
    const db = process.argv[3] ?? DEFAULT_DB;
    const httpListen = process.argv[4];
    const parsed = buildServeConfig(
      {
        listen: LISTEN,
        ...(httpListen === undefined ? {} : { httpListen }),
        drainTimeoutMs: '1s',
        db,
        maxStreamsPerAddress: '10000',
        heartbeatRateLimit: '100000000',
      },
      {},
    );
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const queen = await QueenServer.start(parsed.config, pino({ level: 'silent' }));
    port = queen.port;
    httpPort = queen.httpPort;
    stop = () => queen.stop();
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
    throw new Error(`usage: server-main.js queen [DB [HTTP]] | bare (got ${JSON.stringify(kind)})`);
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
  emit(httpPort === undefined ? { event: 'ready', port } : { event: 'ready', port, httpPort });
}

main().catch((error: unknown) => {
  process.stderr.write(`server-main: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
