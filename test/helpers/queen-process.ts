// One queen of a test federation as a real process: `hive-registry serve --etcd` with a short lease, killed,
// paused, restarted under the same id on the same port. test/helpers/queen-fleet.ts runs several with their agents.
import { HealthCheckResponse_ServingStatus } from '../../gen/grpc/health/v1/health_pb';
import { healthClient, QueenClient } from './client';
import { startServer, stopServer, type ServerProcess } from './cli-process';
import { freePort, type EtcdProcess } from './etcd-process';

/** The queens' lease: short enough for fault tests to see it expire, long enough for a loaded machine. */
export const LEASE_TTL_MS = 3_000;
/** The queens' deadline for each etcd call (a catalog write answers UNAVAILABLE past it). */
export const ETCD_TIMEOUT_MS = 1_000;
/** The agent's reconnect backoff cap (not a flag: src/agent's default). */
export const AGENT_BACKOFF_CAP_MS = 10_000;

/** The `serve` flags that join a queen to the federation under `prefix` on `etcd` (or an endpoint leading to it). */
export function federationArgs(etcd: EtcdProcess | string, prefix: string): string[] {
  return [
    '--etcd', typeof etcd === 'string' ? etcd : etcd.endpoint,
    '--etcd-prefix', prefix,
    '--etcd-lease-ttl', `${LEASE_TTL_MS / 1000}s`,
    '--etcd-timeout', `${ETCD_TIMEOUT_MS}ms`,
  ];
}

export type Health = keyof typeof HealthCheckResponse_ServingStatus | 'UNREACHABLE';

/** One `hive-registry serve --etcd` process: killed, paused, restarted under the same id on the same port. */
export class QueenProcess {
  private server: ServerProcess | undefined;
  /** Every process this queen ran, the current one last (their logs tell a failing test's story). */
  private readonly runs: ServerProcess[] = [];
  private clients: QueenClient[] = [];
  private current: QueenClient | undefined;
  /** Exits nobody asked for (a code or signal), for "no queen ever exited". */
  readonly unexpectedExits: (number | string)[] = [];
  private expectingExit = false;

  constructor(
    readonly id: string,
    private boundPort: number,
    private readonly args: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Its gRPC port: kept across restarts, so agents and clients find it again. */
  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The running process (throws when the queen is down). */
  get process(): ServerProcess {
    if (this.server === undefined) throw new Error(`queen ${this.id} is not running`);
    return this.server;
  }

  get running(): boolean {
    const child = this.server?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** A client of this queen (a new one after each restart). */
  get client(): QueenClient {
    if (this.current === undefined) throw new Error(`queen ${this.id} has no client: not started`);
    return this.current;
  }

  get rpc(): QueenClient['rpc'] {
    return this.client.rpc;
  }

  get catalog(): QueenClient['catalog'] {
    return this.client.catalog;
  }

  /** Another client of this queen, closed with the queen; with `token`, every call carries it. */
  newClient(token?: string): QueenClient {
    const client = new QueenClient(this.address, token);
    this.clients.push(client);
    return client;
  }

  /**
   * Starts the process and waits until it serves (a restart under the same id may wait one lease TTL first). With
   * `anyPort`, a first start that fails is tried once more on another free port: the one found free may have been
   * taken meanwhile by a test running in parallel (only before anything was told this queen's address).
   */
  async start(token?: string, anyPort = false): Promise<void> {
    let server: ServerProcess;
    try {
      server = await startServer(['--listen', this.address, '--queen-id', this.id, ...this.args], this.env);
    } catch (error) {
      if (!anyPort || this.runs.length > 0) throw error;
      this.boundPort = await freePort();
      server = await startServer(['--listen', this.address, '--queen-id', this.id, ...this.args], this.env);
    }
    this.server = server;
    this.runs.push(server);
    this.expectingExit = false;
    void server.exited.then((code) => {
      if (!this.expectingExit) this.unexpectedExits.push(code);
    });
    this.current = this.newClient(token);
  }

  /** SIGKILL, without a word to anyone (SIGCONT first, in case it was paused). */
  async kill(): Promise<void> {
    const server = this.server;
    if (server === undefined || !this.running) return;
    this.expectingExit = true;
    server.child.kill('SIGCONT');
    server.child.kill('SIGKILL');
    await server.exited;
    this.closeClients();
  }

  /** SIGSTOP: the process keeps its sockets, answers nothing, and its timers do not run (a partition). */
  pause(): void {
    this.process.child.kill('SIGSTOP');
  }

  resume(): void {
    this.process.child.kill('SIGCONT');
  }

  /** SIGTERM and the exit code (the queen drains and revokes its lease). */
  async stop(): Promise<number | string | undefined> {
    const server = this.server;
    if (server === undefined) return undefined;
    this.expectingExit = true;
    server.child.kill('SIGCONT');
    const code = await stopServer(server);
    this.closeClients();
    return code;
  }

  /** Whether grpc.health.v1 reports `hive.v1.HiveRegistry` serving. */
  async health(): Promise<Health> {
    const { health, close } = healthClient(this.address);
    try {
      const { status } = await health.check({ service: 'hive.v1.HiveRegistry' });
      return HealthCheckResponse_ServingStatus[status] as Health;
    } catch {
      return 'UNREACHABLE';
    } finally {
      close();
    }
  }

  /** Every log line of every run of this queen, as JSON lines, runs separated by a line naming the run. */
  logText(): string {
    return this.runs.map((run, i) => [`--- ${this.id} run ${i + 1}`, ...run.logs.map((line) => JSON.stringify(line))].join('\n')).join('\n');
  }

  /** Log lines whose message starts with `prefix`. */
  logged(prefix: string): Record<string, unknown>[] {
    return (this.server?.logs ?? []).filter((line) => typeof line.msg === 'string' && line.msg.startsWith(prefix));
  }

  private closeClients(): void {
    for (const client of this.clients.splice(0)) client.close();
    this.current = undefined;
  }
}
