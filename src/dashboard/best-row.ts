// One row of the best-worker box's ranked table: worker, hive, verdict, state, load (with what it is made of), KV
// cache, GPU load, reservations. The figures are those GET /api/best answers with; the order is the scheduler's.
import { el } from './dom.js';
import { formatLoad, formatPercent } from './format.js';

/** One of the model's workers as GET /api/best lists it. */
export interface RankedWorkerJson {
  readonly hiveId: string;
  readonly workerId: string;
  readonly verdict: string;
  readonly state: string;
  readonly gpuPercent?: number;
  /** (max(reserved, running) + waiting) / slots: the lowest is picked first. */
  readonly load: number;
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
  /** A fraction 0-1. */
  readonly kvCacheUsage?: number;
  readonly reserved: number;
  readonly slots: number;
}

const notReported = (): HTMLElement => el('span', { class: 'muted' }, 'n/a');

/**
 * The load, and below it what it counts: slots in use (the more of the engine's running requests and the
 * reservations here) + requests waiting, over the slots, written `3 + 1 / 8` like the workers table's requests.
 */
function loadCell(w: RankedWorkerJson): HTMLTableCellElement {
  const running = w.requestsRunning;
  const inUse = Math.max(w.reserved, running ?? 0);
  const waiting = w.requestsWaiting;
  const counted = running === undefined ? `${w.reserved} reserved here, running not reported` : `${running} running, ${w.reserved} reserved here`;
  const title =
    `load ${formatLoad(w.load)}: ${inUse} slot${inUse === 1 ? '' : 's'} in use (${counted}) + ` +
    `${waiting === undefined ? 'waiting not reported' : `${waiting} waiting`}, over ${w.slots} slot${w.slots === 1 ? '' : 's'} (max_concurrency)`;
  const parts = el('span', { class: 'sub' }, waiting === undefined ? `${inUse} / ${w.slots}` : `${inUse} + ${waiting} / ${w.slots}`);
  return el('td', { class: 'load', title }, formatLoad(w.load), parts);
}

export function bestRow(w: RankedWorkerJson): HTMLTableRowElement {
  return el(
    'tr',
    { 'data-best-worker': w.workerId, 'data-verdict': w.verdict },
    el('td', {}, w.workerId),
    el('td', {}, w.hiveId),
    el('td', {}, el('span', { class: `badge ${w.verdict}` }, w.verdict.replace('_', ' '))),
    el('td', {}, w.state),
    loadCell(w),
    el('td', { class: 'kv' }, w.kvCacheUsage === undefined ? notReported() : formatPercent(w.kvCacheUsage * 100)),
    el('td', {}, w.gpuPercent === undefined ? notReported() : formatPercent(w.gpuPercent)),
    el('td', {}, `${w.reserved} / ${w.slots}`),
  );
}

/** The ranked table's column heads, in the order bestRow fills them. */
export const BEST_COLUMNS = ['Worker', 'Hive', 'Verdict', 'State', 'Load', 'KV cache', 'GPU load', 'Reserved'] as const;
