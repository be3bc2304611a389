import type { LoadResult } from './protocol.js';
import type { GatewayComparison, GatewayRow } from './gateway-scenario.js';
import { fixed, int, ms, usec } from './report-format.js';

/** The gateway's targets: against its baseline (the bare proxy) and against calling the worker directly. */
const TARGET_THROUGHPUT_RATIO = 0.9;
const TARGET_QUEEN_CPU_US = 100;
/** With workers answering at once the gateway's whole cost shows; with 50 ms ones, what a caller would notice. */
const CPU_TARGET_DELAY_MS = 0;
const TARGET_ADDED_P50_MS = 1;
const LATENCY_TARGET_DELAY_MS = 50;

const perSecond = (result: LoadResult): number => (result.ops * 1000) / result.elapsedMs;
const ratio = (row: GatewayRow): number => perSecond(row.gateway) / perSecond(row.bare);
const verdict = (met: boolean): string => (met ? 'met' : 'not met');

/** The targets, one line each: met or not, with the figures. */
function targets(rows: readonly GatewayRow[]): string[] {
  const lines: string[] = [];
  if (rows.length > 0) {
    const lowest = rows.reduce((a, b) => (ratio(b) < ratio(a) ? b : a));
    const all = rows.map((row) => `${fixed(2)(ratio(row))} at ${row.responseDelayMs} ms`).join(', ');
    lines.push(`- gateway throughput >= ${TARGET_THROUGHPUT_RATIO} of the bare proxy's at every worker delay: **${verdict(ratio(lowest) >= TARGET_THROUGHPUT_RATIO)}** (${all}).`);
  }
  const cpuRow = rows.find((row) => row.responseDelayMs === CPU_TARGET_DELAY_MS);
  lines.push(
    cpuRow === undefined
      ? `- queen CPU per gateway request <= ${TARGET_QUEEN_CPU_US} µs with workers answering at once: not measured (no ${CPU_TARGET_DELAY_MS} ms row).`
      : `- queen CPU per gateway request <= ${TARGET_QUEEN_CPU_US} µs with workers answering at once: **${verdict(cpuRow.queenCpuUsPerRequest <= TARGET_QUEEN_CPU_US)}** ` +
          `(${usec(cpuRow.queenCpuUsPerRequest)}; the bare proxy: ${usec(cpuRow.bareCpuUsPerRequest)}).`,
  );
  const latencyRow = rows.find((row) => row.responseDelayMs === LATENCY_TARGET_DELAY_MS);
  lines.push(
    latencyRow === undefined
      ? `- added p50 <= ${TARGET_ADDED_P50_MS} ms with workers answering in ${LATENCY_TARGET_DELAY_MS} ms: not measured (no such row).`
      : `- added p50 <= ${TARGET_ADDED_P50_MS} ms with workers answering in ${LATENCY_TARGET_DELAY_MS} ms: ` +
          `**${verdict(latencyRow.gateway.p50Ms - latencyRow.direct.p50Ms <= TARGET_ADDED_P50_MS)}** ` +
          `(${ms(latencyRow.gateway.p50Ms - latencyRow.direct.p50Ms)}; the bare proxy adds ${ms(latencyRow.bare.p50Ms - latencyRow.direct.p50Ms)}).`,
  );
  return lines;
}

/** The gateway section of BENCHMARKS.md. */
export function gatewaySection(comparison: GatewayComparison, index: number): string {
  const { settings, rows } = comparison;
  const lines = [
    `## ${index}. Inference gateway: against a bare forwarding proxy and against calling the worker directly`,
    '',
    `One simulated hive (the real CLI's agent, ${settings.workers} workers, each running ${settings.maxConcurrency} requests at once), ` +
      'the queen with its HTTP listener (production defaults: prefix affinity and metrics on), and a bare forwarding ' +
      'proxy, as separate processes. The bare proxy is the gateway\'s baseline: a node:http server that reads the ' +
      'request body, JSON-parses it for `model`, forwards it round robin to the same workers on kept-alive connections ' +
      '(http.Agent keepAlive) and streams the answer back; no pick, reservation, affinity or metrics. The same load ' +
      `generator (its own process, kept-alive connections) keeps ${settings.inFlight} chat completions in flight ` +
      `(non-streaming, ${settings.maxTokens} tokens), ${settings.warmupMs / 1000} s warm-up then ${settings.measureMs / 1000} s measured: ` +
      "first straight at the workers' URLs in turn, then at the bare proxy, then at the gateway, which picks a worker " +
      'with a reservation, forwards the body, streams the answer back and releases. Latency is from sending to the ' +
      'last byte of the answer. "Added p50" is the proxy\'s p50 minus the direct p50. "CPU per request" is all of the ' +
      "proxy's CPU time during its run (the queen's heartbeat and sweep work included) over the requests it served. " +
      'The machine has 2 cores shared by all the processes (and, during development, other work), so a proxy\'s hop ' +
      'also competes for CPU with the workers and the load generator: compare the gateway with the bare proxy of the ' +
      'same run, and by CPU per request, rather than across runs.',
    '',
    '| worker delay | direct p50 | direct p99 | bare proxy p50 | bare proxy p99 | gateway p50 | gateway p99 | added p50: bare proxy | added p50: gateway |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { responseDelayMs, direct, bare, gateway } of rows) {
    lines.push(
      `| ${responseDelayMs} ms | ${ms(direct.p50Ms)} | ${ms(direct.p99Ms)} | ${ms(bare.p50Ms)} | ${ms(bare.p99Ms)} | ` +
        `${ms(gateway.p50Ms)} | ${ms(gateway.p99Ms)} | ${ms(bare.p50Ms - direct.p50Ms)} | ${ms(gateway.p50Ms - direct.p50Ms)} |`,
    );
  }
  lines.push(
    '',
    '| worker delay | direct req/s | bare proxy req/s | gateway req/s | gateway / bare proxy | bare proxy CPU per request | queen CPU per request | failures |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const row of rows) {
    const { direct, bare, gateway } = row;
    lines.push(
      `| ${row.responseDelayMs} ms | ${int(perSecond(direct))} | ${int(perSecond(bare))} | ${int(perSecond(gateway))} | ${fixed(2)(ratio(row))} | ` +
        `${usec(row.bareCpuUsPerRequest)} | ${usec(row.queenCpuUsPerRequest)} | ${direct.failures + bare.failures + gateway.failures} |`,
    );
  }
  lines.push('', 'Targets:', '', ...targets(rows), '');
  return lines.join('\n');
}

/** One line per row for the console summary. */
export function gatewaySummary(comparison: GatewayComparison): string {
  return comparison.rows
    .map(
      (row) =>
        `gateway (worker delay ${row.responseDelayMs} ms, ${comparison.settings.inFlight} in flight): added p50 ` +
        `${fixed(2)(row.gateway.p50Ms - row.direct.p50Ms)} ms (bare proxy ${fixed(2)(row.bare.p50Ms - row.direct.p50Ms)} ms), ` +
        `${fixed(2)(ratio(row))} of the bare proxy's req/s, queen CPU ${usec(row.queenCpuUsPerRequest)} per request ` +
        `(bare proxy ${usec(row.bareCpuUsPerRequest)})`,
    )
    .join('\n');
}
