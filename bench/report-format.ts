/** How the report writes numbers and the machine: shared by every section of BENCHMARKS.md. */
import type { Machine } from './machine.js';

export const int = (value: number): string => Math.round(value).toLocaleString('en-US');
export const fixed =
  (digits: number) =>
  (value: number): string =>
    value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const ms = (value: number): string => `${fixed(value < 10 ? 2 : 1)(value)} ms`;
export const usec = (value: number): string => `${fixed(value < 100 ? 1 : 0)(value)} µs`;
export const pct = (value: number): string => `${int(value)} %`;
export const mib = (value: number): string => `${fixed(1)(value / 2 ** 20)} MiB`;

/**
 * Where and when a section's figures were taken, for a section that may be run on its own (`--only`) and pasted:
 * "Run on <cpu> x <cores> cores, <memory>, Node <version>, commit <sha>, <date>, load average <n> at the start".
 */
export const ranOn = (m: Machine): string =>
  `Run on ${m.cpuModel} x ${m.cores} cores, ${fixed(1)(m.memoryBytes / 2 ** 30)} GiB, Node ${m.node}, commit ` +
  `${m.commit}${m.dirty ? ' (src/ or gen/ had uncommitted changes)' : ''}, ${m.date}, load average ` +
  `${fixed(2)(m.loadAverage)} at the start`;
