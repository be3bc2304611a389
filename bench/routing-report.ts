import { fixed, int, ms, ranOn } from './report-format.js';
import type { PolicyFigures } from './routing-figures.js';
import { ROUTING_MODEL, type RoutingOutcome, type RoutingPolicy } from './routing-scenario.js';

const LABELS: Readonly<Record<RoutingPolicy, string>> = {
  'round-robin': 'round robin (straight to the workers)',
  load: 'load only (gateway, affinity off)',
  affinity: 'load + prefix affinity (gateway, affinity on)',
};

const verdict = (met: boolean): string => (met ? 'met' : 'not met');
const code = (text: string): string => `\`${text}\``;
const share = (part: number, whole: number): string => (whole > 0 ? `${fixed(1)((part * 100) / whole)} %` : 'n/a');
const inFlight = (value: number): string => fixed(2)(value);

/** Successful answers whose worker said hit, over those that said hit or miss (0-1); NaN when none said either. */
export function hitRate(f: PolicyFigures): number {
  const said = f.prefixHits + f.prefixMisses;
  return said > 0 ? f.prefixHits / said : Number.NaN;
}

function figuresOf(o: RoutingOutcome, policy: RoutingPolicy): PolicyFigures {
  const run = o.runs.find((r) => r.policy === policy);
  if (run === undefined) throw new Error(`no figures for the ${policy} policy`);
  return run.figures;
}

interface Goals {
  readonly hitRate: boolean;
  readonly ttft: boolean;
  readonly spread: boolean;
  /** Load only's TTFT p50 times the goal factor, and affinity's mean in flight times its factor. */
  readonly ttftLimitMs: number;
  readonly spreadLimit: number;
}

/** The goals, from the figures: never a given answer. A missing figure (NaN) fails its goal. */
function goals(o: RoutingOutcome): Goals {
  const s = o.settings;
  const load = figuresOf(o, 'load');
  const affinity = figuresOf(o, 'affinity');
  const ttftLimitMs = s.ttftP50GoalFactor * load.ttftP50Ms;
  const spreadLimit = s.inFlightSpreadGoalFactor * affinity.inFlight.meanOfMeans;
  return {
    hitRate: hitRate(affinity) >= s.hitRateGoal,
    ttft: affinity.ttftP50Ms <= ttftLimitMs,
    spread: affinity.inFlight.largestMean <= spreadLimit,
    ttftLimitMs,
    spreadLimit,
  };
}

function hitRateText(f: PolicyFigures): string {
  const rate = hitRate(f);
  return Number.isNaN(rate) ? 'n/a (no header)' : `${fixed(1)(rate * 100)} %`;
}

function introduction(o: RoutingOutcome): string {
  const s = o.settings;
  const w = s.workload;
  return (
    `${ranOn(o.machine)} (other work shares this machine: compare the policies within one run). One simulated ` +
    `hive, the built CLI's ${code(`agent --simulate ${s.workers} --models ${ROUTING_MODEL} --max-concurrency ${s.maxConcurrency} --response-delay ${s.responseDelayMs} --chunk-delay ${s.chunkDelayMs} --steady`)} ` +
    `(${int(s.workers)} workers, one model, ${int(s.maxConcurrency)} slots each), and a queen, the built CLI's ` +
    `${code('serve --http-listen 127.0.0.1:0 --db :memory:')} (production defaults otherwise), each in its own ` +
    `process. A simulated worker models a prefix cache: a request whose first 256 bytes of prompt text it saw ` +
    `begin within its last 1,000 requests waits ${int(s.responseDelayMs / 5)} ms (a fifth of the response delay) ` +
    `before its first byte, a miss the whole ${int(s.responseDelayMs)} ms, and its answer says which in ` +
    `${code('x-simulated-prefix-cache')}. The workload: ${int(w.systemPrompts)} system prompts of ` +
    `${int(w.minPromptBytes)} to ${int(w.maxPromptBytes)} bytes (seeded; each opens with a line of its own, so ` +
    `their first 256 bytes differ), each request one of them drawn uniformly, then 1 to ${int(w.maxUserTurns)} ` +
    `short user questions (seeded too: every policy sends the same sequence). For each policy a fresh queen and ` +
    `hive start, so neither the workers' caches nor the gateway's memory carry over, and a load generator in its ` +
    `own process sends ${int(s.requests)} chat completions (${code('stream: true')}, ${code('max_tokens')} ` +
    `${int(s.maxTokens)}), ${int(s.inFlight)} in flight, on kept-alive connections, with no warm-up: round robin ` +
    `sends them straight to the ${int(s.workers)} workers' URLs in turn (what a plain load balancer does, no ` +
    `gateway); load only through the gateway of a queen started with ${code('--gateway-prefix-affinity off')}; ` +
    `load + prefix affinity with ${code('--gateway-prefix-affinity on')}. TTFT is from sending a request to the ` +
    `first ${code('data:')} chunk of its body; requests/s counts the successful answers from the first request ` +
    `sent to the last one ended; the prefix-hit rate is the share of successful answers whose worker said ` +
    `${code('hit')}. A request is in flight on a worker from sending it to its last byte, counted on the worker ` +
    `that answered it (known from the URL for round robin, from the gateway's ${code('x-hive-worker')} header ` +
    `otherwise); each worker's in-flight count is averaged over the run, weighted by time (the sum of its ` +
    `requests' durations over the run's length). The table gives the largest of these averages, their mean ` +
    `across all ${int(s.workers)} workers (one that answered nothing counts as 0) and the highest instantaneous ` +
    `count on any worker; a request with no known worker (refused before any pick) is left out of these figures. ` +
    `"Gateway prefix match" is the share of answers whose ${code('x-hive-prefix-blocks')} ` +
    `was above 0 (the gateway sends it only with affinity on). Failures are answers other than 200 and requests ` +
    `that broke off (10 s timeout). One run per bench run.`
  );
}

function table(o: RoutingOutcome): string[] {
  const lines = [
    '| policy | prefix-hit rate | TTFT p50 | TTFT p99 | TTFT mean | requests/s | in flight per worker: largest mean | mean of the means | largest / mean | highest at one instant | gateway prefix match | failures |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { policy, figures: f } of o.runs) {
    const m = f.inFlight;
    const match = f.prefixBlocksAnswers > 0 ? share(f.prefixMatched, f.prefixBlocksAnswers) : '—';
    lines.push(
      `| ${LABELS[policy]} | ${hitRateText(f)} | ${ms(f.ttftP50Ms)} | ${ms(f.ttftP99Ms)} | ${ms(f.ttftMeanMs)} | ` +
        `${fixed(1)(f.requestsPerSecond)} | ${inFlight(m.largestMean)} | ${inFlight(m.meanOfMeans)} | ` +
        `${fixed(2)(m.largestMean / m.meanOfMeans)} | ${int(m.peak)} | ${match} | ` +
        `${int(f.failures)} of ${int(f.requests)} |`,
    );
  }
  lines.push('');
  const failed = o.runs.filter((r) => r.figures.firstFailure !== undefined);
  for (const { policy, figures } of failed) {
    lines.push(`First failure, ${LABELS[policy]}: ${figures.firstFailure ?? ''}`, '');
  }
  return lines;
}

function conclusion(o: RoutingOutcome): string {
  const s = o.settings;
  const g = goals(o);
  const load = figuresOf(o, 'load');
  const affinity = figuresOf(o, 'affinity');
  const affinityHits = Number.isNaN(hitRate(affinity))
    ? `unknown (the workers sent no ${code('x-simulated-prefix-cache')} header)`
    : hitRateText(affinity);
  return (
    `**Prefix affinity: hit rate ${affinityHits} (goal >= ${int(s.hitRateGoal * 100)} %: ` +
    `${verdict(g.hitRate)}); TTFT p50 ${ms(affinity.ttftP50Ms)} against load only's ${ms(load.ttftP50Ms)} (goal ` +
    `<= ${fixed(2)(s.ttftP50GoalFactor)} x load only's = ${ms(g.ttftLimitMs)}: ${verdict(g.ttft)}); largest ` +
    `per-worker mean in flight ${inFlight(affinity.inFlight.largestMean)} against a mean of ` +
    `${inFlight(affinity.inFlight.meanOfMeans)} (goal <= ${fixed(1)(s.inFlightSpreadGoalFactor)} x = ` +
    `${inFlight(g.spreadLimit)}: ${verdict(g.spread)}).** How to read it: with cold caches every prompt misses ` +
    `once on each worker it reaches, so round robin and load only, which spread every prompt over all the ` +
    `workers, miss often until each worker has seen most prompts, while affinity misses about once per prompt ` +
    `as long as it keeps each prompt on the worker that served it (more when load sends a prompt elsewhere). TTFT ` +
    `follows the hit rate: about ${int(s.responseDelayMs / 5)} ms plus the hops on a hit, ` +
    `${int(s.responseDelayMs)} ms on a miss, so the mean shows what the hits buy; the p50 falls on a hit in any ` +
    `policy that hits more than half the time, the p99 on a miss in any that misses more than 1 % of the time. ` +
    `The in-flight columns show what affinity may cost: ` +
    `a worker holding popular prompts gets more than its share, up to where the gateway prefers a less loaded ` +
    `worker (${code('--gateway-affinity-slack')}); round robin's spread is the even one a plain load balancer ` +
    `gives. Requests/s follows from ${int(s.inFlight)} in flight over the mean request time, so it rises with ` +
    `the hit rate. The queen, the hive (its ${int(s.workers)} workers in one process), the load generator and ` +
    `other work share the machine's cores, so absolute times carry the machine's load.`
  );
}

/** The routing section of BENCHMARKS.md (also what `run.js --only routing` prints). */
export function routingSection(o: RoutingOutcome, index: number): string[] {
  return [
    `## ${index}. Routing: round robin, load only and prefix affinity over ${int(o.settings.workers)} ` +
      'simulated workers',
    '',
    introduction(o),
    '',
    ...table(o),
    conclusion(o),
    '',
  ];
}

/** The routing scenario in one line, for the printed summary. */
export function routingSummary(o: RoutingOutcome): string {
  const s = o.settings;
  const g = goals(o);
  const each = (pick: (f: PolicyFigures) => string): string => o.runs.map((r) => pick(r.figures)).join(' / ');
  const affinity = figuresOf(o, 'affinity');
  return (
    `Routing (${int(s.requests)} streamed requests, ${int(s.inFlight)} in flight, ${int(s.workers)} workers; ` +
    `round robin / load only / affinity): prefix-hit rate ${each(hitRateText)} (affinity >= ` +
    `${int(s.hitRateGoal * 100)} %: ${verdict(g.hitRate)}); TTFT p50 ${each((f) => ms(f.ttftP50Ms))} (affinity ` +
    `<= ${fixed(2)(s.ttftP50GoalFactor)} x load only: ${verdict(g.ttft)}); p99 ${each((f) => ms(f.ttftP99Ms))}; ` +
    `requests/s ${each((f) => fixed(1)(f.requestsPerSecond))}; affinity's largest per-worker mean in flight ` +
    `${inFlight(affinity.inFlight.largestMean)} vs mean ${inFlight(affinity.inFlight.meanOfMeans)} (<= ` +
    `${fixed(1)(s.inFlightSpreadGoalFactor)} x: ${verdict(g.spread)}); failures ${each((f) => int(f.failures))}`
  );
}
