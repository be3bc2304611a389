import { pollFlag, type EnginesOutcome } from './engines-scenario.js';
import { fixed, int, mib, ms, pct, usec } from './report-format.js';
import { Samples } from './stats.js';

/** Percentiles of one figure of the timed changes, in ms. */
interface Spread {
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

function spread(values: readonly number[]): Spread {
  const samples = new Samples(values.length);
  for (const value of values) samples.add(value);
  const [p50Ms = Number.NaN, p90Ms = Number.NaN, p99Ms = Number.NaN, maxMs = Number.NaN] = samples.percentiles(
    50,
    90,
    99,
    100,
  );
  return { p50Ms, p90Ms, p99Ms, maxMs };
}

/** The latency figures: in all and in two parts, the goal, and how many changes took longer than it. */
interface Latency {
  readonly total: Spread;
  readonly untilRead: Spread;
  readonly afterRead: Spread;
  readonly goalMs: number;
  readonly timed: number;
  readonly overGoal: number;
  /** Changes read by a poll that ended after its round's snapshot had gone: they rode the next one. */
  readonly secondSnapshot: number;
}

function latency(o: EnginesOutcome): Latency {
  const timings = o.delivery.timings;
  const goalMs = o.settings.pollIntervalMs + o.settings.goalSlackMs;
  return {
    total: spread(timings.map((t) => t.totalMs)),
    untilRead: spread(timings.map((t) => t.untilReadMs)),
    afterRead: spread(timings.map((t) => t.afterReadMs)),
    goalMs,
    timed: timings.length,
    overGoal: timings.filter((t) => t.totalMs > goalMs).length,
    secondSnapshot: timings.filter((t) => t.afterReadMs > o.settings.pollIntervalMs / 2).length,
  };
}

function title(o: EnginesOutcome): string {
  const s = o.settings;
  const every = s.pollIntervalMs === 1_000 ? 'once a second' : `every ${ms(s.pollIntervalMs)}`;
  return `Engines: one agent polling ${int(s.engines)} vLLM servers ${every}`;
}

/** A two-column table, then a blank line. */
function table(heading: string, rows: readonly (readonly [string, string])[]): string[] {
  return [`| ${heading} | value |`, '|---|---:|', ...rows.map(([figure, value]) => `| ${figure} | ${value} |`), ''];
}

const pctOfCore = (value: number): string => `${fixed(1)(value)} %`;
const share = (part: number, whole: number): string => `${fixed(1)((100 * part) / Math.max(1, whole))} %`;
const verdict = (l: Latency): string => (l.total.p99Ms <= l.goalMs ? 'met' : 'not met');

/** The engines section of BENCHMARKS.md (also what `run.js --only engines` prints). */
export function enginesSection(o: EnginesOutcome, index: number, cores: number): string[] {
  const s = o.settings;
  const d = o.delivery;
  const l = latency(o);
  const perSecond = (count: number): number => (count * 1_000) / d.windowMs;
  const rate = (count: number): string => fixed(2)(perSecond(count));
  const snapshots = d.bursts;
  const ticks = Math.max(0, o.payloadsAccepted - snapshots);
  const lines = [`## ${index}. ${title(o)}`, ''];
  lines.push(
    `The real CLI's agent (\`hive-registry agent --engine URL\` x ${int(s.engines)}, \`--poll-interval ` +
      `${pollFlag(s.pollIntervalMs)}\`, \`--gpu-stats none\`) reports ${int(s.engines)} fake vLLM servers (the test ` +
      `suite's, answering \`/v1/models\`, \`/version\`, \`/health\` and \`/metrics\` as vLLM does) to a queen ` +
      `(catalog in memory, HTTP on for \`/metrics\`); agent, queen and engines are three processes. The engines' ` +
      `process also runs a driver and a Watch client on the queen (the typed client's \`watch\`, filtered to the ` +
      `hive), on one monotonic clock: about ${fixed(1)(s.changesPerSecond)} times a second, at random instants ` +
      `(gaps drawn uniformly from 0.5 to 1.5 times the mean, so at every phase of the polls), the driver gives ` +
      `one engine, chosen at random among those with no change still on its way, a \`requests_running\` it never ` +
      `reported before; the latency is from that instant until the WORKER_UPSERTED event carrying the value ` +
      `arrives. After the queen showed every engine (${fixed(1)(o.syncMs / 1_000)} s after the agent started) ` +
      `and ${s.warmupMs / 1_000} s of warm-up, ${s.measureMs / 1_000} s are measured; the agent's CPU is ` +
      `user + system from \`/proc/<pid>/stat\` over the window, its memory \`VmRSS\` at the window's end and ` +
      `\`VmHWM\` (the peak since it started) from \`/proc/<pid>/status\`. The bench fails when a change never ` +
      `arrives (within ${s.deliveryDeadlineMs / 1_000} s of the window's end, warm-up changes included). The goal ` +
      `is p99 <= poll interval + ${int(s.goalSlackMs)} ms.`,
    '',
    `| latency (${int(l.timed)} changes) | engine changed -> queen's Watch event | of which: until the agent's ` +
      'next GET /metrics | GET /metrics -> Watch event |',
    '|---|---:|---:|---:|',
    ...(['p50', 'p90', 'p99', 'max'] as const).map((p) => {
      const key = `${p}Ms` as const;
      const label = p === 'p99' ? `p99 (goal <= ${int(l.goalMs)} ms: ${verdict(l)})` : p;
      return `| ${label} | ${ms(l.total[key])} | ${ms(l.untilRead[key])} | ${ms(l.afterRead[key])} |`;
    }),
    '',
    ...table('delivery', [
      ['changes made in the window (per second)', `${int(d.changes)} (${fixed(1)(perSecond(d.changes))}/s)`],
      [
        `arrived / missed (whole run: ${int(d.changesTotal)} changes, warm-up included)`,
        `${int(l.timed)} / ${int(d.missed)}`,
      ],
      ['changes over the goal', `${int(l.overGoal)} (${share(l.overGoal, l.timed)})`],
      [
        'changes that waited for a second snapshot (GET /metrics -> event over half an interval)',
        `${int(l.secondSnapshot)} (${share(l.secondSnapshot, l.timed)})`,
      ],
    ]),
    ...table('cost over the window', [
      ['agent CPU, % of one core', pctOfCore(o.agentCpuPercent)],
      ['agent CPU per engine poll', usec((o.agentCpuPercent * 10_000) / perSecond(d.polls))],
      ['agent RSS at the end; peak since start (VmHWM)', `${mib(o.agentRssBytes)}; ${mib(o.agentPeakRssBytes)}`],
      [
        'engine polls/s (GET /metrics); HTTP requests/s to the engines',
        `${fixed(1)(perSecond(d.polls))}; ${fixed(1)(perSecond(d.engineRequests))}`,
      ],
      [
        'payloads the queen accepted/s: snapshots (bursts of worker events) + ticks',
        `${rate(o.payloadsAccepted)}: ${rate(snapshots)} + ${rate(ticks)}`,
      ],
      ['worker events per snapshot', fixed(1)(d.upserts / Math.max(1, snapshots))],
      ['queen CPU, % of one core', pctOfCore(o.queenCpuPercent)],
      ["engines' process CPU (engines, driver, watcher), % of one core", pctOfCore(d.childCpuUs / 10 / d.windowMs)],
      [`machine CPU busy, % of ${cores} cores`, pct(o.machineBusyPercent)],
    ]),
    `**p99 ${ms(l.total.p99Ms)}: the goal (<= ${int(l.goalMs)} ms) is ${verdict(l)}.** A change first waits for ` +
      `its engine's next poll: up to one interval, spread evenly by design (the middle column). Then it waits for ` +
      `the agent's next snapshot (the right column). Every engine is polled on one grid shared by all of them ` +
      `(poll interval apart, however long a poll takes), so the polls come in a round per interval, and the poller ` +
      `signals a round's changes once its polls have ended (or 100 ms after the first change, when an engine is ` +
      `slow): the snapshot, at most one per interval, carries the whole round, and the right column stays near the ` +
      `round's length. A change read after its round's snapshot left would wait one more interval (up to twice the ` +
      `interval in all): ${int(l.secondSnapshot)} changes here. ` +
      `"Agent CPU per engine poll" is all the agent's CPU (heartbeats and garbage collection included) over ` +
      `its polls. Snapshots are counted as bursts of worker events (the events of one snapshot leave the queen ` +
      `together), ticks as the queen's accepted payloads (\`hive_registry_heartbeats_total\`) minus those; a ` +
      `heartbeat beat that finds the snapshot changed sends it whole, so snapshots may exceed one per interval. ` +
      `One run per bench run.`,
    '',
  );
  return lines;
}

/** The engines scenario in one line, for the printed summary. */
export function enginesSummary(o: EnginesOutcome): string {
  const l = latency(o);
  const d = o.delivery;
  return (
    `${title(o)}: engine change -> queen's Watch p50 ${ms(l.total.p50Ms)}, p90 ${ms(l.total.p90Ms)}, p99 ` +
    `${ms(l.total.p99Ms)} (goal <= ${int(l.goalMs)} ms: ${verdict(l)}), max ${ms(l.total.maxMs)}; ${int(l.timed)} of ` +
    `${int(d.changes)} changes timed, ${int(d.missed)} missed; agent CPU ${fixed(1)(o.agentCpuPercent)} % of one ` +
    `core, RSS ${mib(o.agentRssBytes)} (peak ${mib(o.agentPeakRssBytes)})`
  );
}
