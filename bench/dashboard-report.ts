import type { PublishLatency } from './dashboard-delivery.js';
import type { DashboardComparison, DashboardOutcome, DashboardRun, DashboardSettings } from './dashboard-scenario.js';
import { fixed, int, mib, ms, pct } from './report-format.js';
import type { WatchWindow } from './watch-scenario.js';

/** The dashboard section's title, from its settings. */
function dashboardTitle(s: DashboardSettings): string {
  const every = s.tickEveryMs === 1_000 ? 'once a second' : `every ${s.tickEveryMs / 1_000} s`;
  const pages = s.pageCounts.map(int).join(' and ');
  return `Dashboard: a worker's state change on ${pages} pages, ${int(s.hives)} hives heartbeating ${every}`;
}

function pagesLabel(pages: number): string {
  return `${int(pages)} page${pages === 1 ? '' : 's'}`;
}

/**
 * "met" when every run's p99 is within the target. A missed change is not counted against it: the page drew the
 * worker's next state instead, which is what an operator sees of a state that lasted less than a render or two.
 */
function verdict(c: DashboardComparison): string {
  return c.runs.every((r) => r.delivery.latencyP99Ms <= c.settings.targetMs) ? 'met' : 'not met';
}

function description(c: DashboardComparison): string {
  const s = c.settings;
  return (
    `One queen (production defaults, catalog in memory, HTTP listener on 127.0.0.1 for the dashboard). A filler ` +
    `process keeps ${int(s.hives)} hives online (${int(s.hives * 8)} workers; one full snapshot per hive, then a ` +
    `liveness tick per hive every ${s.tickEveryMs / 1_000} s; ${int(c.fillMs)} ms to fill). A changer process ` +
    `drives one more hive and flips its worker \`${c.workerId}\` between IDLE and BUSY ${s.changesPerSecond} ` +
    `times a second (a full snapshot each). The bench process follows that hive with its own Watch call ` +
    `(\`RegistryClient.watchEvents\`, filtered to the hive): the wall-clock time (\`Date.now()\`) each change ` +
    `arrives there is its publication time. Debian's chromium (headless, driven by playwright-core) opens the ` +
    `dashboard (\`GET /\`, then the \`/api/events\` feed, whose snapshot holds the whole fleet) and filters it to ` +
    `\`${c.model}\`, the changing worker's model, so it draws ${int(c.rowsDrawn)} worker rows (it draws at most ` +
    `1,000), the changing one among them. A MutationObserver in each page records \`Date.now()\` whenever that ` +
    `row shows a new \`data-state\`, with the revision the page had applied (read from its summary line, written ` +
    `by the same render); the change shown is the last one published at or before that revision. Latency is page ` +
    `time - publication time, both on this machine's wall clock (millisecond resolution): when the DOM was ` +
    `updated (the paint follows within a frame); it can be slightly negative when a page's feed is served before ` +
    `the bench's Watch call. A change is missed on a page that never showed it (it drew a later state first). ` +
    `Window 0 (${s.measureMs / 1_000} s, after ${s.warmupMs / 1_000} s of warm-up) runs with no page; then pages ` +
    `are opened one after the other until ${s.pageCounts.map(int).join(', then ')} are open, and ` +
    `${s.settleMs / 1_000} s after the last one drew the row a window of ${s.measureMs / 1_000} s runs with them. ` +
    `Latency is over every change sent inside a window, on every page open during it; the pages' records are ` +
    `read ${s.graceMs / 1_000} s after the last window. One run per bench run.`
  );
}

/** Section 6 of BENCHMARKS.md (also what `run.js --only dashboard` prints). */
export function dashboardSection(outcome: DashboardOutcome, cores: number): string[] {
  const lines = [`## 6. ${dashboardTitle(outcome.settings)}`, ''];
  if (outcome.kind === 'skipped') {
    lines.push(`**Skipped: ${outcome.reason}.** The rest of the bench ran as usual.`, '');
    return lines;
  }
  const c = outcome;
  const target = c.settings.targetMs;
  const runs = c.runs;
  const header = (first: string, labels: readonly string[]): void => {
    lines.push(`| ${first} | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---:').join('|')}|`);
  };
  lines.push(description(c), '');
  header('change published -> page shows it', runs.map((r) => pagesLabel(r.pages)));
  const runRow = (figure: string, pick: (r: DashboardRun) => string): void => {
    lines.push(`| ${figure} | ${runs.map(pick).join(' | ')} |`);
  };
  runRow('changes sent inside the window', (r) => int(r.delivery.expected));
  runRow('(change, page) pairs shown', (r) => int(r.delivery.samples));
  runRow('(change, page) pairs missed; pages missing one', (r) => `${r.delivery.missed}; ${r.delivery.pagesMissing}`);
  runRow('p50', (r) => ms(r.delivery.latencyP50Ms));
  runRow(`p99 (target <= ${int(target)} ms: ${verdict(c)})`, (r) => ms(r.delivery.latencyP99Ms));
  runRow('max', (r) => ms(r.delivery.latencyMaxMs));
  runRow('min', (r) => ms(r.delivery.latencyMinMs));
  runRow('time to open the new pages until each drew the row', (r) => `${int(r.openMs)} ms`);
  lines.push('');

  const windows: { label: string; window: WatchWindow; publish: PublishLatency; browserCpuPercent?: number }[] = [
    { label: 'no page', window: c.without, publish: c.withoutPublish },
    ...runs.map((r) => ({ ...r, label: pagesLabel(r.pages) })),
  ];
  header('figure', windows.map((w) => w.label));
  const row = (figure: string, pick: (w: (typeof windows)[number]) => string): void => {
    lines.push(`| ${figure} | ${windows.map(pick).join(' | ')} |`);
  };
  row('queen CPU, % of one core', (w) => `${fixed(1)(w.window.serverCpuPercent)} %`);
  row('queen CPU / no page', (w) => fixed(2)(w.window.serverCpuPercent / c.without.serverCpuPercent));
  row('fleet heartbeats acked/s', (w) => int(w.window.heartbeatsPerSecond));
  row('changes sent/s', (w) => fixed(1)(w.window.changesPerSecond));
  row('queen RSS at the end', (w) => mib(w.window.serverRssBytes));
  const browserCpu = (w: (typeof windows)[number]): string =>
    w.browserCpuPercent === undefined ? '-' : pct(w.browserCpuPercent);
  row('browser CPU (all its processes), % of one core', browserCpu);
  row(`machine CPU busy, % of ${cores} cores`, (w) => pct(w.window.machineBusyPercent));
  row('reference: sent -> bench Watch call, p50 / p99', (w) => `${ms(w.publish.p50Ms)} / ${ms(w.publish.p99Ms)}`);
  const last = runs[runs.length - 1];
  const missed = runs.reduce((sum, r) => sum + r.delivery.missed, 0);
  lines.push(
    '',
    `**p99 within ${int(target)} ms: ${verdict(c)}.** ` +
      (missed === 0
        ? 'Every page showed every change. '
        : `${int(missed)} (change, page) ${missed === 1 ? 'pair was' : 'pairs were'} never drawn: the worker's ` +
          `state lasted ${int(1_000 / c.settings.changesPerSecond)} ms and the page, busy, drew the next one first. `) +
      (last === undefined
        ? ''
        : `Each page is one more feed for the queen (every Watch event and, every second, the details of every ` +
          `hive whose heartbeat age or load changed: all of them here); its CPU was ` +
          `${fixed(1)(last.window.serverCpuPercent)} % of one core with ${pagesLabel(last.pages)} against ` +
          `${fixed(1)(c.without.serverCpuPercent)} % with none, where a point or so either way is noise on this ` +
          `shared machine (a gc, or the queen still warming up, landing in one window). `) +
      `The browser shares this machine's ${cores} cores with the queen, the filler and the changer (see the browser ` +
      `and machine CPU rows), so page latency here includes waiting for a core. The queen serves /metrics and the ` +
      `dashboard in this section, so its CPU is not comparable with section 5's.`,
    '',
  );
  return lines;
}

/** The dashboard scenario in one line, for the printed summary. */
export function dashboardSummary(outcome: DashboardOutcome): string {
  const title = dashboardTitle(outcome.settings);
  if (outcome.kind === 'skipped') return `${title}: skipped: ${outcome.reason}`;
  const c = outcome;
  const runs = c.runs.map(
    (r) =>
      `${pagesLabel(r.pages)} p50 ${ms(r.delivery.latencyP50Ms)}, p99 ${ms(r.delivery.latencyP99Ms)}, max ` +
      `${ms(r.delivery.latencyMaxMs)}, ${r.delivery.missed} missed`,
  );
  const cpu = [c.without, ...c.runs.map((r) => r.window)].map((w) => `${fixed(1)(w.serverCpuPercent)} %`);
  const pageCounts = ['no page', ...c.runs.map((r) => pagesLabel(r.pages))];
  return (
    `${title}: published -> page latency ${runs.join('; ')} (target <= ${int(c.settings.targetMs)} ms: ` +
    `${verdict(c)}); queen CPU ${cpu.join(' / ')} of one core with ${pageCounts.join(' / ')}`
  );
}
