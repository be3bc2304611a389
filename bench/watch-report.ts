import { fixed, int, mib, ms, pct, usec } from './report-format.js';
import { DELIVERY_DEADLINE_MS, type WatchComparison, type WatchWindow } from './watch-scenario.js';

/** The watch section's title, from its settings. */
function watchTitle(c: WatchComparison): string {
  const s = c.settings;
  const every = s.tickEveryMs === 1_000 ? 'once a second' : `every ${s.tickEveryMs / 1_000} s`;
  return `Watch: ${int(s.watchers)} watchers, ${int(s.hives)} hives heartbeating ${every}`;
}

/** "met" or "not met", from the measured p99 and the settings' target. */
function verdict(c: WatchComparison): string {
  return c.delivery.latencyP99Ms <= c.settings.targetP99Ms ? 'met' : 'not met';
}

/** Section 5 of BENCHMARKS.md (also what `run.js --only watch` prints). */
export function watchSection(c: WatchComparison, cores: number): string[] {
  const s = c.settings;
  const d = c.delivery;
  const lines = [`## 5. ${watchTitle(c)}`, ''];
  lines.push(
    `One queen (production defaults, catalog in memory). A filler process keeps ${int(s.hives)} hives online over ` +
      `${int(s.hives / s.streamsPerConnection)} connections (${s.streamsPerConnection} streams each): one full ` +
      `snapshot per hive, then a liveness tick per hive every ${s.tickEveryMs / 1_000} s, spread evenly. A changer ` +
      `process drives ${s.changerHives} more hives (their own ids) and sends ${s.changesPerSecond} full snapshots ` +
      `per second in all, each changing one worker's state or gpu_percent and setting its \`last_heartbeat\` to the ` +
      `send time on CLOCK_MONOTONIC (\`process.hrtime\`, the same clock in every process of the machine), so a ` +
      `watcher's latency is its own receive time minus that marker, with no clock to synchronise. Window 1 ` +
      `(${s.measureMs / 1_000} s, after ${s.warmupMs / 1_000} s of warm-up) runs without watchers. Then a third ` +
      `process opens ${int(s.watchers)} Watch calls from revision 0 (${s.watchersPerConnection} per connection, ` +
      `no filter); each reads its snapshot (${int(c.snapshotEvents)} events) until SYNCED, and every one was ` +
      `synced ${int(c.syncMs)} ms after the first call opened. After ${s.settleMs / 1_000} s more, window 2 ` +
      `(${s.measureMs / 1_000} s) runs the same load with the watchers. Latency is over every change sent inside ` +
      `window 2, as received by every watcher. The bench fails when a watcher misses a change (within ` +
      `${DELIVERY_DEADLINE_MS / 1_000} s of the window's end), receives one twice, sees a revision gap, or its ` +
      `stream ends.`,
    '',
    '| latency, change sent -> watcher received | value |',
    '|---|---:|',
    `| changes sent/s | ${fixed(1)(c.with.changesPerSecond)} |`,
    `| changes each watcher had to receive | ${int(d.expected)} |`,
    `| received per watcher, fewest / most | ${int(d.receivedMin)} / ${int(d.receivedMax)} |`,
    `| watchers that missed a change | ${int(d.watchersMissing)} of ${int(d.watchers)} |`,
    `| samples (changes x watchers) | ${int(d.samples)} |`,
    `| p50 | ${ms(d.latencyP50Ms)} |`,
    `| p99 (target <= ${int(s.targetP99Ms)} ms: ${verdict(c)}) | ${ms(d.latencyP99Ms)} |`,
    `| max | ${ms(d.latencyMaxMs)} |`,
    `| watchers' process CPU, % of one core | ${pct(c.watcherCpuPercent)} |`,
    `| before: snapshot events per watcher; time until all synced | ${int(c.snapshotEvents)}; ${int(c.syncMs)} ms |`,
    '',
    `| figure | without watchers | with ${int(s.watchers)} watchers | with / without |`,
    '|---|---:|---:|---:|',
  );
  const row = (figure: string, pick: (w: WatchWindow) => number, format: (v: number) => string): void => {
    const [without, withWatchers] = [pick(c.without), pick(c.with)];
    lines.push(`| ${figure} | ${format(without)} | ${format(withWatchers)} | ${fixed(2)(withWatchers / without)} |`);
  };
  row('fleet heartbeats acked/s', (w) => w.heartbeatsPerSecond, int);
  row('changes sent/s', (w) => w.changesPerSecond, fixed(1));
  row('server CPU, % of one core', (w) => w.serverCpuPercent, (v) => `${fixed(1)(v)} %`);
  row('server CPU per fleet heartbeat', (w) => w.serverCpuUsPerHeartbeat, usec);
  row('server RSS at the end', (w) => w.serverRssBytes, mib);
  row('server heap used at the end', (w) => w.serverHeapUsedBytes, mib);
  row(`machine CPU busy, % of ${cores} cores`, (w) => w.machineBusyPercent, pct);
  const cpuRatio = c.with.serverCpuPercent / c.without.serverCpuPercent;
  lines.push(
    '',
    `**p99 ${ms(d.latencyP99Ms)}: the target (<= ${int(s.targetP99Ms)} ms) is ${verdict(c)}.** ` +
      (d.missing === 0
        ? `Every watcher received all ${int(d.expected)} changes. `
        : `${int(d.watchersMissing)} watchers missed ${int(d.missing)} changes in all. `) +
      `The fleet's heartbeats are sent at a fixed rate, so heartbeats/s only drops when the queen cannot keep up; ` +
      `server CPU with / without watchers (${fixed(2)(cpuRatio)}) is what fanning ` +
      `${fixed(1)(c.with.changesPerSecond)} changes/s out to ${int(s.watchers)} watchers costs. The watchers' ` +
      `process shares this machine's cores with the queen (see the machine CPU row). Memory is read without ` +
      `forcing a gc, so after the watchers' snapshots it includes garbage V8 has not collected yet. One run per ` +
      `bench run.`,
    '',
  );
  return lines;
}

/** The watch scenario in one line, for the printed summary. */
export function watchSummary(c: WatchComparison): string {
  const d = c.delivery;
  const ratio = (pick: (w: WatchWindow) => number): string => fixed(2)(pick(c.with) / pick(c.without));
  return (
    `${watchTitle(c)}: change -> watcher latency p50 ${ms(d.latencyP50Ms)}, p99 ${ms(d.latencyP99Ms)} ` +
    `(target <= ${int(c.settings.targetP99Ms)} ms: ${verdict(c)}), max ${ms(d.latencyMaxMs)}; ` +
    `${d.receivedMin} of ${d.expected} changes received by every watcher ` +
    `(${fixed(1)(c.with.changesPerSecond)}/s); heartbeats/s ${int(c.without.heartbeatsPerSecond)} without vs ` +
    `${int(c.with.heartbeatsPerSecond)} with watchers (${ratio((w) => w.heartbeatsPerSecond)}), server CPU ` +
    `${fixed(1)(c.without.serverCpuPercent)} % vs ${fixed(1)(c.with.serverCpuPercent)} % of one core ` +
    `(${ratio((w) => w.serverCpuPercent)})`
  );
}
