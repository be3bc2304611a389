// Child process: the load generator (or the background fleet filler), in its own process.
//   node dist/bench/load-main.js '<LoadSpec as JSON>'
// Writes LoadEvent lines on stdout; exits when done, on SIGTERM, or when its stdin closes (the parent is gone).
// The filler also reads commands from stdin, one a line (see FillSpec).
import { openWatcher, readAccess } from './bench-access.js';
import { childLifecycle } from './child-lifecycle.js';
import { runHeartbeatLoad } from './heartbeat-load.js';
import { runFiller } from './hive-filler.js';
import { emit, type LoadSpec } from './protocol.js';
import { runUnaryLoad } from './unary-load.js';

/** Exits whatever happens after this long (a filler: its own lifetime and this margin, if that is longer). */
const MAX_LIFETIME_MS = 120_000;
const FILLER_LIFETIME_MARGIN_MS = 10_000;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
  const lifetimeMs =
    spec.mode === 'fill' ? Math.max(MAX_LIFETIME_MS, spec.maxLifetimeMs + FILLER_LIFETIME_MARGIN_MS) : MAX_LIFETIME_MS;
  const { stopped, onCommand } = childLifecycle('load-main', lifetimeMs);

  // Against the production queen, a Watch client reads every change while the load runs.
  const access = spec.mode === 'fill' ? undefined : readAccess(spec.access);
  const watcher = access === undefined ? undefined : await openWatcher(spec.address, access);
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
  }
  watcher?.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
