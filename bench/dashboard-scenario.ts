import { existsSync } from 'node:fs';
import type { BenchChild } from './bench-child.js';
import {
  dashboardDelivery,
  publishLatency,
  type DashboardDelivery,
  type PublishLatency,
} from './dashboard-delivery.js';
import { browserCpuMs, CHROMIUM, DashboardPages } from './dashboard-pages.js';
import { PublishedChanges } from './dashboard-published.js';
import { hiveId, WORKERS_PER_HIVE, wireWorker, workerId } from './fleet.js';
import { startServer } from './network-scenarios.js';
import { monotonicMs } from './protocol.js';
import { sleep } from './stats.js';
import {
  LIFETIME_MS,
  measureWindow,
  READY_TIMEOUT_MS,
  startChild,
  startFleet,
  type WatchWindow,
} from './watch-scenario.js';

/**
 * "The dashboard shows a worker's state change within a second". One queen with its HTTP listener (catalog in
 * memory); a filler keeps the watch scenario's fleet online (1,000 hives, a liveness tick per hive per second); a
 * changer (its own hive, outside the fleet's ids) flips one worker between IDLE and BUSY at a steady rate. The
 * bench process follows that hive with its own Watch call: the wall time each change arrives there is when it was
 * published. Window 0 runs with no page open; then chromium opens pages on the queen's dashboard, each filtered to
 * the changing worker's model so its row is drawn, and each window runs with more pages open. Every page records
 * (MutationObserver, Date.now()) when the row shows each new state; after the last window the records are read and
 * matched to the changes sent inside each window. Queen CPU is measured per window as in the watch scenario.
 */

/** The scenario's knobs (run.ts sets them). */
export interface DashboardSettings {
  readonly hives: number;
  readonly tickEveryMs: number;
  readonly streamsPerConnection: number;
  /** The changer's hive index: beyond the fleet's, so no id is shared. Its worker 0 is the one that flips. */
  readonly changerHive: number;
  readonly changesPerSecond: number;
  /** Pages open in each measured window after window 0 (no page), increasing. */
  readonly pageCounts: readonly number[];
  /** Before window 0, after the fill. */
  readonly warmupMs: number;
  /** After the pages of a window are open and drawing, before it starts. */
  readonly settleMs: number;
  readonly measureMs: number;
  /** After the last window, before the pages' records are read: the last changes' time to be drawn. */
  readonly graceMs: number;
  /** The target: p99 page time - publication time at most this, in ms, and no change missed. */
  readonly targetMs: number;
}

/** One window with `pages` pages open. */
export interface DashboardRun {
  readonly pages: number;
  /** From asking for this window's new pages until each was live and drew the changing row. */
  readonly openMs: number;
  readonly window: WatchWindow;
  /** The browser's processes over the window, in % of one core. */
  readonly browserCpuPercent: number;
  readonly delivery: DashboardDelivery;
  readonly publish: PublishLatency;
}

export interface DashboardComparison {
  readonly kind: 'measured';
  readonly settings: DashboardSettings;
  /** The pages' model filter, the worker rows it leaves (the fleet's and the changer's), and the row watched. */
  readonly model: string;
  readonly rowsDrawn: number;
  readonly workerId: string;
  /** Time until every fleet hive's snapshot was acked. */
  readonly fillMs: number;
  readonly without: WatchWindow;
  readonly withoutPublish: PublishLatency;
  readonly runs: readonly DashboardRun[];
}

/** What the part says when it cannot run: no browser on this machine. */
export interface DashboardSkipped {
  readonly kind: 'skipped';
  readonly settings: DashboardSettings;
  readonly reason: string;
}

export type DashboardOutcome = DashboardComparison | DashboardSkipped;

/** How many workers of the fleet (hives 0 to `hives` - 1) and of the changer's hive carry `model`. */
function workersWithModel(hives: number, changerHive: number, model: string): number {
  let count = 0;
  for (const i of [...Array.from({ length: hives }, (_, n) => n), changerHive]) {
    for (let j = 0; j < WORKERS_PER_HIVE; j++) if (wireWorker(i, j).modelId === model) count++;
  }
  return count;
}

/** Why the part is skipped on this machine, or undefined when it can run. */
export function dashboardSkipReason(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (apt-get install chromium)`;
}

/** The scenario: window 0 without pages, then one window per page count; every child and the browser stopped. */
export async function dashboardRun(settings: DashboardSettings): Promise<DashboardOutcome> {
  const s = settings;
  const reason = dashboardSkipReason();
  if (reason !== undefined) return { kind: 'skipped', settings, reason };
  const server = await startServer('queen', ':memory:', '127.0.0.1:0');
  const children: BenchChild[] = [];
  let published: PublishedChanges | undefined;
  let pages: DashboardPages | undefined;
  try {
    if (server.httpPort === undefined) throw new Error('dashboard: the queen did not report its HTTP port');
    const { filler, fillMs } = await startFleet(children, 'dashboard fleet filler', server.address, s);
    const watched = workerId(s.changerHive, 0);
    // Opened before the changer starts, so it receives the changer's very first change.
    published = await PublishedChanges.start(server.address, hiveId(s.changerHive), watched);
    const changer = startChild(children, 'dashboard changer', 'watch-main.js', {
      mode: 'change',
      address: server.address,
      firstHive: s.changerHive,
      hives: 1,
      changesPerSecond: s.changesPerSecond,
      changes: 'flip',
      maxLifetimeMs: LIFETIME_MS,
    });
    await changer.next('ready', READY_TIMEOUT_MS);

    await sleep(s.warmupMs);
    const without = await measureWindow(server, filler, changer, s.measureMs);
    pages = await DashboardPages.launch();
    // About 7/12 of the fleet's hives have one worker with the changing worker's model (fleet.ts): filtered to it,
    // a page draws that many worker rows, the changing one among them, well under the 1,000 it draws at most.
    const model = wireWorker(s.changerHive, 0).modelId ?? '';
    const url = `http://127.0.0.1:${server.httpPort}/`;
    const measured: Omit<DashboardRun, 'delivery' | 'publish'>[] = [];
    const expected: string[][] = [];
    for (const count of s.pageCounts) {
      const openStart = monotonicMs();
      // One at a time: pages loading their snapshots together starve each other (and playwright's waits) of CPU.
      while (pages.count < count) await pages.add(url, model, watched);
      const openMs = monotonicMs() - openStart;
      await sleep(s.settleMs);
      const [browserStart, fromMs] = [browserCpuMs(), monotonicMs()];
      const run = await measureWindow(server, filler, changer, s.measureMs);
      const browserCpuPercent = (100 * (browserCpuMs() - browserStart)) / (monotonicMs() - fromMs);
      measured.push({ pages: count, openMs, window: run.window, browserCpuPercent });
      expected.push(run.expected);
    }
    await sleep(s.graceMs);
    const observations = await pages.observations();
    const changes = published;
    const runs = measured.map((run, index): DashboardRun => {
      const keys = expected[index] ?? [];
      const delivery = dashboardDelivery(keys, changes, observations.slice(0, run.pages));
      return { ...run, delivery, publish: publishLatency(keys, changes) };
    });
    return {
      kind: 'measured',
      settings,
      model,
      rowsDrawn: workersWithModel(s.hives, s.changerHive, model),
      workerId: watched,
      fillMs,
      without: without.window,
      withoutPublish: publishLatency(without.expected, changes),
      runs,
    };
  } finally {
    await pages?.close();
    published?.close();
    for (const child of children.reverse()) await child.stop();
    await server.child.stop();
  }
}
