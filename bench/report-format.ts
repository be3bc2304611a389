/** How the report writes numbers: shared by every section of BENCHMARKS.md. */

export const int = (value: number): string => Math.round(value).toLocaleString('en-US');
export const fixed =
  (digits: number) =>
  (value: number): string =>
    value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const ms = (value: number): string => `${fixed(value < 10 ? 2 : 1)(value)} ms`;
export const usec = (value: number): string => `${fixed(value < 100 ? 1 : 0)(value)} µs`;
export const pct = (value: number): string => `${int(value)} %`;
export const mib = (value: number): string => `${fixed(1)(value / 2 ** 20)} MiB`;
