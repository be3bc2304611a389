// How figures read on the dashboard. Pure.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 85899345920 -> "80 GiB"; one decimal below 10 of a unit. */
export function formatBytes(value: number): string {
  let unit = 0;
  let scaled = value;
  while (scaled >= 1024 && unit < BYTE_UNITS.length - 1) {
    scaled /= 1024;
    unit++;
  }
  const digits = scaled < 10 && unit > 0 && !Number.isInteger(scaled) ? 1 : 0;
  return `${scaled.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** Elapsed time for people: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". Negative reads as 0. */
export function formatAge(ms: number): string {
  const elapsed = Math.max(0, ms);
  if (elapsed < 10_000) return `${(elapsed / 1000).toFixed(1)} s`;
  const seconds = Math.floor(elapsed / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** 37.25 -> "37%"; undefined -> "n/a". */
export function formatPercent(value: number | undefined): string {
  return value === undefined ? 'n/a' : `${Math.round(value)}%`;
}

/** A routing load (slots in use plus waiting, over max_concurrency) for a narrow cell: 0.375 -> "0.38", 1 -> "1.00". */
export function formatLoad(load: number): string {
  return load.toFixed(2);
}

/** A share for a bar's width, clamped to 0-100; 0 when the whole is 0. */
export function share(part: number, whole: number): number {
  if (!(whole > 0)) return 0;
  return Math.min(100, Math.max(0, (part / whole) * 100));
}

/** How a bar looks: its fill (0-100), the text on it, the tooltip, the tone of the fill. */
export interface BarFigure {
  readonly percent: number;
  readonly text: string;
  readonly label: string;
  readonly tone: 'ok' | 'warn' | 'hot';
}

/**
 * The engine's requests against the worker's slots: running + waiting over `slots` (max_concurrency), "3 + 1 / 8"
 * on the bar; hot once they exceed the slots (requests queue), warm above 70%. Undefined when neither is reported.
 */
export function requestsBar(running: number | undefined, waiting: number | undefined, slots: number): BarFigure | undefined {
  if (running === undefined && waiting === undefined) return undefined;
  const total = (running ?? 0) + (waiting ?? 0);
  const ratio = slots > 0 ? total / slots : Number.POSITIVE_INFINITY;
  const runningText = running === undefined ? '?' : String(running);
  return {
    percent: share(total, slots),
    text: waiting === undefined ? `${runningText} / ${slots}` : `${runningText} + ${waiting} / ${slots}`,
    label:
      `${running === undefined ? 'running not reported' : `${running} running`}, ` +
      `${waiting === undefined ? 'waiting not reported' : `${waiting} waiting`} in the engine; ${slots} slot${slots === 1 ? '' : 's'} (max_concurrency)`,
    tone: ratio > 1 ? 'hot' : ratio > 0.7 ? 'warn' : 'ok',
  };
}

/** KV cache in use (a fraction 0-1) as a bar: hot above 90%, warm above 70%. Undefined when not reported. */
export function kvCacheBar(usage: number | undefined): BarFigure | undefined {
  if (usage === undefined) return undefined;
  const percent = share(usage * 100, 100);
  return { percent, text: formatPercent(percent), label: `KV cache ${formatPercent(percent)} in use`, tone: percent > 90 ? 'hot' : percent > 70 ? 'warn' : 'ok' };
}

/** A context length for a narrow cell: 131072 -> "128K", 8192 -> "8K", 100000 -> "100000". */
export function formatTokens(tokens: number): string {
  return tokens >= 1024 && tokens % 1024 === 0 ? `${tokens / 1024}K` : String(tokens);
}
