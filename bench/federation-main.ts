// Child process of the federation scenario: the hives or the watchers, each in its own process.
//   node dist/bench/federation-main.js '<FederationChildSpec as JSON>'
// Writes FederationChildEvent lines on stdout and reads commands from stdin, one a line (see federation-protocol.ts);
// exits on SIGTERM, when its stdin closes (the parent is gone), or after its spec's lifetime (MAX_LIFETIME_MS at
// most). A failure is said as a 'failed' event, then the process exits with 1.
import { childLifecycle } from './child-lifecycle.js';
import { runHives } from './federation-hives.js';
import { emitFederation, type FederationChildSpec } from './federation-protocol.js';
import { runWatchers } from './federation-watchers.js';

/** Exits whatever happens after this long. */
const MAX_LIFETIME_MS = 150_000;

async function main(): Promise<void> {
  const { stopped, onCommand } = childLifecycle('federation-main', MAX_LIFETIME_MS);
  const spec = JSON.parse(process.argv[2] ?? '') as FederationChildSpec;
  switch (spec.mode) {
    case 'hives':
      await runHives(spec, emitFederation, stopped, onCommand);
      break;
    case 'watch':
      await runWatchers(spec, emitFederation, stopped, onCommand);
      break;
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emitFederation({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
