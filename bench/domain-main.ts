// Child process: the in-process (no gRPC) benchmark of the domain.
//   node --expose-gc --allow-natives-syntax dist/bench/domain-main.js '<DomainSpec as JSON>'
// --expose-gc is required (heap figures are taken after gc); --allow-natives-syntax only adds the
// dictionary-mode count. Writes one {"event":"domain","figures":[...]} line.
import { runDomainBench } from './domain-bench.js';
import { emit, type DomainSpec } from './protocol.js';

const MAX_LIFETIME_MS = 120_000;

setTimeout(() => {
  process.stderr.write(`domain-main: still running after ${MAX_LIFETIME_MS} ms, exiting\n`);
  process.exit(3);
}, MAX_LIFETIME_MS).unref();

try {
  const spec = JSON.parse(process.argv[2] ?? '') as DomainSpec;
  emit({ event: 'domain', figures: runDomainBench(spec) });
  process.exit(0);
} catch (error) {
  emit({ event: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
