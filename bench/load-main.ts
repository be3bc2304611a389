// Child process: the load generator (or the background fleet filler), in its own process.
//   node dist/bench/load-main.js '<LoadSpec as JSON>'
// Writes LoadEvent lines on stdout; exits when done, on SIGTERM, or when its stdin closes (the parent is gone).
// The filler also reads commands from stdin, one a line (see FillSpec).
import { createInterface } from 'node:readline';
import { runHeartbeatLoad } from './heartbeat-load.js';
import { runFiller } from './hive-filler.js';
import { emit, type LoadSpec } from './protocol.js';
import { runUnaryLoad } from './unary-load.js';

/** Exits whatever happens after this long (the filler's own lifetime is shorter). */
const MAX_LIFETIME_MS = 120_000;

async function main(): Promise<void> {
  setTimeout(() => {
    process.stderr.write(`load-main: still running after ${MAX_LIFETIME_MS} ms, exiting\n`);
    process.exit(3);
  }, MAX_LIFETIME_MS).unref();
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;

  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.on('SIGTERM', stop);
  const commands = createInterface({ input: process.stdin });
  commands.on('close', stop);

  switch (spec.mode) {
    case 'heartbeat':
      emit({ event: 'result', result: await runHeartbeatLoad(spec, emit) });
      break;
    case 'unary':
      emit({ event: 'result', result: await runUnaryLoad(spec, emit) });
      break;
    case 'fill':
      await runFiller(spec, emit, () => stopped, (listener) => commands.on('line', listener));
      break;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
