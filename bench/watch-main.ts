// Child process of the watch scenario: the changer or the watchers, each in its own process.
//   node dist/bench/watch-main.js '<WatchChildSpec as JSON>'
// Writes WatchChildEvent lines on stdout and reads commands from stdin, one a line (see watch-protocol.ts); exits
// on SIGTERM, when its stdin closes (the parent is gone), or after its spec's lifetime (MAX_LIFETIME_MS at most).
// A failure is said as a 'failed' event, then the process exits with 1.
import { childLifecycle } from './child-lifecycle.js';
import { runWatchClients } from './watch-clients.js';
import { runChanger } from './watch-changer.js';
import { emitWatch, type WatchChildSpec } from './watch-protocol.js';

/** Exits whatever happens after this long. */
const MAX_LIFETIME_MS = 120_000;

async function main(): Promise<void> {
  const { stopped, onCommand } = childLifecycle('watch-main', MAX_LIFETIME_MS);
  const spec = JSON.parse(process.argv[2] ?? '') as WatchChildSpec;

  switch (spec.mode) {
    case 'change':
      await runChanger(spec, emitWatch, stopped, onCommand);
      break;
    case 'watch':
      await runWatchClients(spec, emitWatch, stopped, onCommand);
      break;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emitWatch({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
