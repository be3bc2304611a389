import { readdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { PageObservation } from './dashboard-delivery.js';

/** Debian's chromium (`apt-get install chromium`); playwright-core drives it and never downloads a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Waits for a page to load, connect and draw: generous, as a shared machine may be busy with the fleet. */
const PAGE_TIMEOUT_MS = 30_000;
/** /proc times are in clock ticks: USER_HZ, 100 on every Linux architecture Node runs on. */
const MS_PER_CLOCK_TICK = 10;
/** Where each page keeps what its observer recorded. */
const RECORD = 'window.dashboardBenchObservations';

/**
 * The page script (a string: the bench compiles without the DOM's types): a MutationObserver on the workers table
 * that, whenever the row of `workerId` shows a `data-state` other than the last one recorded, records that state,
 * the revision in #summary (the same render writes it, before the rows) and Date.now(). It runs right after the
 * render that changed the DOM, before the browser paints it.
 */
function observerScript(workerId: string): string {
  return `(() => {
    const selector = ${JSON.stringify(`tr[data-worker-id="${workerId}"]`)};
    const summary = document.getElementById('summary');
    const record = [];
    let last = document.querySelector(selector)?.getAttribute('data-state') ?? '';
    new MutationObserver(() => {
      const atMs = Date.now();
      const state = document.querySelector(selector)?.getAttribute('data-state') ?? '';
      if (state === '' || state === last) return;
      last = state;
      const revision = /revision (\\d+)/.exec(summary?.textContent ?? '');
      record.push({ state, revision: revision === null ? -1 : Number(revision[1]), atMs });
    }).observe(document.getElementById('workers'), { subtree: true, childList: true, attributes: true });
    ${RECORD} = record;
  })()`;
}

function isObservation(value: unknown): value is PageObservation {
  if (typeof value !== 'object' || value === null) return false;
  const o = value as Record<string, unknown>;
  return typeof o['state'] === 'string' && typeof o['revision'] === 'number' && typeof o['atMs'] === 'number';
}

interface OpenPage {
  readonly page: Page;
  /** Script errors and console errors: any makes the measurement void. */
  readonly problems: string[];
}

/**
 * Dashboard pages in one headless chromium: each opened on the queen's HTTP listener, filtered to one model and
 * watching one worker's row.
 */
export class DashboardPages {
  private readonly open: OpenPage[] = [];

  private constructor(private readonly browser: Browser) {}

  static async launch(): Promise<DashboardPages> {
    return new DashboardPages(
      await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] }),
    );
  }

  get count(): number {
    return this.open.length;
  }

  /** Opens one more page on `url`, waits until it is live and draws `workerId` under `model`, and starts observing. */
  async add(url: string, model: string, workerId: string): Promise<void> {
    const page = await this.browser.newPage();
    const problems: string[] = [];
    this.open.push({ page, problems });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    try {
      await page.goto(url, { timeout: PAGE_TIMEOUT_MS });
      await page.waitForSelector('#connection[data-state="live"]', { timeout: PAGE_TIMEOUT_MS });
      // The model filter lists the models the page has seen: it is there once the snapshot is in.
      const option = `#filter-model option[value=${JSON.stringify(model)}]`;
      await page.waitForSelector(option, { state: 'attached', timeout: PAGE_TIMEOUT_MS });
      await page.selectOption('#filter-model', model);
      await page.waitForSelector(`tr[data-worker-id=${JSON.stringify(workerId)}]`, { timeout: PAGE_TIMEOUT_MS });
      await page.evaluate(observerScript(workerId));
    } catch (error) {
      const text = (id: string): string => `document.getElementById('${id}')?.textContent`;
      const shows = await page
        .evaluate(`${text('connection')} + ' · ' + ${text('summary')}`)
        .catch(() => 'nothing readable');
      const more = problems.length === 0 ? '' : `; page errors: ${problems.join('; ')}`;
      throw new Error(`dashboard: page ${this.open.length} (${url}) shows "${String(shows)}"${more}: ${String(error)}`);
    }
  }

  /** What every page's observer recorded so far, in the order the pages were opened; throws on a page error. */
  async observations(): Promise<PageObservation[][]> {
    const all: PageObservation[][] = [];
    for (const [index, { page, problems }] of this.open.entries()) {
      if (problems.length > 0) throw new Error(`dashboard: page ${index + 1} reported errors: ${problems.join('; ')}`);
      const recorded: unknown = await page.evaluate(RECORD);
      if (!Array.isArray(recorded) || !recorded.every(isObservation)) {
        throw new Error(`dashboard: page ${index + 1} has no observer record`);
      }
      all.push(recorded);
    }
    return all;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/**
 * CPU time (user + system, ms) used so far by this process's chromium descendants, from /proc: the browser, its
 * renderers and helpers. Only descendants, so another chromium on the machine is not counted; a helper that has
 * exited takes its time with it, so read it over windows in which the pages stay open.
 */
export function browserCpuMs(): number {
  const parents = new Map<number, number>();
  const stats = new Map<number, { comm: string; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ..." where comm may hold spaces or parentheses: split after the last ')'.
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    const pid = Number(name);
    parents.set(pid, Number(fields[1]));
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 after the comm.
    stats.set(pid, { comm: text.slice(text.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
  }
  const isDescendant = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === process.pid) return true;
    return false;
  };
  let ticks = 0;
  for (const [pid, { comm, ticks: used }] of stats) {
    if (comm.startsWith('chrom') && isDescendant(pid)) ticks += used;
  }
  return ticks * MS_PER_CLOCK_TICK;
}
