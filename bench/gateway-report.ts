import type { GatewayComparison } from './gateway-scenario.js';
import { fixed, int, ms, usec } from './report-format.js';

/** The gateway section of BENCHMARKS.md. */
export function gatewaySection(comparison: GatewayComparison, index: number): string {
  const { settings, rows } = comparison;
  const lines = [
    `## ${index}. Inference gateway: added latency against calling the worker directly`,
    '',
    `One simulated hive (the real CLI's agent, ${settings.workers} workers, each running ${settings.maxConcurrency} requests at once) ` +
      `and the queen with its HTTP listener, as separate processes. The same load generator (its own process, kept-alive ` +
      `connections) keeps ${settings.inFlight} chat completions in flight (non-streaming, ${settings.maxTokens} tokens), ` +
      `${settings.warmupMs / 1000} s warm-up then ${settings.measureMs / 1000} s measured: first straight at the workers' URLs in turn, ` +
      'then at the gateway, which picks a worker with a reservation, forwards the body, streams the answer back and ' +
      'releases. Latency is from sending to the last byte of the answer. "Added" is gateway minus direct at the same ' +
      'percentile. "Queen CPU per request" is all of the queen\'s CPU time during the gateway run (its own ' +
      'heartbeat and sweep work included) over the requests it served, so it reads high when requests are few. The ' +
      'machine has 2 cores shared by all four processes, so the gateway\'s hop also competes for CPU with the ' +
      'workers and the load generator.',
    '',
    '| worker delay | direct p50 | direct p99 | gateway p50 | gateway p99 | added p50 | added p99 | direct req/s | gateway req/s | queen CPU per request | failures |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const { direct, gateway } = row;
    lines.push(
      `| ${row.responseDelayMs} ms | ${ms(direct.p50Ms)} | ${ms(direct.p99Ms)} | ${ms(gateway.p50Ms)} | ${ms(gateway.p99Ms)} | ` +
        `${ms(gateway.p50Ms - direct.p50Ms)} | ${ms(gateway.p99Ms - direct.p99Ms)} | ` +
        `${int((direct.ops * 1000) / direct.elapsedMs)} | ${int((gateway.ops * 1000) / gateway.elapsedMs)} | ` +
        `${usec(row.queenCpuUsPerRequest)} | ${direct.failures + gateway.failures} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** One line for the console summary. */
export function gatewaySummary(comparison: GatewayComparison): string {
  return comparison.rows
    .map(
      (row) =>
        `gateway (worker delay ${row.responseDelayMs} ms, ${comparison.settings.inFlight} in flight): added p50 ` +
        `${fixed(2)(row.gateway.p50Ms - row.direct.p50Ms)} ms, p99 ${fixed(2)(row.gateway.p99Ms - row.direct.p99Ms)} ms`,
    )
    .join('\n');
}
