import type { CatalogComparison, CatalogMeasurement } from './catalog-scenario.js';
import { dashboardSection, dashboardSummary } from './dashboard-report.js';
import { enginesSection, enginesSummary } from './engines-report.js';
import type { EnginesOutcome } from './engines-scenario.js';
import { federationSection, federationSummary } from './federation-report.js';
import type { FederationOutcome } from './federation-scenario.js';
import { gatewaySection, gatewaySummary } from './gateway-report.js';
import type { GatewayComparison } from './gateway-scenario.js';
import type { DashboardOutcome } from './dashboard-scenario.js';
import { routingSection, routingSummary } from './routing-report.js';
import type { RoutingOutcome } from './routing-scenario.js';
import type { Machine } from './machine.js';
import { memorySection, memorySummary } from './memory-report.js';
import type { MemoryOutcome } from './memory-scenario.js';
import { columns, networkSection, networkSummaryRows } from './network-report.js';
import type { NetworkSettings, Pair } from './network-scenarios.js';
import type { DomainFigure, DomainSpec } from './protocol.js';
import { fixed, int, mib, pct, usec } from './report-format.js';
import type { WatchComparison } from './watch-scenario.js';
import { watchSection, watchSummary } from './watch-report.js';

/** Everything one run produced. */
export interface BenchReport {
  readonly machine: Machine;
  readonly settings: NetworkSettings;
  readonly rounds: number;
  readonly domainSpec: DomainSpec;
  readonly pairs: readonly Pair[];
  readonly domain: readonly DomainFigure[];
  readonly catalog: CatalogComparison;
  readonly watch: WatchComparison;
  readonly dashboard: DashboardOutcome;
  readonly gateway: GatewayComparison;
  readonly engines: EnginesOutcome;
  readonly federation: FederationOutcome;
  readonly routing: RoutingOutcome;
  readonly memory: MemoryOutcome;
  readonly durationMs: number;
}

const HOW_TO_READ = (rounds: number): string =>
  `**How to read this.** This machine is shared and small, so absolute throughput says as much about the ` +
  `machine's mood as about the code. Each network figure is therefore given next to a **baseline measured in the ` +
  `same run, by the same load generator**, and the **ratio** (hive-registry / baseline) is the figure to compare ` +
  `across runs and machines. The baseline is a bare grpc-js server built from the same service definition ` +
  `(\`grpcServiceDefinition\` over our protobuf-es descriptors, so requests are decoded and responses encoded ` +
  `exactly as in the queen) whose handlers do no work: a heartbeat payload gets an ack echoing its sequence with ` +
  `\`accepted: true\`; a unary call gets a fixed response of the same shape and about the same size as the ` +
  `queen's. So a ratio isolates what the registry adds: validation, conversion, registry updates, lookups and ` +
  `scheduling. For throughput a ratio below 1 means slower; for latency and CPU a ratio above 1 means costlier. ` +
  `Server and load generator run in separate processes on 127.0.0.1. The load generator usually saturates its own ` +
  `core before a fast server does, so throughput ratios understate the server's own cost: **server CPU per ` +
  `operation** (from the server's \`process.cpuUsage()\`) is the sharper figure. Each group ran ${rounds} time(s), ` +
  `baseline and queens in alternating order; values are medians over the rounds, ratios the median of per-round ` +
  `ratios with their range in parentheses. The in-process figures of section 3 are absolute (there is no network ` +
  `and no baseline): compare them only with runs on similar hardware. Section 4 compares the queen with itself, ` +
  `with its catalog in memory and in a file, so its ratio is file / memory; section 5 compares it with itself ` +
  `without and with watchers (ratio with / without), and section 6 with itself without and with dashboard pages ` +
  `open in a browser (its latencies are on the machine's wall clock, the browser's and the bench's). Section 7 ` +
  `compares calling simulated workers through the inference gateway with calling them directly and through a bare ` +
  `forwarding proxy (the gateway's baseline), same load generator and run: the differences are what the gateway ` +
  `adds, and what any proxy adds. Section 8 gives absolute figures for one agent ` +
  `polling inference engines: its own CPU and memory, and how long an engine's change takes to reach the queen's ` +
  `view, against the goal of one poll interval plus 100 ms. Section 9 runs three queens over one etcd and ` +
  `compares each with one queen alone holding the same fleet in the same run (ratio federated / single), and ` +
  `gives etcd's writes, a change's way to the other queens and a failover against their goals. Section 10 sends ` +
  `one seeded workload of streamed chat completions to simulated workers that model a prefix cache, round robin ` +
  `and through the gateway without and with prefix affinity, each on a fresh queen and hive in the same run, and ` +
  `gives each policy's prefix-hit rate, time to first token, throughput and in flight per worker against the ` +
  `goals for affinity. Section 11 gives the queen's resident memory per connected hive against its goal, next to ` +
  `the bare grpc-js server's holding the same connections. Speed is checked here, never by timed assertions in ` +
  `tests.`;

function domainSection(report: BenchReport): string[] {
  const lines = ['## 3. Domain in-process (absolute figures, no baseline)', ''];
  lines.push(
    `The registry and scheduler (and the gateway's prefix affinity) in one process, no gRPC, driven by a manual clock: ${int(report.domainSpec.hives)} ` +
      `hives x 8 workers, each hive's snapshot encoded, decoded and converted by the server's own adapter ` +
      `(\`payloadToHeartbeat\`) before \`applyHeartbeat\`, so the registry holds what the server would hold. Heap ` +
      `figures are \`heapUsed\` differences after forced gc (\`--expose-gc\`). Times are the median over batches ` +
      `(each timing bounded to ${report.domainSpec.maxMsPerTiming / 1000} s). These are absolute numbers: there is ` +
      `no network here and so no baseline to divide by.`,
    '',
    '| figure | value | how |',
    '|---|---:|---|',
  );
  for (const f of report.domain) {
    const value = domainValue(f, fixed(f.value < 10 ? 2 : 1));
    lines.push(`| ${f.name} | ${value} | ${f.detail} |`);
  }
  lines.push('');
  return lines;
}

/** Byte figures and counts as whole numbers, times with `format`. */
function domainValue(f: DomainFigure, format: (value: number) => string): string {
  if (f.unit === 'bytes' || Number.isInteger(f.value)) return `${int(f.value)} ${f.unit}`;
  return `${format(f.value)} ${f.unit}`;
}

/** The catalog section's title, from its settings. */
function catalogTitle(c: CatalogComparison): string {
  const every = c.settings.tickEveryMs === 1_000 ? 'once a second' : `every ${c.settings.tickEveryMs / 1_000} s`;
  return `Catalog checkpoints: ${int(c.settings.hives)} hives heartbeating ${every}`;
}

/** Section 4 of BENCHMARKS.md (also what `run.js --only catalog` prints). */
export function catalogSection(c: CatalogComparison, cores: number): string[] {
  const s = c.settings;
  const cpuRatio = c.file.serverCpuPercent / c.memory.serverCpuPercent;
  const lines = [`## 4. ${catalogTitle(c)}`, ''];
  lines.push(
    `A filler process keeps ${int(s.hives)} hives online over ${int(s.hives / s.streamsPerConnection)} ` +
      `connections (${s.streamsPerConnection} streams each): one full snapshot per hive, then a liveness tick per ` +
      `hive every ${s.tickEveryMs / 1_000} s, spread evenly. The queen runs with production defaults (checkpoint ` +
      `every 1 s) twice: its catalog in memory (\`--db :memory:\`), then in a SQLite file in a fresh temporary ` +
      `folder under \`${c.fileCheck.folder}\`. Heartbeats only touch memory; once per interval one transaction ` +
      `writes the last_seen of every hive changed since the previous one. After the fleet is filled and ` +
      `${s.warmupMs / 1_000} s of warm-up, ${s.measureMs / 1_000} s are measured. Heartbeats/s are the acks the ` +
      `filler counted over the window (every one accepted); write transactions/s are the queen's own count ` +
      `(\`catalog.writeTransactions\`); CPU is the server's \`process.cpuUsage()\` over the window; memory is read ` +
      `at its end. One run each, per bench run.`,
    '',
    '| figure | catalog in memory | catalog in a file | file / memory |',
    '|---|---:|---:|---:|',
  );
  const row = (figure: string, pick: (m: CatalogMeasurement) => number, format: (v: number) => string): void => {
    const [memory, file] = [pick(c.memory), pick(c.file)];
    lines.push(`| ${figure} | ${format(memory)} | ${format(file)} | ${fixed(2)(file / memory)} |`);
  };
  row('heartbeats acked/s', (m) => m.heartbeatsPerSecond, int);
  row('server CPU, % of one core', (m) => m.serverCpuPercent, (v) => `${fixed(1)(v)} %`);
  row('server CPU per heartbeat', (m) => m.serverCpuUsPerHeartbeat, usec);
  row('catalog write transactions/s', (m) => m.writeTransactionsPerSecond, fixed(2));
  row('server RSS', (m) => m.serverRssBytes, mib);
  row('server heap used', (m) => m.serverHeapUsedBytes, mib);
  row(`machine CPU busy, % of ${cores} cores`, (m) => m.machineBusyPercent, pct);
  row(`time to fill (${int(s.hives)} snapshots acked)`, (m) => m.fillMs, (v) => `${int(v)} ms`);
  const check = c.fileCheck;
  const rowsPerTransaction = c.file.heartbeatsPerSecond / c.file.writeTransactionsPerSecond;
  lines.push(
    '',
    `**File / memory server CPU: ${fixed(2)(cpuRatio)}.** Both queens do the same work per heartbeat (memory only) ` +
      `and the same checkpoint transaction per interval (about ${int(rowsPerTransaction)} rows each); only the ` +
      `file's commits go through SQLite's write-ahead log to the file system (\`synchronous=NORMAL\`: no fsync ` +
      `per commit), so the ratio is what keeping the catalog on disk costs at this heartbeat rate. A ratio within ` +
      `a few percent of 1 means that cost is below this shared machine's noise (see the machine CPU row).`,
    '',
    `After the file queen stopped, its SQLite file (${int(check.fileBytes / 1024)} KiB with what lay beside it) ` +
      `held ${int(check.hives)} hives, ${int(check.hivesWithLastSeen)} of them with last_seen set, the oldest ` +
      `${fixed(2)(check.oldestLastSeenBeforeEndMs / 1_000)} s before the end of the window; the bench fails when ` +
      `a hive is missing or its last_seen is more than a few seconds old.`,
    '',
  );
  return lines;
}

/** The catalog scenario in one line, for the printed summary. */
export function catalogSummary(c: CatalogComparison): string {
  const { memory, file } = c;
  const ratio = file.serverCpuPercent / memory.serverCpuPercent;
  return (
    `${catalogTitle(c)}: server CPU ${fixed(1)(memory.serverCpuPercent)} % (memory) vs ` +
    `${fixed(1)(file.serverCpuPercent)} % (file) of one core, file / memory ${fixed(2)(ratio)}; ` +
    `${fixed(2)(file.writeTransactionsPerSecond)} write transactions/s (file), ` +
    `${int(file.heartbeatsPerSecond)} heartbeats/s acked; server RSS ${mib(memory.serverRssBytes)} vs ` +
    `${mib(file.serverRssBytes)}`
  );
}

/** BENCHMARKS.md. */
export function markdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    '# Benchmarks',
    '',
    '_Written by `npm run bench` (bench/run.ts); every run rewrites this file._',
    '',
    HOW_TO_READ(report.rounds),
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| CPU | ${m.cpuModel}, ${m.cores} cores |`,
    `| memory | ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB |`,
    `| Node | ${m.node} (${m.platform}) |`,
    `| date | ${m.date} |`,
    `| commit | ${m.commit}${m.dirty ? ' (src/ or gen/ had uncommitted changes)' : ''} |`,
    `| load average at start (1 min) | ${m.loadAverage.toFixed(2)} |`,
    `| run took | ${Math.round(report.durationMs / 1000)} s |`,
    '',
    ...networkSection(report.settings, report.pairs, m.cores),
    ...domainSection(report),
    ...catalogSection(report.catalog, m.cores),
    ...watchSection(report.watch, m.cores),
    ...dashboardSection(report.dashboard, m.cores),
    gatewaySection(report.gateway, 7),
    ...enginesSection(report.engines, 8, m.cores),
    ...federationSection(report.federation, 9),
    ...routingSection(report.routing, 10),
    ...memorySection(report.memory, 11),
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}

/** A plain-text summary for stdout. */
export function summary(report: BenchReport): string {
  const table: string[][] = [
    ['scenario', 'figure', 'baseline', 'defaults', 'ratio', 'production', 'ratio'],
    ...networkSummaryRows(report.pairs, report.machine.cores),
  ];
  for (const f of report.domain) {
    const value = domainValue(f, fixed(2));
    table.push(['domain (absolute)', f.name, '', value, '']);
  }
  const rows = columns(table);
  const scenarios = [
    catalogSummary(report.catalog),
    watchSummary(report.watch),
    dashboardSummary(report.dashboard),
    gatewaySummary(report.gateway),
    enginesSummary(report.engines),
    federationSummary(report.federation),
    routingSummary(report.routing),
    memorySummary(report.memory),
  ];
  return [...rows, '', ...scenarios].join('\n');
}
