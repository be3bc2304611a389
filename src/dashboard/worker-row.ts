// One row of the workers table: state with the worker's status message, model, engine with its version and context,
// GPU load, the engine's requests against the worker's slots, KV cache, health, reservations. Built whole from a
// WorkerRow (the table keeps rows whose content did not change, see syncRows).
import { bar, el } from './dom.js';
import type { WorkerRow } from './fleet-state.js';
import { formatAge, formatPercent, formatTokens, kvCacheBar, requestsBar, share, type BarFigure } from './format.js';

function figureBar(figure: BarFigure | undefined): HTMLElement {
  return figure === undefined ? el('span', { class: 'muted' }, 'n/a') : bar(figure.percent, figure.text, figure.label, figure.tone);
}

/** A muted second line under a cell's main content, cut with an ellipsis; the whole text is its tooltip. */
function subLine(text: string, extraClass = ''): HTMLElement {
  return el('span', { class: `sub${extraClass === '' ? '' : ` ${extraClass}`}`, title: text }, text);
}

function engineCell(worker: WorkerRow): HTMLTableCellElement {
  const details = [worker.engineVersion, worker.contextLength === undefined ? undefined : `${formatTokens(worker.contextLength)} ctx`].filter(
    (part): part is string => part !== undefined && part !== '',
  );
  const title = [
    worker.engine ?? 'engine not reported',
    worker.engineVersion,
    worker.contextLength === undefined ? undefined : `context ${worker.contextLength} tokens`,
  ]
    .filter((part) => part !== undefined && part !== '')
    .join(', ');
  return el(
    'td',
    { class: 'engine', title },
    worker.engine === undefined ? el('span', { class: 'muted' }, 'n/a') : worker.engine,
    details.length === 0 ? null : subLine(details.join(' · ')),
  );
}

/** The row of one worker; `serverNowMs` is the queen's time now (for an exclusion's countdown). */
export function workerRow(worker: WorkerRow, serverNowMs: number): HTMLTableRowElement {
  const gpu = worker.gpuPercent;
  const gpuCell =
    gpu === undefined
      ? el('span', { class: 'muted' }, 'n/a')
      : bar(share(gpu, 100), formatPercent(gpu), `GPU load ${formatPercent(gpu)}`, gpu > 90 ? 'hot' : gpu > 70 ? 'warn' : 'ok');
  const excluded =
    worker.excludedUntilMs !== undefined && worker.excludedUntilMs > serverNowMs
      ? el('span', { class: 'badge excluded', title: 'not picked after a reported failure' }, `excluded ${formatAge(worker.excludedUntilMs - serverNowMs)}`)
      : null;
  const status = worker.statusMessage === undefined || worker.statusMessage === '' ? null : subLine(worker.statusMessage, `status ${worker.state}`);
  return el(
    'tr',
    { class: worker.hiveOnline ? '' : 'offline', 'data-worker-id': worker.workerId, 'data-state': worker.state },
    el('td', {}, worker.workerId, subLine(worker.url, 'url')),
    el('td', {}, worker.hiveId),
    el('td', { class: 'state' }, el('span', { class: `badge ${worker.state}` }, worker.state), status),
    el('td', {}, worker.modelId === '' ? el('span', { class: 'muted' }, 'none') : worker.modelId),
    engineCell(worker),
    el('td', {}, worker.backend),
    el('td', {}, gpuCell),
    el('td', { class: 'requests' }, figureBar(requestsBar(worker.requestsRunning, worker.requestsWaiting, worker.slots))),
    el('td', { class: 'kv' }, figureBar(kvCacheBar(worker.kvCacheUsage))),
    el('td', {}, el('span', { class: `badge ${worker.health}` }, worker.health)),
    el('td', {}, `${worker.reserved} / ${worker.slots}`, excluded ? ' ' : '', excluded),
  );
}
