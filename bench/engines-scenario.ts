// The engines scenario: what one agent costs polling a machine's inference engines, and how long an engine's
// change takes to reach the queen's view. Three processes beside the bench: the queen (catalog in memory, HTTP on
// for /metrics), the real CLI's agent polling `engines` fake vLLM servers, and one child holding those engines, the
// driver that changes them and the Watch client that times each change (engines-main.js, one clock for both ends).
import { BenchChild } from './bench-child.js';
import type { EnginesChildSpec, EnginesDelivery, EnginesSettings } from './engines-protocol.js';

export type { EnginesSettings } from './engines-protocol.js';
import { machineCpu, serverStats, startServer, type RunningServer } from './network-scenarios.js';
import { procCpuMs, procMemory } from './proc-stats.js';
import { nowMs } from './stats.js';


export interface EnginesOutcome {
  readonly settings: EnginesSettings;
  readonly delivery: EnginesDelivery;
  /** From starting the agent until the queen showed every engine's worker. */
  readonly syncMs: number;
  /** The agent over the window: CPU (% of one core), resident memory at its end and its peak since the start. */
  readonly agentCpuPercent: number;
  readonly agentRssBytes: number;
  readonly agentPeakRssBytes: number;
  /** The queen's CPU over the window, % of one core. */
  readonly queenCpuPercent: number;
  /** Heartbeat payloads (snapshots and ticks) the queen accepted over the window, from its /metrics. */
  readonly payloadsAccepted: number;
  /** The whole machine's CPU use over the window, in % of all its cores. */
  readonly machineBusyPercent: number;
}

const HIVE = 'bench-engines';
const START_TIMEOUT_MS = 20_000;
const SYNC_TIMEOUT_MS = 40_000;
/** Every child exits on its own after this long (below the queen child's own 120 s cap). */
const LIFETIME_MS = 110_000;
const ACCEPTED = /^hive_registry_heartbeats_total\{result="accepted"\} (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m;

/** Heartbeat payloads the queen has accepted since it started, from its /metrics. */
async function acceptedPayloads(queen: RunningServer): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${String(queen.httpPort)}/metrics`);
  const text = await response.text();
  const match = ACCEPTED.exec(text);
  if (!response.ok || match === null) {
    throw new Error(`queen /metrics (${response.status}): no accepted heartbeats count`);
  }
  return Number(match[1]);
}

/** Never resolves; rejects (with its stderr) once `child` exits: raced against each wait, a dead agent fails fast. */
function exitOf(child: BenchChild): Promise<never> {
  const gone = child.waitFor(() => false, LIFETIME_MS).then(() => {
    throw new Error(`${child.name} said what nothing asked for`);
  });
  gone.catch(() => undefined); // read by the races; once the agent is stopped on purpose, nobody is left to.
  return gone;
}

/** The agent's --poll-interval as given. */
export function pollFlag(ms: number): string {
  return ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`;
}

interface WindowEnd {
  readonly atMs: number;
  readonly agentCpuMs: number;
  readonly queenCpuUs: number;
  readonly queenAtMs: number;
  readonly accepted: number;
  readonly machine: { busy: number; total: number };
}

async function windowEnd(agentPid: number, queen: RunningServer): Promise<WindowEnd> {
  // The agent first: it is read from /proc at once, the queen answers over a pipe and HTTP.
  const [agentCpuMs, atMs, machine] = [procCpuMs(agentPid), nowMs(), machineCpu()];
  const stats = await serverStats(queen);
  const accepted = await acceptedPayloads(queen);
  const queenCpuUs = stats.cpuUserUs + stats.cpuSystemUs;
  return { atMs, agentCpuMs, queenCpuUs, queenAtMs: stats.atMs, accepted, machine };
}

/** Runs the scenario once; every child is stopped whatever happens. */
export async function enginesRun(settings: EnginesSettings): Promise<EnginesOutcome> {
  const queen = await startServer('queen', ':memory:', '127.0.0.1:0');
  let engines: BenchChild | undefined;
  let agent: BenchChild | undefined;
  try {
    const spec: EnginesChildSpec = {
      address: queen.address,
      hiveId: HIVE,
      engines: settings.engines,
      changesPerSecond: settings.changesPerSecond,
      warmupMs: settings.warmupMs,
      measureMs: settings.measureMs,
      deliveryDeadlineMs: settings.deliveryDeadlineMs,
      burstGapMs: settings.burstGapMs,
      seed: settings.seed,
      maxLifetimeMs: LIFETIME_MS,
    };
    const child = new BenchChild('engines', 'engines-main.js', [JSON.stringify(spec)]);
    engines = child;
    const urls = (await child.next('ready', START_TIMEOUT_MS))['urls'] as string[];
    const agentStartedMs = nowMs();
    agent = new BenchChild('agent', '../src/cli/main.js', [
      'agent',
      '--queen',
      queen.address,
      '--hive-id',
      HIVE,
      ...urls.flatMap((url) => ['--engine', url]),
      '--poll-interval',
      pollFlag(settings.pollIntervalMs),
      '--gpu-stats',
      'none',
      '--log-level',
      'warn',
    ]);
    const agentPid = agent.pid;
    if (agentPid === undefined) throw new Error('the agent did not start');
    const agentGone = exitOf(agent);
    const wait = (name: string, timeoutMs: number): Promise<Record<string, unknown>> =>
      Promise.race([child.next(name, timeoutMs), agentGone]);

    await wait('synced', SYNC_TIMEOUT_MS);
    const syncMs = nowMs() - agentStartedMs;
    await wait('measure-start', settings.warmupMs + START_TIMEOUT_MS);
    const start = await windowEnd(agentPid, queen);
    await wait('measure-end', settings.measureMs + START_TIMEOUT_MS);
    const end = await windowEnd(agentPid, queen);
    const memory = procMemory(agentPid);
    const answer = await wait('result', settings.deliveryDeadlineMs + START_TIMEOUT_MS);
    const delivery = answer['result'] as EnginesDelivery;
    if (delivery.missed > 0) {
      throw new Error(
        `engines: ${delivery.missed} of ${delivery.changesTotal} changes never reached the queen's Watch stream ` +
          `(waited ${settings.deliveryDeadlineMs} ms after the window)`,
      );
    }
    const windowMs = end.atMs - start.atMs;
    return {
      settings,
      delivery,
      syncMs,
      agentCpuPercent: ((end.agentCpuMs - start.agentCpuMs) * 100) / windowMs,
      agentRssBytes: memory.rssBytes,
      agentPeakRssBytes: memory.peakRssBytes,
      queenCpuPercent: (end.queenCpuUs - start.queenCpuUs) / 10 / (end.queenAtMs - start.queenAtMs),
      payloadsAccepted: end.accepted - start.accepted,
      machineBusyPercent: (100 * (end.machine.busy - start.machine.busy)) / (end.machine.total - start.machine.total),
    };
  } finally {
    // The agent first, so it half-closes its stream while the queen is still there to hear it.
    await agent?.stop();
    await engines?.stop();
    await queen.child.stop();
  }
}
