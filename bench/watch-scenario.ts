import { BenchChild } from './bench-child.js';
import { fillerAcks } from './catalog-scenario.js';
import { machineCpu, serverStats, startServer, type RunningServer } from './network-scenarios.js';
import { monotonicMs, type LoadSpec, type ProcessStats } from './protocol.js';
import { sleep } from './stats.js';
import type { ChangerSpec, WatchChildSpec, WatchReport, WatcherSpec } from './watch-protocol.js';

/**
 * "100 watchers receive a change within 50 ms p99 while 1,000 hives heartbeat once a second". One queen (catalog
 * in memory); a filler keeps the fleet online (one snapshot per hive, then a liveness tick per hive per second); a
 * changer (its own hives, outside the fleet's ids) sends real changes at a steady rate, each marking the changed
 * worker's last_heartbeat with its send time on the monotonic clock. Window 1: no watchers. Then the watchers
 * connect (every call a snapshot, then live events); window 2: the same load, with them. In both: heartbeats
 * acked, server CPU. In window 2 also: for every change sent inside it, whether every watcher received it, and
 * receive time - marker. Every child is its own process on 127.0.0.1.
 */

/** The scenario's knobs (run.ts sets them). */
export interface WatchSettings {
  readonly hives: number;
  readonly tickEveryMs: number;
  readonly streamsPerConnection: number;
  readonly changerHives: number;
  /** The changer's first hive index: beyond the fleet's, so no id is shared. */
  readonly changerFirstHive: number;
  readonly changesPerSecond: number;
  readonly watchers: number;
  readonly watchersPerConnection: number;
  /** Before window 1, after the fill. */
  readonly warmupMs: number;
  /**
   * Before window 2, after the last watcher synced: the queen has just encoded and sent every watcher's snapshot
   * (about 9,000 events each) and its heap has grown with it; this lets that settle.
   */
  readonly settleMs: number;
  readonly measureMs: number;
  /** The latency target: p99 receive time - marker at most this, in ms. Reported as met or not. */
  readonly targetP99Ms: number;
}

/** One measured window. */
export interface WatchWindow {
  /** Heartbeats (fleet liveness ticks) acked per second, counted by the filler over its own window. */
  readonly heartbeatsPerSecond: number;
  /** Changes the changer sent per second over the window (markers inside it). */
  readonly changesPerSecond: number;
  /** Server CPU over the window, in % of one core, and per acked heartbeat. */
  readonly serverCpuPercent: number;
  readonly serverCpuUsPerHeartbeat: number;
  /** The whole machine's CPU use over the window, in % of all its cores (others' load included). */
  readonly machineBusyPercent: number;
  /** Server memory at the end of the window. */
  readonly serverRssBytes: number;
  readonly serverHeapUsedBytes: number;
}

export interface WatchComparison {
  readonly settings: WatchSettings;
  /** Time until every fleet hive's snapshot was acked. */
  readonly fillMs: number;
  /** Time from the watchers' start until every one had its snapshot and SYNCED, and the snapshot's size. */
  readonly syncMs: number;
  readonly snapshotEvents: number;
  readonly without: WatchWindow;
  readonly with: WatchWindow;
  /** The watchers' process CPU over window 2, in % of one core. */
  readonly watcherCpuPercent: number;
  /** Completeness and latency over the changes sent inside window 2. */
  readonly delivery: WatchReport;
}

const FILL_TIMEOUT_MS = 40_000;
/** How long a changer may take to say 'ready'. */
export const READY_TIMEOUT_MS = 15_000;
const SYNC_TIMEOUT_MS = 70_000;
const ANSWER_TIMEOUT_MS = 5_000;
/** Every child exits on its own after this long (below the children's own 120 s cap). */
export const LIFETIME_MS = 110_000;
/** After window 2, how long the watchers may still take to receive the changes sent inside it. */
export const DELIVERY_DEADLINE_MS = 5_000;

async function childStats(child: BenchChild): Promise<ProcessStats> {
  child.send('stats');
  return (await child.next('stats', ANSWER_TIMEOUT_MS))['stats'] as ProcessStats;
}

/** Starts a benchmark child with `spec` as its argument, adding it to `children` (which the scenario stops). */
export function startChild(
  children: BenchChild[],
  name: string,
  script: string,
  spec: LoadSpec | WatchChildSpec,
): BenchChild {
  const child = new BenchChild(name, script, [JSON.stringify(spec)]);
  children.push(child);
  return child;
}

/**
 * Starts a filler (added to `children`) that keeps the settings' fleet online against `address`: one snapshot per
 * hive, then a tick per hive every `tickEveryMs`. Resolves once every snapshot was acked, with the time that took.
 */
export async function startFleet(
  children: BenchChild[],
  name: string,
  address: string,
  s: Pick<WatchSettings, 'hives' | 'tickEveryMs' | 'streamsPerConnection'>,
): Promise<{ filler: BenchChild; fillMs: number }> {
  const filler = startChild(children, name, 'load-main.js', {
    mode: 'fill',
    address,
    hives: s.hives,
    streamsPerConnection: s.streamsPerConnection,
    tickEveryMs: s.tickEveryMs,
    maxLifetimeMs: LIFETIME_MS,
  });
  const filled = await filler.next('filled', FILL_TIMEOUT_MS);
  return { filler, fillMs: Number(filled['elapsedMs']) };
}

/** The changes the changer sent with a marker inside [fromMs, toMs); throws if any heartbeat was rejected. */
async function changerMarkers(changer: BenchChild, fromMs: number, toMs: number): Promise<string[]> {
  changer.send(`markers ${fromMs} ${toMs}`);
  const answer = await changer.next('markers', ANSWER_TIMEOUT_MS);
  if (Number(answer['rejected']) > 0) {
    const first = String(answer['firstRejection']);
    throw new Error(`changer: ${String(answer['rejected'])} changes rejected, first: ${first}`);
  }
  return answer['keys'] as string[];
}

/**
 * One window: the filler's acks, the server's CPU and the changes sent (their marker keys), all over `measureMs`.
 * The dashboard scenario measures its windows with it too.
 */
export async function measureWindow(
  server: RunningServer,
  filler: BenchChild,
  changer: BenchChild,
  measureMs: number,
): Promise<{ window: WatchWindow; expected: string[] }> {
  const fromMs = monotonicMs();
  const [serverStart, acksStart] = await Promise.all([serverStats(server), fillerAcks(filler)]);
  const machineStart = machineCpu();
  await sleep(measureMs);
  const [serverEnd, acksEnd] = await Promise.all([serverStats(server), fillerAcks(filler)]);
  const machineEnd = machineCpu();
  const toMs = monotonicMs();
  if (acksEnd.rejected > 0) throw new Error(`watch: ${acksEnd.rejected} fleet heartbeats were not accepted`);
  const expected = await changerMarkers(changer, fromMs, toMs);

  const serverCpuUs = serverEnd.cpuUserUs + serverEnd.cpuSystemUs - serverStart.cpuUserUs - serverStart.cpuSystemUs;
  const serverCpuPercent = serverCpuUs / 10 / (serverEnd.atMs - serverStart.atMs);
  const heartbeatsPerSecond = ((acksEnd.acks - acksStart.acks) * 1_000) / (acksEnd.atMs - acksStart.atMs);
  const window: WatchWindow = {
    heartbeatsPerSecond,
    changesPerSecond: (expected.length * 1_000) / (toMs - fromMs),
    serverCpuPercent,
    serverCpuUsPerHeartbeat: (serverCpuPercent * 10_000) / heartbeatsPerSecond,
    machineBusyPercent: (100 * (machineEnd.busy - machineStart.busy)) / (machineEnd.total - machineStart.total),
    serverRssBytes: serverEnd.rssBytes,
    serverHeapUsedBytes: serverEnd.heapUsedBytes,
  };
  return { window, expected };
}

/** Asks the watchers about `expected` until every one has every change or the deadline passes. */
async function delivery(watchers: BenchChild, expected: readonly string[]): Promise<WatchReport> {
  const deadline = monotonicMs() + DELIVERY_DEADLINE_MS;
  for (;;) {
    watchers.send(`report ${JSON.stringify({ expected })}`);
    const report = (await watchers.next('report', ANSWER_TIMEOUT_MS))['report'] as WatchReport;
    if (report.missing === 0 || monotonicMs() >= deadline) return report;
    await sleep(250);
  }
}

/** Throws, naming what is wrong, unless every watcher received every change once, in revision order. */
function checkDelivery(report: WatchReport): void {
  const problems: string[] = [];
  if (report.expected === 0) problems.push('the changer sent no change inside the window');
  if (report.missing > 0) {
    problems.push(
      `${report.watchersMissing} of ${report.watchers} watchers missed changes (${report.missing} missing in all, ` +
        `${report.expected} expected each, ${DELIVERY_DEADLINE_MS} ms after the window; ${report.firstMissing ?? '?'})`,
    );
  }
  if (report.duplicates > 0) problems.push(`${report.duplicates} changes received twice by one watcher`);
  if (report.revisionGaps > 0) problems.push(`${report.revisionGaps} revision gaps (${report.firstGap ?? '?'})`);
  if (problems.length > 0) throw new Error(`watch: ${problems.join('; ')}`);
}

/** The scenario: window 1 without watchers, window 2 with them; every child stopped on the way out. */
export async function watchRun(settings: WatchSettings): Promise<WatchComparison> {
  const s = settings;
  const server = await startServer('queen');
  const children: BenchChild[] = [];
  try {
    const { filler, fillMs } = await startFleet(children, 'watch fleet filler', server.address, s);
    const changerSpec: ChangerSpec = {
      mode: 'change',
      address: server.address,
      firstHive: s.changerFirstHive,
      hives: s.changerHives,
      changesPerSecond: s.changesPerSecond,
      maxLifetimeMs: LIFETIME_MS,
    };
    const changer = startChild(children, 'watch changer', 'watch-main.js', changerSpec);
    await changer.next('ready', READY_TIMEOUT_MS);

    await sleep(s.warmupMs);
    const without = await measureWindow(server, filler, changer, s.measureMs);

    const watcherSpec: WatcherSpec = {
      mode: 'watch',
      address: server.address,
      watchers: s.watchers,
      watchersPerConnection: s.watchersPerConnection,
      changerFirstHive: s.changerFirstHive,
      changerHives: s.changerHives,
      maxLifetimeMs: LIFETIME_MS,
    };
    const watchers = startChild(children, 'watchers', 'watch-main.js', watcherSpec);
    const synced = await watchers.next('synced', SYNC_TIMEOUT_MS);
    await sleep(s.settleMs);
    const watcherStart = await childStats(watchers);
    const withWatchers = await measureWindow(server, filler, changer, s.measureMs);
    const watcherEnd = await childStats(watchers);
    const report = await delivery(watchers, withWatchers.expected);
    checkDelivery(report);

    const watcherCpuUs =
      watcherEnd.cpuUserUs + watcherEnd.cpuSystemUs - watcherStart.cpuUserUs - watcherStart.cpuSystemUs;
    return {
      settings,
      fillMs,
      syncMs: Number(synced['elapsedMs']),
      snapshotEvents: Number(synced['snapshotEvents']),
      without: without.window,
      with: withWatchers.window,
      watcherCpuPercent: watcherCpuUs / 10 / (watcherEnd.atMs - watcherStart.atMs),
      delivery: report,
    };
  } finally {
    for (const child of children.reverse()) await child.stop();
    await server.child.stop();
  }
}
