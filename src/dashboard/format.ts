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

/** A share for a bar's width, clamped to 0-100; 0 when the whole is 0. */
export function share(part: number, whole: number): number {
  if (!(whole > 0)) return 0;
  return Math.min(100, Math.max(0, (part / whole) * 100));
}
