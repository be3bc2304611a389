// A federation of real `hive-registry serve --etcd` processes over one real etcd, with real agents: the harness of
// the federation's end-to-end tests (test/e2e/federation-*.test.ts), and the views tests compare across queens.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HeartbeatStream } from './client';
import { REPO_ROOT, startAgent, type AgentProcess } from './cli-process';
import { freePort, type EtcdProcess } from './etcd-process';
import { federationArgs, QueenProcess } from './queen-process';
import { asJson, waitFor } from './wait-for';
import { tickPayload } from './wire-builders';

export interface FleetOptions {
  /** Queen ids, in order (default q1, q2, q3). */
  readonly ids?: readonly string[];
  /** More `serve` flags for every queen. */
  readonly args?: readonly string[];
  /** Environment of every queen (added to this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** The token the queens' default clients carry (a queen with --auth-file). */
  readonly token?: string;
  /** Queens not started yet (their ports are reserved): the test starts them with `queen(id).start()`. */
  readonly deferred?: readonly string[];
  /** The etcd endpoint a queen is given, by queen id, in place of etcd's own (a TCP proxy that can cut it off). */
  readonly endpoints?: Readonly<Record<string, string>>;
}

/** A worker of a workers file, in the protobuf JSON form the agent reads. */
export interface FileWorker {
  readonly workerId: string;
  readonly modelId?: string;
  readonly state?: 'WORKER_STATUS_IDLE' | 'WORKER_STATUS_BUSY' | 'WORKER_STATUS_LOADING' | 'WORKER_STATUS_ERROR';
  readonly backend?: 'BACKEND_CUDA' | 'BACKEND_ROCM' | 'BACKEND_CPU' | 'BACKEND_METAL';
  readonly gpuPercent?: number;
  readonly deviceId?: number;
  readonly vramBytes?: string;
}

/**
 * Queens over one etcd under one prefix, and the agents of their hives. `close()` (in afterEach) kills every agent
 * and stops every queen still running, and removes the temporary folder of workers and token files.
 */
export class QueenFleet {
  readonly dir: string;
  private readonly agents: AgentProcess[] = [];

  private constructor(
    readonly etcd: EtcdProcess,
    readonly prefix: string,
    readonly queens: QueenProcess[],
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'hive-fleet-'));
  }

  /** Starts the queens (but `deferred`), each on its own port, and waits until each serves. */
  static async start(etcd: EtcdProcess, prefix: string, options: FleetOptions = {}): Promise<QueenFleet> {
    const ids = options.ids ?? ['q1', 'q2', 'q3'];
    const queens: QueenProcess[] = [];
    for (const id of ids) {
      const args = [...federationArgs(options.endpoints?.[id] ?? etcd, prefix), ...(options.args ?? [])];
      queens.push(new QueenProcess(id, await freePort(), args, options.env ?? {}));
    }
    const fleet = new QueenFleet(etcd, prefix, queens);
    try {
      await Promise.all(queens.filter((q) => !(options.deferred ?? []).includes(q.id)).map((queen) => queen.start(options.token, true)));
    } catch (error) {
      await fleet.close();
      throw error;
    }
    return fleet;
  }

  queen(id: string): QueenProcess {
    const queen = this.queens.find((q) => q.id === id);
    if (queen === undefined) throw new Error(`no queen ${id}`);
    return queen;
  }

  /** The queens that are running now. */
  get live(): QueenProcess[] {
    return this.queens.filter((queen) => queen.running);
  }

  /** `--queen` for these queens (default all), comma-separated. */
  queenList(queens: readonly QueenProcess[] = this.queens): string {
    return queens.map((queen) => queen.address).join(',');
  }

  /** Starts `hive-registry agent` for `hiveId` against `queens` (default all), with `source` flags; tracked. */
  agent(hiveId: string, source: readonly string[], queens: readonly QueenProcess[] = this.queens): AgentProcess {
    const agent = startAgent(this.queenList(queens), hiveId, source);
    this.agents.push(agent);
    return agent;
  }

  /** An agent with `count` simulated, steady workers (`<hive>-w0`...) of `models`. */
  simulatedAgent(hiveId: string, count: number, models: readonly string[], queens?: readonly QueenProcess[]): AgentProcess {
    return this.agent(hiveId, ['--simulate', String(count), '--steady', '--models', models.join(',')], queens);
  }

  /** An agent reporting `workers` from a workers file (written here). */
  fileAgent(hiveId: string, workers: readonly FileWorker[], queens?: readonly QueenProcess[]): AgentProcess {
    return this.agent(hiveId, ['--workers-file', this.writeWorkersFile(hiveId, workers)], queens);
  }

  /** Writes (or rewrites, which the agent follows) the workers file of `hiveId`; returns its path. */
  writeWorkersFile(hiveId: string, workers: readonly FileWorker[]): string {
    const path = join(this.dir, `${hiveId}.workers.json`);
    const file = {
      workers: workers.map((w, i) => ({
        state: 'WORKER_STATUS_IDLE',
        url: `http://10.0.0.${i + 1}:8000/${w.workerId}`,
        backend: 'BACKEND_CUDA',
        deviceId: i,
        health: 'HEALTH_STATUS_HEALTHY',
        ...w,
      })),
      devices: workers.map((_w, i) => ({ deviceId: i, backend: 'BACKEND_CUDA', name: `gpu-${i}`, vramTotalBytes: String(80 * 2 ** 30) })),
      ramTotalBytes: String(256 * 2 ** 30),
    };
    // Written beside and renamed, so the agent never reads half a file.
    writeFileSync(`${path}.tmp`, JSON.stringify(file));
    renameSync(`${path}.tmp`, path);
    return path;
  }

  /** A file in the fleet's folder (mode 600), for tokens. */
  writeFile(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  /** SIGTERM to an agent (it half-closes: the hive is offline at once) and its exit code. */
  async stopAgent(agent: AgentProcess): Promise<number | string> {
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
    const timer = setTimeout(() => agent.child.kill('SIGKILL'), 10_000);
    try {
      return await agent.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Writes every queen's logs to test-output/<name>/<queen>.log (default name: the running test's), where a failing
   * test's story can be read; returns the folder.
   */
  saveLogs(name: string = expect.getState().currentTestName ?? 'federation'): string {
    const folder = join(REPO_ROOT, 'test-output', 'federation', name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 120));
    mkdirSync(folder, { recursive: true });
    for (const queen of this.queens) writeFileSync(join(folder, `${queen.id}.log`), queen.logText());
    return folder;
  }

  /** Kills the agents, stops the queens (their logs saved first, see saveLogs), removes the temporary folder. */
  async close(): Promise<void> {
    this.saveLogs();
    await Promise.all(
      this.agents.splice(0).map(async (agent) => {
        if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
        await agent.exited;
      }),
    );
    await Promise.all(this.queens.map((queen) => queen.stop().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The owner of `hiveId` as `queen` shows it: the owning queen's id while online, 'offline', or 'absent'. */
export async function ownerOn(queen: QueenProcess, hiveId: string): Promise<string> {
  try {
    const { hive } = await queen.rpc.getHiveState({ hiveId });
    return hive === undefined ? 'absent' : hive.online ? hive.queenId : 'offline';
  } catch {
    return 'absent';
  }
}

/** The owner of `hiveId` on each of `queens`, in order. */
export function ownersOn(queens: readonly QueenProcess[], hiveId: string): Promise<string[]> {
  return Promise.all(queens.map((queen) => ownerOn(queen, hiveId)));
}

/** The fleet as `queen` lists it (ListAllWorkers): one "hive/worker online|offline @owner" line per worker, sorted. */
export async function fleetOn(queen: QueenProcess): Promise<string[]> {
  const { workers } = await queen.rpc.listAllWorkers({});
  return workers
    .map((e) => `${e.hiveId}/${e.worker?.workerId ?? '?'} ${e.hiveOnline ? 'online' : 'offline'} @${e.queenId}`)
    .sort();
}

/** Every queen's fleet, in order. */
export function fleetsOn(queens: readonly QueenProcess[]): Promise<string[][]> {
  return Promise.all(queens.map(fleetOn));
}

/** True when every list in `lists` equals the first (as JSON). */
export function allEqual(lists: readonly unknown[]): boolean {
  const first = asJson(lists[0]);
  return lists.every((list) => asJson(list) === first);
}

/**
 * Waits until every queen of `queens` lists the same fleet, and `accept` holds for it (default: any); resolves
 * with that fleet.
 */
export async function waitAgree(
  queens: readonly QueenProcess[],
  what: string,
  timeoutMs: number,
  accept: (fleet: string[]) => boolean = () => true,
): Promise<string[]> {
  const { value } = await waitFor(
    `${queens.map((q) => q.id).join(', ')} to agree on ${what}`,
    () => fleetsOn(queens),
    (fleets) => allEqual(fleets) && accept(fleets[0] ?? []),
    timeoutMs,
    150,
  );
  return value[0] ?? [];
}

/**
 * A value for comparing answers across queens: the same object with the fields a non-owner only knows as last
 * published dropped (heartbeat times, sequence, sender timestamp), and bigints as strings.
 */
export function comparable(value: unknown): unknown {
  const dropped = new Set(['$typeName', 'lastHeartbeat', 'senderTimestamp', 'sequence']);
  return JSON.parse(
    JSON.stringify(value, (key, v: unknown) => (dropped.has(key) ? undefined : typeof v === 'bigint' ? v.toString() : v)),
  ) as unknown;
}

/**
 * Sends liveness ticks for `hiveId` on a test-held stream every `everyMs` (sequence from `firstSequence` up), as an
 * agent would between snapshots; returns a function that stops them.
 */
export function keepTicking(stream: HeartbeatStream, hiveId: string, everyMs: number, firstSequence = 2): () => void {
  let sequence = firstSequence;
  const timer = setInterval(() => {
    if (stream.ended) return;
    stream.write(tickPayload(hiveId, sequence++));
  }, everyMs);
  return () => clearInterval(timer);
}
