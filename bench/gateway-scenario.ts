// The gateway scenario: what the inference gateway adds to a request, against calling the worker directly and
// against a bare forwarding proxy (its baseline), with the same load generator in the same run. A queen (with its
// HTTP listener), one simulated hive and the bare proxy run as child processes; the hive's workers answer OpenAI
// requests themselves. For each worker delay, the load generator keeps `inFlight` chat completions outstanding,
// first straight at the workers' URLs (in turn), then at the bare proxy, then at the gateway.
import { BenchChild } from './bench-child.js';
import type { LoadResult, ServerStats } from './protocol.js';
import type { GatewayLoadSpec } from './gateway-load-main.js';
import { reportedWorkers, startSimulatedHive } from './simulated-hive.js';

export interface GatewaySettings {
  /** Simulated workers on the hive. */
  readonly workers: number;
  /** Requests each worker runs at once: workers x this is above inFlight, so neither path queues. */
  readonly maxConcurrency: number;
  readonly inFlight: number;
  /** Worker delays before the first byte of an answer, one row each. */
  readonly responseDelaysMs: readonly number[];
  /** Tokens per answer (the simulated worker writes them at once when not streaming). */
  readonly maxTokens: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface GatewayRow {
  readonly responseDelayMs: number;
  readonly direct: LoadResult;
  /** Through the bare forwarding proxy (bare-proxy-main.ts): the gateway's baseline. */
  readonly bare: LoadResult;
  readonly gateway: LoadResult;
  /** The queen's CPU time per request answered through the gateway, in microseconds. */
  readonly queenCpuUsPerRequest: number;
  /** The bare proxy's CPU time per request it answered, in microseconds. */
  readonly bareCpuUsPerRequest: number;
}

export interface GatewayComparison {
  readonly settings: GatewaySettings;
  readonly rows: readonly GatewayRow[];
}

const MODEL = 'bench/gateway-model';
const HIVE = 'gateway-bench';
const START_TIMEOUT_MS = 20_000;
const STATS_TIMEOUT_MS = 5_000;
/** Prompt numbers per load run: far more than one run sends, so the runs' prompts never meet. */
const RUN_NUMBERS = 100_000_000;

async function stats(child: BenchChild): Promise<ServerStats> {
  child.send('stats');
  return (await child.next('stats', STATS_TIMEOUT_MS))['stats'] as ServerStats;
}

/**
 * A proxy's CPU time per request over one load run (`before` and `after` its stats around it). Requests answered
 * over the whole run (warm-up included) are not counted by the load generator; the window's count scaled by the
 * run's length is close enough for a per-request figure.
 */
function cpuUsPerRequest(before: ServerStats, after: ServerStats, result: LoadResult, settings: GatewaySettings): number {
  const cpuUs = after.cpuUserUs + after.cpuSystemUs - (before.cpuUserUs + before.cpuSystemUs);
  const requests = (result.ops * (settings.warmupMs + settings.measureMs)) / result.elapsedMs;
  return requests > 0 ? cpuUs / requests : Number.NaN;
}

/** Load through one proxy child, with the proxy's CPU per request over the run. */
async function through(proxy: BenchChild, spec: GatewayLoadSpec, settings: GatewaySettings): Promise<{ result: LoadResult; cpuUsPerRequest: number }> {
  const before = await stats(proxy);
  const result = await load(spec);
  const after = await stats(proxy);
  return { result, cpuUsPerRequest: cpuUsPerRequest(before, after, result, settings) };
}

async function load(spec: GatewayLoadSpec): Promise<LoadResult> {
  const child = new BenchChild('gateway-load', 'gateway-load-main.js', [JSON.stringify(spec)]);
  try {
    return (await child.next('result', spec.warmupMs + spec.measureMs + 30_000))['result'] as LoadResult;
  } finally {
    await child.stop();
  }
}

async function row(settings: GatewaySettings, responseDelayMs: number): Promise<GatewayRow> {
  const queen = new BenchChild('queen', 'server-main.js', ['queen', ':memory:', '127.0.0.1:0']);
  let hive: BenchChild | undefined;
  let bare: BenchChild | undefined;
  try {
    const ready = await queen.next('ready', START_TIMEOUT_MS);
    const address = `127.0.0.1:${String(ready['port'])}`;
    const httpPort = Number(ready['httpPort']);
    // The real CLI's agent: its workers serve the OpenAI paths under their own URLs.
    hive = startSimulatedHive(address, {
      hiveId: HIVE,
      workers: settings.workers,
      model: MODEL,
      maxConcurrency: settings.maxConcurrency,
      responseDelayMs,
      chunkDelayMs: 0,
    });
    const urls = (await reportedWorkers(address, settings.workers)).map((w) => w.url);
    // Numbered prompts, each run its own numbers: each prompt new to its worker's simulated prefix cache, so every
    // answer waits the whole delay.
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Question {n}: how far is the next hive?' }], max_tokens: settings.maxTokens });
    const common = { inFlight: settings.inFlight, body, warmupMs: settings.warmupMs, measureMs: settings.measureMs };
    const direct = await load({ ...common, firstNumber: 0, targets: urls.map((url) => `${url}/v1/chat/completions`) });
    bare = new BenchChild('bare-proxy', 'bare-proxy-main.js', [JSON.stringify(urls)]);
    const barePort = Number((await bare.next('ready', START_TIMEOUT_MS))['port']);
    const viaBare = await through(bare, { ...common, firstNumber: RUN_NUMBERS, targets: [`http://127.0.0.1:${barePort}/v1/chat/completions`] }, settings);
    await bare.stop();
    const viaGateway = await through(queen, { ...common, firstNumber: 2 * RUN_NUMBERS, targets: [`http://127.0.0.1:${httpPort}/v1/chat/completions`] }, settings);
    return {
      responseDelayMs,
      direct,
      bare: viaBare.result,
      gateway: viaGateway.result,
      queenCpuUsPerRequest: viaGateway.cpuUsPerRequest,
      bareCpuUsPerRequest: viaBare.cpuUsPerRequest,
    };
  } finally {
    await bare?.stop();
    await hive?.stop();
    await queen.stop();
  }
}

/** Runs one row per worker delay; every child is stopped whatever happens. */
export async function gatewayRun(settings: GatewaySettings): Promise<GatewayComparison> {
  const rows: GatewayRow[] = [];
  for (const delay of settings.responseDelaysMs) rows.push(await row(settings, delay));
  return { settings, rows };
}
