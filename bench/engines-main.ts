// Child process of the engines scenario: the fake vLLM engines the agent polls, the driver that changes them and
// the Watch client that sees each change reach the queen, all on this process's one monotonic clock.
//   node dist/bench/engines-main.js '<EnginesChildSpec as JSON>'
// Says 'ready' with the engines' URLs (the parent then starts the agent on them), 'synced' once the queen shows
// every engine, then drives changes through a warm-up and the window ('measure-start', 'measure-end'), waits for
// the changes still on their way and says 'result'. Exits on SIGTERM, when its stdin closes (the parent is gone),
// or after the spec's lifetime. A failure is said as a 'failed' event, then the process exits with 1.
import { createRegistryClient } from '../src/client/registry-client.js';
import { seededRandom } from '../src/common/seeded-random.js';
import { FakeEngine } from '../test/helpers/fake-engines.js';
import { childLifecycle } from './child-lifecycle.js';
import { EngineChanges } from './engine-changes.js';
import { emitEngines, type EnginesChildSpec, type EnginesDelivery } from './engines-protocol.js';
import { nowMs, sleep } from './stats.js';

/** How long the agent may take to connect and the queen to show every engine. */
const SYNC_TIMEOUT_MS = 30_000;
/** How often waits look at their condition and at what may have failed meanwhile. */
const CHECK_EVERY_MS = 20;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as EnginesChildSpec;
  const { stopped } = childLifecycle('engines-main', spec.maxLifetimeMs);
  const engines: FakeEngine[] = [];
  const client = createRegistryClient(spec.address);
  const abort = new AbortController();
  let failure: unknown;
  /** Resolves once `condition` holds (true) or after `timeoutMs` (false); throws once something failed. */
  const until = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
    const deadline = nowMs() + timeoutMs;
    for (;;) {
      if (failure !== undefined) throw failure;
      if (stopped()) throw new Error('stopped by the parent');
      if (condition()) return true;
      if (nowMs() >= deadline) return false;
      await sleep(Math.min(CHECK_EVERY_MS, deadline - nowMs()));
    }
  };
  try {
    for (let i = 0; i < spec.engines; i++) engines.push(await FakeEngine.start('vllm'));
    const rng = seededRandom(spec.seed);
    const changes = new EngineChanges(spec.hiveId, engines, nowMs, rng, spec.burstGapMs);
    void (async () => {
      for await (const update of client.watch({ hiveId: spec.hiveId, signal: abort.signal })) {
        changes.observe(update);
      }
    })().catch((error: unknown) => {
      failure ??= error;
    });
    emitEngines({ event: 'ready', urls: engines.map((e) => e.url) });
    const startedMs = nowMs();
    if (!(await until(() => changes.ready, SYNC_TIMEOUT_MS))) {
      throw new Error(`the queen did not show all ${spec.engines} engines' workers within ${SYNC_TIMEOUT_MS} ms`);
    }
    emitEngines({ event: 'synced', elapsedMs: nowMs() - startedMs });

    // Random gaps around the mean: the changes land at every phase of the engines' polls.
    const gapMs = (): number => ((0.5 + rng()) * 1_000) / spec.changesPerSecond;
    let timer: NodeJS.Timeout | undefined;
    const drive = (): void => {
      changes.change();
      timer = setTimeout(drive, gapMs());
    };
    timer = setTimeout(drive, gapMs());
    await until(() => false, spec.warmupMs);

    const requestsAtStart = requestCounts(engines);
    const cpuAtStart = process.cpuUsage();
    const windowStartMs = nowMs();
    changes.setWindow(true);
    emitEngines({ event: 'measure-start' });
    await until(() => false, spec.measureMs);
    changes.setWindow(false);
    const windowMs = nowMs() - windowStartMs;
    const cpu = process.cpuUsage(cpuAtStart);
    const requestsAtEnd = requestCounts(engines);
    emitEngines({ event: 'measure-end' });
    clearTimeout(timer);

    await until(() => changes.inFlight === 0, spec.deliveryDeadlineMs);
    const result: EnginesDelivery = {
      changes: changes.changesInWindow,
      timings: changes.windowTimings,
      changesTotal: changes.changesTotal,
      missed: changes.inFlight,
      skipped: changes.skipped,
      upserts: changes.upserts,
      bursts: changes.bursts,
      engineRequests: requestsAtEnd.all - requestsAtStart.all,
      polls: requestsAtEnd.metrics - requestsAtStart.metrics,
      windowMs,
      childCpuUs: cpu.user + cpu.system,
    };
    emitEngines({ event: 'result', result });
  } finally {
    abort.abort();
    client.close();
    await Promise.all(engines.map((e) => e.stop()));
  }
}

/** Requests the engines answered so far, and how many of them were GET /metrics. */
function requestCounts(engines: readonly FakeEngine[]): { all: number; metrics: number } {
  let all = 0;
  let metrics = 0;
  for (const engine of engines) {
    all += engine.requests.length;
    for (const request of engine.requests) if (request === 'GET /metrics') metrics++;
  }
  return { all, metrics };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emitEngines({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
