import type { Worker } from '../common/worker.js';

/**
 * How the operator tables show a worker's engine: its name and version, requests running and waiting, KV cache
 * usage, context length and status message. Pure; `-` stands for what the worker does not report.
 */

// Control characters (newlines, escape sequences), line separators and bidirectional overrides: a hive's text
// must neither break a table's lines nor drive the operator's terminal.
const UNPRINTABLE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]+/gu;

/** A hive's free text on one line, without anything a terminal would interpret. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, ' ');
}

/** The engine's name: `vllm`; `-` when not reported. */
export function engineCell(w: Worker): string {
  return w.engine ?? '-';
}

/** Requests running and waiting in the engine: `3/1`; `-` for a figure not reported, `-` alone when neither is. */
export function requestsCell(w: Worker): string {
  if (w.requestsRunning === undefined && w.requestsWaiting === undefined) return '-';
  return `${w.requestsRunning ?? '-'}/${w.requestsWaiting ?? '-'}`;
}

/** KV cache in use as a whole percentage: `38%`; `-` when not reported. */
export function kvCell(w: Worker): string {
  return w.kvCacheUsage === undefined ? '-' : `${Math.round(w.kvCacheUsage * 100)}%`;
}

/** Name and version: `vllm 0.6.3`; the version alone when only it is known. */
function engineWithVersion(w: Worker): string | undefined {
  const version = w.engineVersion === undefined || w.engineVersion === '' ? undefined : printable(w.engineVersion);
  if (w.engine === undefined) return version;
  return version === undefined ? w.engine : `${w.engine} ${version}`;
}

/** The columns of `engineRows`. */
export const ENGINE_HEADER = ['WORKER', 'ENGINE', 'CONTEXT', 'STATUS'];

/**
 * One row per worker that reports its engine, version, context length or a status message: what the workers
 * table has no room for. Empty when none does.
 */
export function engineRows(workers: readonly Worker[]): string[][] {
  return workers
    .filter((w) => w.engine !== undefined || w.engineVersion !== undefined || w.contextLength !== undefined || w.statusMessage !== undefined)
    .map((w) => [
      w.workerId,
      engineWithVersion(w) ?? '-',
      w.contextLength === undefined ? '-' : String(w.contextLength),
      w.statusMessage === undefined || w.statusMessage === '' ? '-' : printable(w.statusMessage),
    ]);
}

/** Requests in the engine for `best`: `  requests: 3 running, 1 waiting\n`; empty when neither is reported. */
export function requestsLine(w: Worker): string {
  const parts = [
    w.requestsRunning === undefined ? undefined : `${w.requestsRunning} running`,
    w.requestsWaiting === undefined ? undefined : `${w.requestsWaiting} waiting`,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? '' : `  requests: ${parts.join(', ')}\n`;
}

/**
 * The engine and status lines of `best`, each only when something in it is reported:
 * `  engine:   vllm 0.6.3, context 131072 tokens\n`, `  status:   Loading model\n`.
 */
export function engineLines(w: Worker): string {
  let text = '';
  const engine = engineWithVersion(w);
  const context = w.contextLength === undefined ? undefined : `context ${w.contextLength} tokens`;
  if (engine !== undefined || context !== undefined) {
    text += `  engine:   ${[engine, context].filter((part) => part !== undefined).join(', ')}\n`;
  }
  if (w.statusMessage !== undefined && w.statusMessage !== '') text += `  status:   ${printable(w.statusMessage)}\n`;
  return text;
}
