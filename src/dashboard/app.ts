// The dashboard page: follows the queen's live feed (server-sent events carrying the Watch stream and details),
// renders hives and workers with filters, and asks the scheduler for the best worker for a model.
import { BEST_COLUMNS, bestRow, type RankedWorkerJson } from './best-row.js';
import { bar, el, syncRows } from './dom.js';
import { FleetState, type DetailsJson, type Filter, type HiveRow, type WatchEventJson } from './fleet-state.js';
import { formatAge, formatBytes, share } from './format.js';
import { workerRow } from './worker-row.js';

/** Shortest time between two draws, in ms: well inside the one second a change must take to show. */
const MIN_RENDER_GAP_MS = 50;
/** Most worker rows drawn at once: beyond, the page asks for a narrower filter. */
const MAX_WORKER_ROWS = 1_000;
/** Details come every second: this long without any message means the stream is stuck, so it is reopened. */
const SILENCE_MS = 5_000;
/** Waits between attempts to reopen a stream the browser gave up on, in ms. */
const RETRY_MS = [1_000, 2_000, 5_000];

const state = new FleetState();
let source: EventSource | undefined;
let lastMessageAt = Date.now();
let failures = 0;
let renderQueued = false;
/** The fleet changed since the last draw (ages alone do not count: they are updated in place). */
let dirty = true;
/** Some worker drawn is excluded after failures: its countdown needs a redraw every second. */
let countdowns = false;
let lastRenderAt = 0;
let lastRenderCostMs = 0;
/** Age cells of the hive rows drawn, by hive id, with the heartbeat time each counts from. */
const ageCells = new Map<string, { cell: HTMLElement; sinceMs: number | undefined }>();

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

function setConnection(status: 'live' | 'connecting' | 'disconnected', text: string): void {
  // The tables dim while disconnected: what they show is as of the last event received.
  document.body.dataset.connection = status;
  const badge = byId('connection');
  badge.dataset.state = status;
  badge.textContent = text;
}

/**
 * Opens the feed. EventSource reconnects by itself after a dropped connection, sending Last-Event-ID; when it gives
 * up (an error answer, say during a queen restart), a new one is opened with `since`, so the page resumes from the
 * last revision it holds whole either way, without a reload.
 */
function connect(): void {
  source?.close();
  const since = state.synced && state.epoch !== '' ? `?since=${encodeURIComponent(`${state.epoch}:${state.revision}`)}` : '';
  const events = new EventSource(`/api/events${since}`);
  source = events;
  lastMessageAt = Date.now();
  events.addEventListener('open', () => {
    failures = 0;
    state.resetDetails();
    setConnection('live', 'live');
  });
  events.addEventListener('watch', (message) => {
    lastMessageAt = Date.now();
    state.applyWatch(JSON.parse((message as MessageEvent<string>).data) as WatchEventJson);
    queueRender();
  });
  events.addEventListener('details', (message) => {
    lastMessageAt = Date.now();
    state.applyDetails(JSON.parse((message as MessageEvent<string>).data) as DetailsJson, Date.now());
    queueRender();
  });
  events.addEventListener('error', () => {
    if (source !== events) return;
    setConnection('disconnected', 'disconnected: reconnecting…');
    if (events.readyState === EventSource.CLOSED) reopenLater();
  });
}

function reopenLater(): void {
  source?.close();
  source = undefined;
  const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)] ?? 5_000;
  failures++;
  setTimeout(connect, wait);
}

/** A stream with no message for SILENCE_MS is dead even if the socket says otherwise. */
setInterval(() => {
  if (source !== undefined && Date.now() - lastMessageAt > SILENCE_MS) {
    setConnection('disconnected', 'disconnected: reconnecting…');
    reopenLater();
  }
}, 1_000);

function currentFilter(): Filter {
  return {
    model: byId<HTMLSelectElement>('filter-model').value,
    backend: byId<HTMLSelectElement>('filter-backend').value,
    state: byId<HTMLSelectElement>('filter-state').value,
  };
}

/**
 * Draws soon, at most once per interval: at least MIN_RENDER_GAP_MS apart, and further apart when drawing is slow
 * (a large fleet), so a busy fleet cannot keep the page's thread busy. A timer, not requestAnimationFrame: a page
 * in a background tab still keeps up, at the browser's pace.
 */
function queueRender(): void {
  dirty = true;
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, lastRenderAt + Math.max(MIN_RENDER_GAP_MS, 3 * lastRenderCostMs) - performance.now());
  setTimeout(() => {
    renderQueued = false;
    const started = performance.now();
    render();
    lastRenderAt = performance.now();
    lastRenderCostMs = lastRenderAt - started;
  }, wait);
}

function serverNow(): number {
  return Date.now() + state.clockOffsetMs;
}

function ageText(sinceMs: number | undefined): string {
  return sinceMs === undefined ? '' : `${formatAge(serverNow() - sinceMs)} ago`;
}

function hiveRow(hive: HiveRow): HTMLTableRowElement {
  const age = el('td', { class: 'age' }, ageText(hive.lastHeartbeatMs));
  ageCells.set(hive.hiveId, { cell: age, sinceMs: hive.lastHeartbeatMs });
  const used = hive.vramUsedBytes;
  const total = hive.vramTotalBytes;
  const percent = share(used, total);
  const vram =
    total > 0
      ? bar(
          percent,
          `${formatBytes(used)} / ${formatBytes(total)}`,
          `${formatBytes(used)} of ${formatBytes(total)} VRAM used, ${formatBytes(hive.vramFreeBytes)} free`,
          percent > 90 ? 'hot' : percent > 70 ? 'warn' : 'ok',
          true,
        )
      : el('span', { class: 'muted' }, hive.detailsKnown ? 'no devices reported' : '…');
  const status = hive.status === 'absent' ? 'not connected' : hive.status;
  return el(
    'tr',
    { class: hive.status, 'data-hive-id': hive.hiveId, 'data-status': hive.status },
    el(
      'td',
      {},
      hive.hiveId,
      hive.queenId === undefined ? null : el('span', { class: 'muted', title: 'the queen holding its stream' }, ` on ${hive.queenId}`),
    ),
    el('td', {}, el('span', { class: `badge ${hive.status}` }, status), hive.cordoned ? el('span', { class: 'badge cordoned' }, 'cordoned') : null),
    age,
    el('td', {}, String(hive.workerCount)),
    el('td', {}, vram),
    el('td', {}, ...Object.entries(hive.labels).map(([k, v]) => el('span', { class: 'label' }, `${k}=${v}`))),
  );
}

function replaceOptions(select: HTMLSelectElement | HTMLDataListElement, values: readonly string[], keepFirst: boolean): void {
  const wanted = values.join('\n');
  if (select.dataset.values === wanted) return;
  select.dataset.values = wanted;
  const chosen = select instanceof HTMLSelectElement ? select.value : '';
  const first = keepFirst ? select.firstElementChild : null;
  select.replaceChildren(...(first === null ? [] : [first]), ...values.map((value) => el('option', { value }, value)));
  if (select instanceof HTMLSelectElement && chosen !== '') {
    if (!values.includes(chosen)) select.append(el('option', { value: chosen }, chosen));
    select.value = chosen;
  }
}

/** What a hive row shows but its age, which is updated in place (see paintAges). */
function hiveSignature(hive: HiveRow): string {
  return JSON.stringify({ ...hive, lastHeartbeatMs: undefined });
}

/** Redraws what changed (only when the fleet changed), then the ages, which move with time alone. */
function render(): void {
  if (dirty) {
    dirty = false;
    redraw();
  }
  paintAges();
}

function redraw(): void {
  const view = state.view(currentFilter());
  const now = serverNow();
  const states = Object.entries(view.workersByState)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  byId('summary').textContent =
    `${view.onlineHives} hive${view.onlineHives === 1 ? '' : 's'} online, ${view.offlineHives} offline · ` +
    `${view.workerTotal} worker${view.workerTotal === 1 ? '' : 's'}${states === '' ? '' : ` (${states})`} · revision ${state.revision}`;
  replaceOptions(byId<HTMLSelectElement>('filter-model'), view.models, true);
  replaceOptions(byId<HTMLDataListElement>('known-models'), view.models, false);

  const hiveBody = byId<HTMLTableElement>('hives').tBodies[0];
  if (hiveBody !== undefined) {
    const shownHives = new Set<string>();
    for (const hive of view.hives) {
      shownHives.add(hive.hiveId);
      const age = ageCells.get(hive.hiveId);
      if (age !== undefined) age.sinceMs = hive.lastHeartbeatMs;
    }
    syncRows(hiveBody, view.hives, (h) => h.hiveId, hiveSignature, hiveRow);
    for (const hiveId of ageCells.keys()) if (!shownHives.has(hiveId)) ageCells.delete(hiveId);
  }
  byId('hives-empty').hidden = view.hives.length > 0;
  const workerBody = byId<HTMLTableElement>('workers').tBodies[0];
  const shown = view.workers.slice(0, MAX_WORKER_ROWS);
  countdowns = shown.some((w) => w.excludedUntilMs !== undefined && w.excludedUntilMs > now);
  if (workerBody !== undefined) {
    // An exclusion's countdown is part of its row: rebuilt once a second, only for the few excluded workers.
    syncRows(
      workerBody,
      shown,
      (w) => `${w.hiveId}\u0000${w.workerId}`,
      (w) => `${JSON.stringify(w)}|${w.excludedUntilMs === undefined || w.excludedUntilMs < now ? '' : Math.floor((w.excludedUntilMs - now) / 1000)}`,
      (w) => workerRow(w, now),
    );
  }
  byId('workers-more').textContent =
    view.workers.length > shown.length ? `Showing ${shown.length} of ${view.workers.length} workers: narrow the filters to see the rest.` : '';
  const filtering = view.workers.length !== view.workerTotal;
  byId('filter-count').textContent = filtering ? `${view.workers.length} of ${view.workerTotal} workers match` : '';
}

/** The age of each drawn hive's last heartbeat, written only where its text changed. */
function paintAges(): void {
  for (const { cell, sinceMs } of ageCells.values()) {
    const text = ageText(sinceMs);
    if (cell.textContent !== text) cell.textContent = text;
  }
}

interface BestAnswer {
  readonly model: string;
  readonly picked?: { hiveId: string; workerId: string; url: string; modelLoaded: boolean };
  readonly error?: { code: string; message: string };
  readonly reasons: readonly string[];
  readonly workers: readonly RankedWorkerJson[];
  readonly workersTotal: number;
  /** Present while the gateway's prefix affinity is on; the last reason then says what it does. */
  readonly prefixAffinity?: { blockBytes: number; slack: number; keys: number };
}

async function askBest(model: string): Promise<void> {
  const result = byId('best-result');
  result.replaceChildren(el('span', { class: 'muted' }, `asking for ${model}…`));
  let answer: BestAnswer | { error: { message: string } };
  try {
    const response = await fetch(`/api/best?model=${encodeURIComponent(model)}`, { headers: { Accept: 'application/json' } });
    answer = (await response.json()) as BestAnswer | { error: { message: string } };
  } catch (error) {
    result.replaceChildren(el('p', { class: 'error' }, `the queen could not be asked: ${String(error)}`));
    return;
  }
  if (!('reasons' in answer)) {
    result.replaceChildren(el('p', { class: 'error' }, answer.error.message));
    return;
  }
  const headline = answer.picked
    ? el(
        'p',
        { class: 'pick', 'data-picked-worker': answer.picked.workerId, 'data-picked-hive': answer.picked.hiveId },
        `${answer.picked.workerId} on ${answer.picked.hiveId}`,
        el('span', { class: 'muted' }, answer.picked.modelLoaded ? ' · model loaded · ' : ' · model not loaded yet · '),
        el('span', { class: 'url' }, answer.picked.url),
      )
    : el('p', { class: 'error', 'data-best-error': answer.error?.code ?? '' }, `${answer.error?.code ?? 'no pick'}: nothing can take a request for ${answer.model} now`);
  const rows = answer.workers.map(bestRow);
  const table =
    rows.length === 0
      ? null
      : el(
          'table',
          { class: 'grid' },
          el('thead', {}, el('tr', {}, ...BEST_COLUMNS.map((h) => el('th', {}, h)))),
          el('tbody', {}, ...rows),
        );
  const more = answer.workersTotal > answer.workers.length ? el('p', { class: 'muted' }, `and ${answer.workersTotal - answer.workers.length} more with the model`) : null;
  result.replaceChildren(headline, el('ul', { class: 'reasons' }, ...answer.reasons.map((r) => el('li', {}, r))), table ?? '', more ?? '');
}

byId<HTMLFormElement>('best-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const model = byId<HTMLInputElement>('best-model').value.trim();
  if (model !== '') void askBest(model);
});
for (const id of ['filter-model', 'filter-backend', 'filter-state']) {
  byId(id).addEventListener('change', () => {
    dirty = true;
    render();
  });
}
// Ages move with time alone (painted in place); an exclusion's countdown too (a redraw that rebuilds its rows only).
setInterval(() => {
  if (countdowns) queueRender();
  else paintAges();
}, 1_000);
connect();
render();
