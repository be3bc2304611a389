import { BenchChild } from './bench-child.js';
import { procCpuMs, procMemory } from './proc-stats.js';

/** How long a queen may take to log that it serves (a federated one first joins etcd). */
const START_TIMEOUT_MS = 20_000;

/** A `hive-registry serve` process of the scenario. */
export interface QueenProcess {
  readonly child: BenchChild;
  readonly pid: number;
  /** Its --queen-id ('' for the single queen, which names itself). */
  readonly queenId: string;
  readonly address: string;
  /** The HTTP listener's port, when `--http-listen` was among its flags. */
  readonly httpPort?: number;
}

/** How a queen runs: alone with its catalog in memory, or in a federation over `etcd`. */
export type QueenRole =
  | { readonly kind: 'single' }
  | { readonly kind: 'federated'; readonly etcd: string; readonly queenId: string; readonly leaseTtlMs: number };

/**
 * The `serve` flags of a queen in the scenario: production defaults but a free loopback port, and more streams
 * from one address than the default 1,000 (every simulated hive connects from 127.0.0.1, as no real fleet does).
 */
function serveArgs(role: QueenRole): string[] {
  const common = ['serve', '--listen', '127.0.0.1:0', '--max-streams-per-address', '10000', '--log-level', 'info'];
  if (role.kind === 'single') return [...common, '--db', ':memory:'];
  return [
    ...common,
    '--etcd',
    role.etcd,
    '--queen-id',
    role.queenId,
    '--etcd-lease-ttl',
    `${Math.round(role.leaseTtlMs / 1_000)}s`,
  ];
}

/**
 * Starts the built CLI's `serve` with the role's flags and `moreFlags` after them, and waits for its "hive-registry
 * serving" log line (pino JSON on stdout).
 */
export async function startQueen(role: QueenRole, moreFlags: readonly string[] = []): Promise<QueenProcess> {
  const name = role.kind === 'single' ? 'single queen' : `queen ${role.queenId}`;
  const child = new BenchChild(name, '../src/cli/main.js', [...serveArgs(role), ...moreFlags]);
  try {
    const serving = await child.waitFor((line) => line['msg'] === 'hive-registry serving', START_TIMEOUT_MS);
    const pid = child.pid;
    if (pid === undefined || typeof serving['port'] !== 'number') throw new Error(`${name}: no pid or port`);
    const queenId = typeof serving['queenId'] === 'string' ? serving['queenId'] : '';
    const address = `127.0.0.1:${serving['port']}`;
    const httpPort = serving['httpPort'];
    return { child, pid, queenId, address, ...(typeof httpPort === 'number' ? { httpPort } : {}) };
  } catch (error) {
    child.kill();
    throw error;
  }
}

/** A process's CPU time so far (ms) and its clock reading, to take rates over a window. */
export interface CpuReading {
  readonly cpuMs: number;
  readonly atMs: number;
}

export function cpuReading(pid: number): CpuReading {
  return { cpuMs: procCpuMs(pid), atMs: performance.now() };
}

/** % of one core between two readings. */
export function cpuPercent(start: CpuReading, end: CpuReading): number {
  return ((end.cpuMs - start.cpuMs) * 100) / (end.atMs - start.atMs);
}

/** Resident memory now and its peak so far. */
export function memory(pid: number): { rssBytes: number; peakRssBytes: number } {
  return procMemory(pid);
}
