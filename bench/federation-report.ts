import type { FederationOutcome, Spread } from './federation-scenario.js';
import type { QueenFigures } from './federation-window.js';
import { fixed, int, mib, ms, pct, ranOn } from './report-format.js';

const pctOfCore = (value: number): string => `${fixed(1)(value)} %`;
const ratio = (a: number, b: number): string => fixed(2)(a / b);
/** The smallest and largest of some ratios: "0.91-0.98". */
const ratioRange = (values: readonly number[]): string => {
  const [low, high] = [Math.min(...values), Math.max(...values)];
  return low.toFixed(2) === high.toFixed(2) ? fixed(2)(low) : `${fixed(2)(low)}-${fixed(2)(high)}`;
};
const verdict = (met: boolean): string => (met ? 'met' : 'not met');
const seconds = (value: number): string => `${fixed(value % 1_000 === 0 ? 0 : 1)(value / 1_000)} s`;
const after = (value: number | null): string => (value === null ? 'not seen' : ms(value));
/** The latest of per-survivor times; null when one of them never saw it. */
const worst = (values: readonly (number | null)[]): number | null =>
  values.some((value) => value === null) ? null : Math.max(...(values as number[]));

/** The goals, from the settings. */
function goals(o: FederationOutcome): {
  etcdWritesPerSecond: number;
  propagationMs: number;
  moveMs: number;
  offlineMs: number;
} {
  const s = o.settings;
  return {
    etcdWritesPerSecond: s.etcdWritesGoalFactor * s.changesPerSecond,
    propagationMs: s.propagationGoalMs,
    moveMs: s.leaseTtlMs + s.backoffCapMs,
    offlineMs: s.leaseTtlMs + 2_000,
  };
}

/** Whether each goal was met. */
function verdicts(o: FederationOutcome): { etcd: boolean; propagation: boolean; move: boolean; offline: boolean } {
  const g = goals(o);
  const f = o.failover;
  const moversOnline = f.survivors.map((sv) => sv.moversOnlineMs);
  const offline = f.survivors.map((sv) => sv.strandedOfflineEventMs);
  return {
    etcd: o.etcd.revisionsPerSecond <= g.etcdWritesPerSecond,
    propagation: o.federated.missing === 0 && o.federated.others.p99Ms <= g.propagationMs,
    move: moversOnline.every((v) => v !== null && v <= g.moveMs),
    offline: f.stranded === 0 || offline.every((v) => v !== null && v <= g.offlineMs),
  };
}

function title(o: FederationOutcome): string {
  return `Federation: ${o.settings.queens === 3 ? 'three' : int(o.settings.queens)} queens over one etcd`;
}

const code = (text: string): string => `\`${text}\``;

/** A two-column table (figure, value), then a blank line. */
function table(heading: string, rows: readonly (readonly [string, string])[]): string[] {
  return [`| ${heading} | value |`, '|---|---:|', ...rows.map(([figure, value]) => `| ${figure} | ${value} |`), ''];
}

/** What the section says before its tables: the machine, the setup, how each figure is measured. */
function introduction(o: FederationOutcome): string {
  const s = o.settings;
  const fo = o.failover;
  return (
    `${ranOn(o.machine)} (other work shares this machine: compare ratios from one run). ` +
    `One real etcd (${code('/usr/bin/etcd')}, its own temporary data directory, free loopback ports) and ` +
    `${int(s.queens)} queens, each the built CLI's ` +
    `${code(`serve --etcd URL --queen-id qN --etcd-lease-ttl ${Math.round(s.leaseTtlMs / 1_000)}s`)} in its own ` +
    `process, its catalog in etcd (production defaults ` +
    `otherwise; every simulated hive connects from 127.0.0.1, so ${code('--max-streams-per-address')} is ` +
    `raised). One process drives ${int(s.hives)} hives (8 workers each), hive i on queen i mod ${int(s.queens)}, ` +
    `each queen's hives on their own connections (${int(s.streamsPerConnection)} streams each): one full ` +
    `snapshot per hive, then a liveness tick per hive every ${seconds(s.tickEveryMs)} (spread evenly), and ` +
    `${int(s.changesPerSecond)} changes a second across the fleet, each a full snapshot of a hive chosen at ` +
    `random with one worker's state or gpu_percent changed and its ${code('last_heartbeat')} set to the send ` +
    `time on CLOCK_MONOTONIC (the marker). The publisher writes a hive at most once a second by design (a second ` +
    `change within 1 s waits for it), so no hive is changed twice within ${seconds(s.minChangeGapMs)}. Another ` +
    `process holds a Watch on every queen and times each change's WORKER_UPSERTED event (hive id + marker) ` +
    `there, on the same clock, and a watch on etcd under the queens' prefix that times the owner's write of each ` +
    `change (the first ${code('hives/<id>')} record holding its marker) and counts every write by the part of the ` +
    `keys it touches (${code('hives/')}: the queens' publications; ${code('catalog/hives/')}: the catalog, whose ` +
    `${code('last_seen')} a queen writes at most every 30 s per online hive; ${code('queens/')}). The bench fails ` +
    `when a change never reaches a queen's Watch (within ${seconds(s.deliveryDeadlineMs)} of the window's end). ` +
    `After ${seconds(s.warmupMs)} of warm-up, ${seconds(s.measureMs)} are measured (a whole ${code('last_seen')} ` +
    `period): ` +
    `etcd's own counters (Prometheus ${code('/metrics')}: ${code('etcd_debugging_mvcc_current_revision')}, ` +
    `which each writing transaction moves by one whatever it puts or deletes, since etcd 3.4's ` +
    `${code('etcd_mvcc_txn_total')} counts only transactions of several operations; ${code('etcd_mvcc_put_total')}, ` +
    `...) and each queen's CPU (user + system from ${code('/proc/<pid>/stat')}) at both ends, RSS ` +
    `(${code('VmRSS')}, peak ${code('VmHWM')}) at the end. Earlier in the same run one queen alone ` +
    `(${code('serve --db :memory:')}, no etcd) held the same fleet under the same load and was measured the same ` +
    `way. Then queen ${fo.killedId} is SIGKILLed: the hive process behaves as agents do (on a lost stream, ` +
    `full-jitter backoff ${code('[0, min(10 s, 250 ms x 2^n))')} with the agent's own Backoff, then the next ` +
    `queen of its list with the agent's QueenRotation), except ${int(fo.stranded)} of ${fo.killedId}'s hives ` +
    `that never come back (machines gone with it), which time the offline path. Each survivor is polled every ` +
    `${int(fo.pollEveryMs)} ms (${code('ListQueens')}, whose ${code('hives')} counts the online hives each queen ` +
    `owns as that survivor sees it, and ${code('ListActiveHives')}) until the survivors own every hive but the ` +
    `stranded ones, every moving hive is online there and every stranded one offline. One run per bench run.`
  );
}

function etcdTable(o: FederationOutcome): string[] {
  const e = o.etcd;
  const f = o.federated;
  const goal = goals(o).etcdWritesPerSecond;
  return table(`etcd over the window (${seconds(f.windowMs)})`, [
    [
      `write transactions/s (revision delta; goal <= ${fixed(0)(goal)}/s: ${verdict(verdicts(o).etcd)})`,
      fixed(1)(e.revisionsPerSecond),
    ],
    ...Object.entries(e.parts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([part, rate]): [string, string] => [
        `of which touching ${code(`${part}/`)}: transactions/s; keys written/s`,
        `${fixed(1)(rate.txnsPerSecond)}; ${fixed(1)(rate.keysPerSecond)}`,
      ]),
    ['keys put/s; deleted/s (all)', `${fixed(1)(e.putsPerSecond)}; ${fixed(1)(e.deletesPerSecond)}`],
    ["reads (ranges, a transaction's compares included)/s", fixed(1)(e.rangesPerSecond)],
    [
      'raft entries applied/s; WAL fsyncs/s; mean fsync',
      `${fixed(1)(e.proposalsPerSecond)}; ${fixed(1)(e.walFsyncsPerSecond)}; ${ms(e.walFsyncMeanMs)}`,
    ],
    [
      'changes sent/s; heartbeat payloads acked/s (the whole fleet)',
      `${fixed(1)(f.changesPerSecond)}; ${int(f.ackedPerSecond)}`,
    ],
    ['keys at the end; database size', `${int(e.keys)}; ${mib(e.dbBytes)}`],
    ['etcd CPU, % of one core; RSS', `${pctOfCore(e.cpuPercent)}; ${mib(e.rssBytes)}`],
  ]);
}

function latencyTable(o: FederationOutcome): string[] {
  const f = o.federated;
  const columns = [f.own, f.inEtcd, f.others, f.afterEtcd, o.single.own];
  const row = (label: string, pick: (s: Spread) => number): string =>
    `| ${label} | ${columns.map((c) => (c.samples === 0 ? '-' : ms(pick(c)))).join(' | ')} |`;
  const goal = `goal on the other queens <= ${int(goals(o).propagationMs)} ms: ${verdict(verdicts(o).propagation)}`;
  return [
    `| change sent -> | Watch event on the queen holding the stream (${int(f.own.samples)}) | the owner's ` +
      `write seen by an etcd watch (${int(f.inEtcd.samples)}) | Watch event on each other queen ` +
      `(${int(f.others.samples)}) | of which after the etcd watch got the write | single queen's Watch ` +
      `event, reference (${int(o.single.own.samples)}) |`,
    '|---|---:|---:|---:|---:|---:|',
    row('p50', (x) => x.p50Ms),
    row('p90', (x) => x.p90Ms),
    row(`p99 (${goal})`, (x) => x.p99Ms),
    row('max', (x) => x.maxMs),
    '',
  ];
}

function queensTable(o: FederationOutcome, single: QueenFigures): string[] {
  const f = o.federated;
  const row = (name: string, hives: number, cpu: number, rss: number, peak: string): string =>
    `| ${name} | ${int(hives)} | ${pctOfCore(cpu)} | ${ratio(cpu, single.cpuPercent)} | ${mib(rss)} | ` +
    `${ratio(rss, single.rssBytes)} | ${peak} |`;
  const sum = (pick: (q: QueenFigures) => number): number => f.queens.reduce((total, q) => total + pick(q), 0);
  return [
    '| queen (steady window) | hives | CPU, % of one core | CPU / single | RSS at the end | RSS / single | peak RSS |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...f.queens.map((q) => row(q.queenId, q.hives, q.cpuPercent, q.rssBytes, mib(q.peakRssBytes))),
    row(`all ${int(f.queens.length)} together`, sum((q) => q.hives), sum((q) => q.cpuPercent), sum((q) => q.rssBytes), ''),
    row('single queen (no etcd)', single.hives, single.cpuPercent, single.rssBytes, mib(single.peakRssBytes)),
    '',
    ...table(`machine, ${o.machine.cores} cores`, [
      [
        'CPU busy, % of all cores: single; federation (etcd, queens, load)',
        `${pct(o.single.machineBusyPercent)}; ${pct(f.machineBusyPercent)}`,
      ],
      ['time to fill (first snapshots accepted): single; federation', `${int(o.single.fillMs)} ms; ${int(f.fillMs)} ms`],
    ]),
  ];
}

function failoverTable(o: FederationOutcome): string[] {
  const g = goals(o);
  const fo = o.failover;
  const movers = `its ${int(fo.movers)} reconnecting hives`;
  return table(`failover: ${fo.killedId} SIGKILLed, times after the kill`, [
    [`${movers} saw their stream end (hive side): median; last`, `${ms(fo.lossMedianMs)}; ${ms(fo.lossLastMs)}`],
    [`${movers} accepted by a survivor (hive side): median; last`, `${ms(fo.moveMedianMs)}; ${ms(fo.moveLastMs)}`],
    ...fo.survivors.map((sv): [string, string] => [
      `every one online on ${sv.queenId} under a surviving owner (poll; goal <= lease TTL + backoff cap = ` +
        `${seconds(g.moveMs)}: ${verdict(sv.moversOnlineMs !== null && sv.moversOnlineMs <= g.moveMs)})`,
      after(sv.moversOnlineMs),
    ]),
    ...fo.survivors.map((sv): [string, string] => [
      `its ${int(fo.stranded)} stranded hives offline on ${sv.queenId}: last HIVE_OFFLINE event; poll (goal <= ` +
        `lease TTL + 2 s = ${seconds(g.offlineMs)}: ` +
        `${verdict(sv.strandedOfflineEventMs !== null && sv.strandedOfflineEventMs <= g.offlineMs)})`,
      `${after(sv.strandedOfflineEventMs)}; ${after(sv.strandedOfflineMs)}`,
    ]),
    [
      'HIVE_OFFLINE events of reconnecting hives on the survivors',
      fo.survivors.map((sv) => `${int(sv.moverOfflineEvents)} (${sv.queenId})`).join(', '),
    ],
    [
      'where they landed; most failed streams before one was accepted',
      `${Object.entries(fo.landedOn).map(([id, n]) => `${int(n)} on ${id}`).join(', ')}; ${int(fo.maxAttempts)}`,
    ],
  ]);
}

/** Catalog keys written per second (last_seen), from the etcd watch's count. */
function catalogKeys(o: FederationOutcome): number {
  return o.etcd.parts['catalog/hives']?.keysPerSecond ?? 0;
}

/** The verdicts in bold, then what the figures mean. */
function conclusion(o: FederationOutcome, single: QueenFigures): string {
  const s = o.settings;
  const g = goals(o);
  const v = verdicts(o);
  const f = o.federated;
  const fo = o.failover;
  return (
    `**etcd ${fixed(1)(o.etcd.revisionsPerSecond)} write transactions/s for ${fixed(1)(f.changesPerSecond)} ` +
    `changes/s and ${int(f.ackedPerSecond)} heartbeats/s (goal <= ${fixed(0)(g.etcdWritesPerSecond)}/s: ` +
    `${verdict(v.etcd)}); a change on the other queens p99 ${ms(f.others.p99Ms)} (goal <= ` +
    `${int(g.propagationMs)} ms: ${verdict(v.propagation)}); failover: every hive online on the survivors ` +
    `${after(worst(fo.survivors.map((sv) => sv.moversOnlineMs)))} after the kill (goal <= ${seconds(g.moveMs)}: ` +
    `${verdict(v.move)}), the stranded ones offline after ` +
    `${after(worst(fo.survivors.map((sv) => sv.strandedOfflineEventMs)))} (goal <= ${seconds(g.offlineMs)}: ` +
    `${verdict(v.offline)}).** Ticks never reach etcd: a queen writes a hive only when something watchers see ` +
    `changed, at most once a second, so etcd's write transactions follow the changes, not the heartbeats (the ` +
    `catalog's last_seen, ${fixed(1)(catalogKeys(o))} keys/s, goes in batches of up to 128 keys per ` +
    `transaction). A change reaches another queen through its owner's transaction and etcd's watch: p50 ` +
    `${ms(f.own.p50Ms)} on the owner's Watch, ${ms(f.inEtcd.p50Ms)} when an etcd watch gets the owner's write, ` +
    `${ms(f.others.p50Ms)} on the other queens' Watch; p99 ${ms(f.own.p99Ms)}, ${ms(f.inEtcd.p99Ms)}, ` +
    `${ms(f.others.p99Ms)}. The federation's share is the owner's transaction (etcd commits each with a WAL ` +
    `fsync, ${ms(o.etcd.walFsyncMeanMs)} on average here) and, on each other queen, the etcd watch's delivery ` +
    `and the mirror's apply (the column "after the etcd watch got the write", p50 ${ms(f.afterEtcd.p50Ms)}, p99 ` +
    `${ms(f.afterEtcd.p99Ms)}; the etcd watch runs in the watchers' process, so this split is approximate): ` +
    `both run on the queens' event loops and on etcd, which share the machine's cores with everything else. ` +
    `Each federated queen streams a third of the fleet but holds all of it (it mirrors the other queens' hives, ` +
    `and its Watch sees every change), so its RSS is ` +
    `${ratioRange(f.queens.map((q) => q.rssBytes / single.rssBytes))} x the single queen's and its CPU ` +
    `${ratioRange(f.queens.map((q) => q.cpuPercent / single.cpuPercent))} x: its CPU does not fall with its ` +
    `share of the streams, since besides its own heartbeats it mirrors the other queens' changes (etcd watch, ` +
    `decoding, registry and scheduling index), writes its own to etcd and sends every change to its Watch, and ` +
    `the load generator sends the ticks due every 20 ms together, so a federated queen reads them in batches a ` +
    `third the size. CPU figures and latency tails are from one run on a shared two-core machine where etcd, the ` +
    `queens, the load generators and other work compete for the cores (see the machine table and the load ` +
    `average). The ` +
    `reconnecting hives were taken over by a survivor as soon as their new stream opened (median ` +
    `${ms(fo.moveMedianMs)} after the kill; the agent's first backoff is under 250 ms), by etcd transaction, ` +
    `without waiting for the dead queen's lease, so they stayed online on the survivors throughout; only the ` +
    `stranded hives waited for the lease (${seconds(s.leaseTtlMs)}) to expire.`
  );
}

/** The federation section of BENCHMARKS.md (also what `run.js --only federation` prints). */
export function federationSection(o: FederationOutcome, index: number): string[] {
  const single = o.single.queens[0];
  if (single === undefined) throw new Error('no single queen figures');
  return [
    `## ${index}. ${title(o)}`,
    '',
    introduction(o),
    '',
    ...etcdTable(o),
    ...latencyTable(o),
    ...queensTable(o, single),
    ...failoverTable(o),
    conclusion(o, single),
    '',
  ];
}

/** The federation scenario in one line, for the printed summary. */
export function federationSummary(o: FederationOutcome): string {
  const g = goals(o);
  const v = verdicts(o);
  const f = o.federated;
  const single = o.single.queens[0]?.cpuPercent ?? Number.NaN;
  const moved = worst(o.failover.survivors.map((sv) => sv.moversOnlineMs));
  const offline = worst(o.failover.survivors.map((sv) => sv.strandedOfflineEventMs));
  return (
    `${title(o)}: etcd ${fixed(1)(o.etcd.revisionsPerSecond)} writes/s for ${fixed(1)(f.changesPerSecond)} changes/s ` +
    `(goal <= ${fixed(0)(g.etcdWritesPerSecond)}: ${verdict(v.etcd)}); change -> other queens' Watch p50 ` +
    `${ms(f.others.p50Ms)}, p99 ${ms(f.others.p99Ms)} (goal <= ${int(g.propagationMs)} ms: ${verdict(v.propagation)}), ` +
    `${int(f.missing)} missed; queen CPU ${f.queens.map((q) => pctOfCore(q.cpuPercent)).join(' / ')} vs ` +
    `${pctOfCore(single)} alone; failover: hives online on the survivors after ${after(moved)} (goal <= ` +
    `${seconds(g.moveMs)}: ${verdict(v.move)}), stranded offline after ${after(offline)} (goal <= ` +
    `${seconds(g.offlineMs)}: ${verdict(v.offline)})`
  );
}
