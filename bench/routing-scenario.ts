// The routing scenario: how three ways of spreading requests over one hive's workers do against a workload whose
// requests share long prompt prefixes. For each policy a fresh queen (the built CLI's `serve`, with its HTTP
// listener) and a fresh simulated hive (the built CLI's agent) start, so no prefix cache and no gateway memory
// carries over from the policy before; a load generator in its own process sends the same seeded sequence of
// streamed chat completions: straight at the workers' URLs in turn (round robin, what a plain load balancer does),
// or through the gateway with prefix affinity off (load only) or on.
import { BenchChild } from './bench-child.js';
import { startQueen, type QueenProcess } from './federation-queens.js';
import { describeMachine, type Machine } from './machine.js';
import type { PolicyFigures } from './routing-figures.js';
import type { RoutingLoadSpec, RoutingTarget } from './routing-load-main.js';
import type { WorkloadSpec } from './routing-workload.js';
import { reportedWorkers, startSimulatedHive } from './simulated-hive.js';

/** The three policies, in the order they run. */
export const ROUTING_POLICIES = ['round-robin', 'load', 'affinity'] as const;
export type RoutingPolicy = (typeof ROUTING_POLICIES)[number];

export interface RoutingSettings {
  /** Simulated workers on the one hive, all loading one model. */
  readonly workers: number;
  /** Requests each worker runs at once (`--max-concurrency`). */
  readonly maxConcurrency: number;
  /** `--response-delay`: a prefix-cache miss waits this long before the first byte, a hit a fifth of it. */
  readonly responseDelayMs: number;
  /** `--chunk-delay`: between streamed tokens. */
  readonly chunkDelayMs: number;
  readonly workload: WorkloadSpec;
  /** Requests per policy, and how many are in flight at once. */
  readonly requests: number;
  readonly inFlight: number;
  readonly maxTokens: number;
  /** Goals: affinity's prefix-hit rate at least this (0-1)... */
  readonly hitRateGoal: number;
  /** ...its TTFT p50 at most this times load only's... */
  readonly ttftP50GoalFactor: number;
  /** ...and its largest per-worker mean in flight at most this times the mean across workers. */
  readonly inFlightSpreadGoalFactor: number;
}

export interface PolicyRun {
  readonly policy: RoutingPolicy;
  readonly figures: PolicyFigures;
}

export interface RoutingOutcome {
  readonly settings: RoutingSettings;
  readonly machine: Machine;
  readonly runs: readonly PolicyRun[];
}

/** The one model every worker loads. */
export const ROUTING_MODEL = 'bench/routing-model';
const HIVE = 'routing-bench';

/** The flags that choose the policy on `serve` (round robin does not use the gateway: production defaults). */
function policyFlags(policy: RoutingPolicy): string[] {
  const http = ['--http-listen', '127.0.0.1:0'];
  if (policy === 'round-robin') return http;
  return [...http, '--gateway-prefix-affinity', policy === 'affinity' ? 'on' : 'off'];
}

async function load(spec: RoutingLoadSpec): Promise<PolicyFigures> {
  const child = new BenchChild('routing-load', 'routing-load-main.js', [JSON.stringify(spec)]);
  try {
    // Well above the slowest case (every request a miss, queued behind the others) on a busy machine.
    return (await child.next('result', 100_000))['figures'] as PolicyFigures;
  } finally {
    await child.stop();
  }
}

/** One policy on a fresh queen and hive; both are stopped whatever happens. */
async function policyRun(settings: RoutingSettings, policy: RoutingPolicy): Promise<PolicyRun> {
  let queen: QueenProcess | undefined;
  let hive: BenchChild | undefined;
  try {
    queen = await startQueen({ kind: 'single' }, policyFlags(policy));
    if (queen.httpPort === undefined) throw new Error('the queen did not report its HTTP port');
    hive = startSimulatedHive(queen.address, {
      hiveId: HIVE,
      workers: settings.workers,
      model: ROUTING_MODEL,
      maxConcurrency: settings.maxConcurrency,
      responseDelayMs: settings.responseDelayMs,
      chunkDelayMs: settings.chunkDelayMs,
    });
    const workers = await reportedWorkers(queen.address, settings.workers);
    const targets: RoutingTarget[] =
      policy === 'round-robin'
        ? workers.map((w) => ({ url: `${w.url}/v1/chat/completions`, workerId: w.workerId }))
        : [{ url: `http://127.0.0.1:${queen.httpPort}/v1/chat/completions` }];
    const figures = await load({
      targets,
      workerIds: workers.map((w) => w.workerId),
      model: ROUTING_MODEL,
      requests: settings.requests,
      inFlight: settings.inFlight,
      maxTokens: settings.maxTokens,
      workload: settings.workload,
    });
    return { policy, figures };
  } finally {
    await hive?.stop();
    await queen?.child.stop();
  }
}

/** Runs every policy in turn, each on its own queen and hive. */
export async function routingRun(settings: RoutingSettings, log: (text: string) => void): Promise<RoutingOutcome> {
  const machine = describeMachine();
  const runs: PolicyRun[] = [];
  for (const policy of ROUTING_POLICIES) {
    log(`routing: ${policy}`);
    runs.push(await policyRun(settings, policy));
  }
  return { settings, machine, runs };
}
