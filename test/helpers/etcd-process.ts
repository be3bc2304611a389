import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's `etcd-server` puts the binary. */
export const ETCD_BINARY = process.env.ETCD_BINARY ?? '/usr/bin/etcd';

/** True when a real etcd can be started here (CI installs it; a developer machine may not have it). */
export function etcdAvailable(): boolean {
  return existsSync(ETCD_BINARY);
}

/** A free loopback TCP port (bound then released: fine for tests on one machine). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * One real etcd member on loopback with a temporary data directory, for tests: started on free ports, paused and
 * resumed (SIGSTOP/SIGCONT: a realistic partition), killed and restarted on the same ports and data, removed at the
 * end.
 */
export class EtcdProcess {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  /** The client URL, as `--etcd` takes it. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** What etcd printed so far (for a failing test's message). */
  get log(): string {
    return this.output;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(): Promise<EtcdProcess> {
    const dataDir = mkdtempSync(join(tmpdir(), 'hive-etcd-'));
    const etcd = new EtcdProcess(dataDir, await freePort(), await freePort());
    await etcd.launch();
    return etcd;
  }

  /** Starts the process (again, after `kill`) on the same ports and data, and waits until it serves. */
  async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(
      ETCD_BINARY,
      [
        '--name', 't',
        '--data-dir', this.dataDir,
        '--listen-client-urls', this.endpoint,
        '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `t=${peer}`,
        '--log-level', 'warn',
        '--logger', 'zap',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await this.waitServing(15_000);
  }

  /** Resolves once a range request over HTTP/JSON answers (the gRPC gateway: no client needed). */
  async waitServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) {
        throw new Error(`etcd exited with ${this.child.exitCode}:\n${this.output}`);
      }
      try {
        const res = await fetch(`${this.endpoint}/v3/kv/range`, {
          method: 'POST',
          body: JSON.stringify({ key: Buffer.from('probe').toString('base64') }),
          signal: AbortSignal.timeout(1_000),
        });
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`etcd did not start within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGSTOP: the process stays, its sockets stay open, nothing answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Kill, then start again on the same ports and data. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** Compacts the history up to the current revision (what auto-compaction would do). */
  async compact(): Promise<void> {
    const res = await fetch(`${this.endpoint}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('probe').toString('base64') }),
    });
    const body = (await res.json()) as { header: { revision: string } };
    await fetch(`${this.endpoint}/v3/kv/compaction`, {
      method: 'POST',
      body: JSON.stringify({ revision: body.header.revision, physical: true }),
    });
  }

  /** Kills the process and removes its data. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
