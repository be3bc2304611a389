// Child process: the load generator (or the background fleet filler), in its own process.
//   node dist/bench/load-main.js '<LoadSpec as JSON>'
// Writes LoadEvent lines on stdout; exits when done, on SIGTERM, or when its stdin closes (the parent is gone).
// The filler also reads commands from stdin, one a line (see FillSpec); the watcher holds its Watch until stopped.
import { openWatcher, readAccess } from './bench-access.js';
import { childLifecycle } from './child-lifecycle.js';
import { runHeartbeatLoad } from './heartbeat-load.js';
import { runFiller } from './hive-filler.js';
import { emit, type LoadSpec } from './protocol.js';
import { sleep } from './stats.js';
import { runUnaryLoad } from './unary-load.js';

/** Exits whatever happens after this long (a filler: its own lifetime and this margin, if that is longer). */
const MAX_LIFETIME_MS = 120_000;
const FILLER_LIFETIME_MARGIN_MS = 10_000;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
  const lifetimeMs =
    spec.mode === 'fill' ? Math.max(MAX_LIFETIME_MS, spec.maxLifetimeMs + FILLER_LIFETIME_MARGIN_MS) : MAX_LIFETIME_MS;
  const { stopped, onCommand } = childLifecycle('load-main', lifetimeMs);

  switch (spec.mode) {
    case 'heartbeat':
      emit({ event: 'result', result: await runHeartbeatLoad(spec, emit) });
      break;
    case 'unary':
      emit({ event: 'result', result: await runUnaryLoad(spec, emit) });
      break;
    case 'fill':
      await runFiller(spec, emit, stopped, onCommand);
      break;
    case 'watch': {
      const access = readAccess(spec.access);
      if (access === undefined) throw new Error('watch: no access file');
      const watcher = await openWatcher(spec.address, access);
      emit({ event: 'synced' });
      while (!stopped()) await sleep(50);
      watcher.close();
      break;
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
