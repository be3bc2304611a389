// The benchmark suite: `npm run bench` (builds, then runs `node dist/bench/run.js`).
//   node dist/bench/run.js [--rounds N] [--measure-seconds S]
//     [--only hot|catalog|watch|domain|dashboard|gateway|engines|federation|routing|memory]
// Runs every scenario against the queen and against a bare grpc-js baseline in the same run, each server and
// each load generator in its own child process on 127.0.0.1, then the in-process domain benchmark, then the
// catalog checkpoint scenario (the queen with its catalog in memory, then in a file in a temporary folder; once
// per run), then the watch, dashboard, gateway, engines, federation, routing and memory scenarios (once per run
// each); writes BENCHMARKS.md at the repository root and prints a summary. Every child is killed on any way out.
// --only hot runs the heartbeat and unary scenarios alone (the hot paths against the bare baseline, the queen on its
// defaults and as in production; about 3 minutes with 2 rounds) and prints sections 1 and 2, leaving BENCHMARKS.md as
// it is; --only catalog runs the catalog scenario alone (about 35 s) and prints its section of the report and its summary
// line on stdout, leaving BENCHMARKS.md as it is; --only watch does the same for the watch scenario (100 watchers
// while 1,000 hives heartbeat once a second, about a minute); --only domain prints the in-process figures (heap,
// applyHeartbeat, picks and reserving picks up to 100,000 workers, the gateway's prefix affinity per request);
// --only dashboard the dashboard scenario (a worker's state change on 1 and 5 chromium pages while 100 hives
// heartbeat once a second, about a minute; skipped, saying so, without /usr/bin/chromium); --only gateway the
// inference gateway against direct calls to the workers and against a bare forwarding proxy (64 requests in
// flight, about a minute); --only engines one agent polling 16 fake vLLM servers once a
// second (its CPU and memory, and the time from an engine's change to the queen's Watch event; under a minute);
// --only federation three queens over one real etcd holding 1,000 hives (etcd writes, a change's way to the other
// queens, each queen's CPU and memory against one queen alone, and the hives' move when a queen is SIGKILLed;
// about 90 s); --only routing 2,000 streamed chat completions over 16 simulated workers with a prefix cache, round
// robin, then through the gateway without and with prefix affinity, each on a fresh queen and hive (hit rate, TTFT,
// requests/s and in flight per worker; under a minute); --only memory the queen's resident memory with no hive, then
// with 10,000 hives online, each on its own TCP connection, over 4 filler processes (per hive, against the 30 KiB
// goal), then the same for the bare grpc-js server (about 3 minutes).
// Build first: `npm run -s build && npx tsc -p tsconfig.bench.json`.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_BACKOFF_CAP_MS } from '../src/common/backoff.js';
import { BenchChild, killAllChildren, stopAllChildren } from './bench-child.js';
import { catalogCheckpointRuns, type CatalogComparison, type CatalogSettings } from './catalog-scenario.js';
import { dashboardSection, dashboardSummary } from './dashboard-report.js';
import {
  dashboardRun,
  dashboardSkipReason,
  type DashboardOutcome,
  type DashboardSettings,
} from './dashboard-scenario.js';
import { enginesSection, enginesSummary } from './engines-report.js';
import { enginesRun, type EnginesOutcome, type EnginesSettings } from './engines-scenario.js';
import { federationSection, federationSummary } from './federation-report.js';
import { federationRun, type FederationOutcome, type FederationSettings } from './federation-scenario.js';
import { gatewaySection, gatewaySummary } from './gateway-report.js';
import { gatewayRun, type GatewayComparison, type GatewaySettings } from './gateway-scenario.js';
import { memorySection, memorySummary } from './memory-report.js';
import { memoryRun, type MemoryOutcome, type MemorySettings } from './memory-scenario.js';
import { routingSection, routingSummary } from './routing-report.js';
import { routingRun, type RoutingOutcome, type RoutingSettings } from './routing-scenario.js';
import { describeMachine } from './machine.js';
import { watchRun, type WatchComparison, type WatchSettings } from './watch-scenario.js';
import { watchSection, watchSummary } from './watch-report.js';
import {
  UNARY_METHODS,
  heartbeatRun,
  unaryRuns,
  type Measurement,
  type NetworkSettings,
  type Pair,
} from './network-scenarios.js';
import type { DomainFigure, DomainSpec, ServerKind } from './protocol.js';
import { columns, networkSection, networkSummaryRows } from './network-report.js';
import { catalogSection, catalogSummary, markdown, summary, type BenchReport } from './report.js';
import { nowMs } from './stats.js';

const OUTPUT = join(__dirname, '..', '..', 'BENCHMARKS.md');
const DOMAIN_TIMEOUT_MS = 90_000;
/** What `--only` may name. */
const ONLY = [
  'hot',
  'catalog',
  'watch',
  'domain',
  'dashboard',
  'gateway',
  'engines',
  'federation',
  'routing',
  'memory',
] as const;
/** The catalog scenario: 1,000 hives, a tick per hive per second, 20 streams per connection. */
const CATALOG_SETTINGS: CatalogSettings = {
  hives: 1_000,
  tickEveryMs: 1_000,
  streamsPerConnection: 20,
  warmupMs: 3_000,
  measureMs: 10_000,
};

/**
 * The watch scenario: the catalog scenario's fleet, 10 more hives making 20 changes/s, 100 watchers (10 per
 * connection); p99 latency target 50 ms.
 */
const WATCH_SETTINGS: WatchSettings = {
  hives: 1_000,
  tickEveryMs: 1_000,
  streamsPerConnection: 20,
  changerHives: 10,
  changerFirstHive: 100_000,
  changesPerSecond: 20,
  watchers: 100,
  watchersPerConnection: 10,
  warmupMs: 3_000,
  settleMs: 5_000,
  measureMs: 10_000,
  targetP99Ms: 50,
};

/**
 * The dashboard scenario: one worker flipping IDLE <-> BUSY 5 times a second while 100 hives heartbeat once a
 * second, 1 then 5 chromium pages; target: shown within 1 s (p99), none missed. Smaller than the watch scenario's
 * fleet because each page is a whole browser renderer on this two-core machine, and its cost grows with the rows it
 * lays out: five pages of a 1,000-hive fleet (8,000 workers) would measure the machine's queue for a core rather
 * than the dashboard, and take longer to open than the queen child is allowed to live.
 */
const DASHBOARD_SETTINGS: DashboardSettings = {
  hives: 100,
  tickEveryMs: 1_000,
  streamsPerConnection: 20,
  changerHive: 100_001,
  changesPerSecond: 5,
  pageCounts: [1, 5],
  warmupMs: 3_000,
  settleMs: 2_000,
  measureMs: 10_000,
  graceMs: 2_000,
  targetMs: 1_000,
};

/**
 * The gateway scenario: 64 chat completions in flight over a hive of 16 simulated workers (8 slots each, so no
 * path queues), straight at the workers, then through a bare forwarding proxy, then through the gateway; once with workers that answer at once (the
 * gateway's whole cost shows) and once with a 50 ms answer (closer to inference).
 */
const GATEWAY_SETTINGS: GatewaySettings = {
  workers: 16,
  maxConcurrency: 8,
  inFlight: 64,
  responseDelaysMs: [0, 50],
  maxTokens: 16,
  warmupMs: 2_000,
  measureMs: 8_000,
};

/**
 * The engines scenario: one agent polling 16 fake vLLM servers once a second, 5 changes/s of one engine's
 * requests_running at random instants; goal: the queen's Watch shows a change within the poll interval + 100 ms
 * (p99), none missed.
 */
const ENGINES_SETTINGS: EnginesSettings = {
  engines: 16,
  pollIntervalMs: 1_000,
  changesPerSecond: 5,
  warmupMs: 5_000,
  measureMs: 60_000,
  deliveryDeadlineMs: 5_000,
  burstGapMs: 50,
  seed: 8_000,
  goalSlackMs: 100,
};

/**
 * The federation scenario: three queens over one etcd (lease TTL 5 s), 1,000 hives ticking once a second spread
 * over them, 20 changes/s across the fleet (no hive twice within 1.5 s: the publisher writes a hive at most once a
 * second); then the last queen is SIGKILLed, 10 of its hives staying away. Goals: etcd write transactions/s at most
 * 1.5 x the change rate; a change on the other queens within 100 ms (p99); the killed queen's hives online on the
 * survivors within lease TTL + the agent's 10 s backoff cap, the stranded ones offline within lease TTL + 2 s.
 */
const FEDERATION_SETTINGS: FederationSettings = {
  hives: 1_000,
  queens: 3,
  tickEveryMs: 1_000,
  streamsPerConnection: 20,
  changesPerSecond: 20,
  minChangeGapMs: 1_500,
  leaseTtlMs: 5_000,
  backoffCapMs: DEFAULT_BACKOFF_CAP_MS,
  strandedHives: 10,
  warmupMs: 5_000,
  // A whole period of the etcd catalog's last_seen writes (at most every 30 s per online hive).
  measureMs: 30_000,
  deliveryDeadlineMs: 5_000,
  failoverTimeoutMs: 30_000,
  seed: 9_000,
  propagationGoalMs: 100,
  etcdWritesGoalFactor: 1.5,
};

/**
 * The routing scenario: 16 simulated workers (8 slots, 200 ms to the first byte on a prefix-cache miss, a fifth of
 * it on a hit) on one hive, 64 system prompts of 2-4 KB, 2,000 streamed chat completions with 48 in flight, for each
 * of round robin, load only and load + prefix affinity on a fresh queen and hive. Goals for affinity: hit rate >=
 * 90 %, TTFT p50 <= half of load only's, largest per-worker mean in flight <= 1.5 x the mean across workers.
 */
const ROUTING_SETTINGS: RoutingSettings = {
  workers: 16,
  maxConcurrency: 8,
  responseDelayMs: 200,
  chunkDelayMs: 5,
  workload: { systemPrompts: 64, minPromptBytes: 2_048, maxPromptBytes: 4_096, maxUserTurns: 3, seed: 10_000 },
  requests: 2_000,
  inFlight: 48,
  maxTokens: 16,
  hitRateGoal: 0.9,
  ttftP50GoalFactor: 0.5,
  inFlightSpreadGoalFactor: 1.5,
};

/**
 * The memory scenario: 10,000 hives, each on its own TCP connection, over 4 fillers of 2,500 (ulimit -n is
 * 20,000 on the bench machine: the queen holds 10,000 sockets, each filler 2,500), a tick per hive every 5 s (the
 * agent's default); goal: at most 30 KiB of queen RSS per connected hive.
 */
const MEMORY_SETTINGS: MemorySettings = {
  hives: 10_000,
  generators: 4,
  tickEveryMs: 5_000,
  idleMs: 3_000,
  stepSettleMs: 5_000,
  settleMs: 20_000,
  goalBytesPerHive: 30 * 1_024,
};

function option(name: string, fallback: number, min: number, max: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`--${name}: must be a number from ${min} to ${max}, got ${process.argv[index + 1]}`);
  }
  return value;
}

function onlyOption(): (typeof ONLY)[number] | undefined {
  const index = process.argv.indexOf('--only');
  if (index < 0) return undefined;
  const value = process.argv[index + 1];
  const known = ONLY.find((name) => name === value);
  if (known === undefined) throw new Error(`--only: must be one of ${ONLY.join(', ')}, got ${value}`);
  return known;
}

function log(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

/** Runs `bare`, `queen` and `production` in the given order and groups the results. */
async function pairUp(
  order: readonly ServerKind[],
  run: (kind: ServerKind) => Promise<Measurement>,
): Promise<{ bare: Measurement; queen: Measurement; production: Measurement }> {
  const results = new Map<ServerKind, Measurement>();
  for (const kind of order) results.set(kind, await run(kind));
  const bare = results.get('bare');
  const queen = results.get('queen');
  const production = results.get('production');
  if (bare === undefined || queen === undefined || production === undefined) throw new Error('a pair needs every server');
  return { bare, queen, production };
}

/**
 * The network scenarios, `rounds` times: heartbeats (snapshots, ticks) and the unary methods, each against the bare
 * baseline, the queen on its defaults and the production queen, in an order that alternates between rounds so a
 * drift in the machine's load favours none.
 */
async function networkPairs(rounds: number, settings: NetworkSettings): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let round = 0; round < rounds; round++) {
    const order: ServerKind[] = round % 2 === 0 ? ['bare', 'queen', 'production'] : ['production', 'queen', 'bare'];
    for (const variant of ['snapshot', 'tick'] as const) {
      log(`round ${round + 1}: heartbeat ${variant} (${order.join(', then ')})`);
      const pair = await pairUp(order, (kind) => heartbeatRun(kind, variant, settings));
      pairs.push({ scenario: `heartbeat-${variant}`, round, ...pair });
    }
    log(`round ${round + 1}: unary with ${settings.fleetHives} hives online (${order.join(', then ')})`);
    const unary = new Map<ServerKind, Map<string, Measurement>>();
    for (const kind of order) unary.set(kind, await unaryRuns(kind, settings));
    for (const method of UNARY_METHODS) {
      const of = (kind: ServerKind): Measurement => {
        const measured = unary.get(kind)?.get(method);
        if (measured === undefined) throw new Error(`missing unary result for ${method} on ${kind}`);
        return measured;
      };
      pairs.push({ scenario: `unary-${method}`, round, bare: of('bare'), queen: of('queen'), production: of('production') });
    }
  }
  return pairs;
}

async function domainFigures(spec: DomainSpec): Promise<DomainFigure[]> {
  const child = new BenchChild('domain', 'domain-main.js', [JSON.stringify(spec)], [
    '--expose-gc',
    '--allow-natives-syntax',
  ]);
  try {
    const event = await child.next('domain', DOMAIN_TIMEOUT_MS);
    return event['figures'] as DomainFigure[];
  } finally {
    await child.stop();
  }
}

async function catalogFigures(): Promise<CatalogComparison> {
  const s = CATALOG_SETTINGS;
  log(`catalog checkpoints: ${s.hives} hives ticking every ${s.tickEveryMs} ms (catalog in memory, then in a file)`);
  return catalogCheckpointRuns(s);
}

async function watchFigures(): Promise<WatchComparison> {
  const s = WATCH_SETTINGS;
  log(
    `watch: ${s.watchers} watchers, ${s.hives} hives ticking every ${s.tickEveryMs} ms, ` +
      `${s.changesPerSecond} changes/s (without watchers, then with)`,
  );
  return watchRun(s);
}

async function dashboardFigures(): Promise<DashboardOutcome> {
  const s = DASHBOARD_SETTINGS;
  const skip = dashboardSkipReason();
  if (skip !== undefined) {
    log(`dashboard: skipped: ${skip}`);
  } else {
    log(
      `dashboard: ${s.pageCounts.join(', then ')} chromium pages, ${s.hives} hives ticking every ` +
        `${s.tickEveryMs} ms, a worker flipping ${s.changesPerSecond} times/s (no page first)`,
    );
  }
  return dashboardRun(s);
}

async function gatewayFigures(): Promise<GatewayComparison> {
  const s = GATEWAY_SETTINGS;
  log(`gateway: ${s.inFlight} chat completions in flight over ${s.workers} simulated workers, direct, then through a bare proxy, then through the gateway`);
  return gatewayRun(s);
}

async function enginesFigures(): Promise<EnginesOutcome> {
  const s = ENGINES_SETTINGS;
  log(
    `engines: one agent polling ${s.engines} fake vLLM servers every ${s.pollIntervalMs} ms, ` +
      `${s.changesPerSecond} engine changes/s timed to the queen's Watch stream`,
  );
  return enginesRun(s);
}

async function federationFigures(): Promise<FederationOutcome> {
  const s = FEDERATION_SETTINGS;
  log(
    `federation: ${s.queens} queens over one etcd, ${s.hives} hives ticking every ${s.tickEveryMs} ms, ` +
      `${s.changesPerSecond} changes/s (one queen alone first), then one queen SIGKILLed`,
  );
  return federationRun(s);
}

async function routingFigures(): Promise<RoutingOutcome> {
  const s = ROUTING_SETTINGS;
  log(
    `routing: ${s.requests} streamed chat completions (${s.inFlight} in flight) over ${s.workers} simulated workers ` +
      'per policy: round robin, then the gateway with prefix affinity off, then on (a fresh queen and hive each)',
  );
  return routingRun(s, log);
}

async function memoryFigures(): Promise<MemoryOutcome> {
  const s = MEMORY_SETTINGS;
  log(
    `memory: the queen with no hive, then ${s.hives} hives on their own connections over ${s.generators} fillers, ` +
      `ticking every ${s.tickEveryMs} ms; then the same for the bare grpc-js server`,
  );
  return memoryRun(s, log);
}

async function main(): Promise<void> {
  const started = nowMs();
  const only = onlyOption();
  if (only === 'memory') {
    const memory = await memoryFigures();
    process.stdout.write(`${memorySection(memory, 11).join('\n')}\n${memorySummary(memory)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  const rounds = option('rounds', 2, 1, 5);
  const measureMs = option('measure-seconds', 4, 1, 10) * 1_000;
  const settings: NetworkSettings = {
    warmupMs: 1_000,
    measureMs,
    heartbeatHives: 64,
    heartbeatWindow: 8,
    fleetHives: 1_000,
    unaryInFlight: 64,
  };
  if (only === 'hot') {
    const pairs = await networkPairs(rounds, settings);
    process.stdout.write(`${networkSection(settings, pairs, cpus().length).join('\n')}\n${columns(networkSummaryRows(pairs, cpus().length)).join('\n')}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'routing') {
    const routing = await routingFigures();
    process.stdout.write(`${routingSection(routing, 10).join('\n')}\n${routingSummary(routing)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'federation') {
    const federation = await federationFigures();
    process.stdout.write(`${federationSection(federation, 9).join('\n')}\n${federationSummary(federation)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'engines') {
    const engines = await enginesFigures();
    process.stdout.write(`${enginesSection(engines, 8, cpus().length).join('\n')}\n${enginesSummary(engines)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'gateway') {
    const gateway = await gatewayFigures();
    process.stdout.write(`${gatewaySection(gateway, 7)}\n${gatewaySummary(gateway)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'dashboard') {
    const dashboard = await dashboardFigures();
    process.stdout.write(`${dashboardSection(dashboard, cpus().length).join('\n')}\n${dashboardSummary(dashboard)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'watch') {
    const watch = await watchFigures();
    process.stdout.write(`${watchSection(watch, cpus().length).join('\n')}\n${watchSummary(watch)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'domain') {
    const spec: DomainSpec = { hives: 10_000, maxMsPerTiming: 1_500 };
    for (const f of await domainFigures(spec)) {
      process.stdout.write(`${f.name}: ${f.value.toFixed(f.value < 10 ? 2 : 1)} ${f.unit} (${f.detail})\n`);
    }
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  if (only === 'catalog') {
    const catalog = await catalogFigures();
    process.stdout.write(`${catalogSection(catalog, cpus().length).join('\n')}\n${catalogSummary(catalog)}\n`);
    log(`took ${Math.round((nowMs() - started) / 1_000)} s; BENCHMARKS.md left as it was`);
    return;
  }
  const domainSpec: DomainSpec = { hives: 10_000, maxMsPerTiming: 1_500 };
  const machine = describeMachine();
  log(`${machine.cpuModel} x ${machine.cores}, node ${machine.node}, commit ${machine.commit}; ${rounds} round(s)`);

  const pairs = await networkPairs(rounds, settings);
  log(`domain in-process (${domainSpec.hives} hives)`);
  const domain = await domainFigures(domainSpec);
  const catalog = await catalogFigures();
  const watch = await watchFigures();
  const dashboard = await dashboardFigures();
  const gateway = await gatewayFigures();
  const engines = await enginesFigures();
  const federation = await federationFigures();
  const routing = await routingFigures();
  const memory = await memoryFigures();

  const report: BenchReport = {
    machine,
    settings,
    rounds,
    domainSpec,
    pairs,
    domain,
    catalog,
    watch,
    dashboard,
    gateway,
    engines,
    federation,
    routing,
    memory,
    durationMs: nowMs() - started,
  };
  writeFileSync(OUTPUT, markdown(report));
  process.stdout.write(`${summary(report)}\n\nwrote ${OUTPUT}\n`);
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    await stopAllChildren();
    process.exit(1);
  },
);
