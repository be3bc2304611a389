import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

/** Where and when the benchmark ran. */
export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly platform: string;
  /** ISO date and time (UTC) of the start of the run. */
  readonly date: string;
  readonly commit: string;
  /** Whether src/ or gen/ differed from `commit` (the code measured was then not exactly the commit's). */
  readonly dirty: boolean;
  /** 1-minute load average when the run started: a hint of what else the machine was doing. */
  readonly loadAverage: number;
}

function git(args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function describeMachine(): Machine {
  const cores = cpus();
  return {
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: git(['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    dirty: (git(['status', '--porcelain', '--', 'src', 'gen']) ?? '') !== '',
    loadAverage: loadavg()[0] ?? 0,
  };
}
