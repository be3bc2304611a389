import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** Another process took a port chosen for etcd. */
class PortTakenError extends Error {}

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

  /** Its member name, unique to its data directory: tells this etcd from another one answering on its port. */
  get name(): string {
    return basename(this.dataDir);
  }

  static async start(): Promise<EtcdProcess> {
    // A port found free can be taken by another process (a parallel test file's etcd) before etcd binds it: then
    // this etcd exits, and the other one must not be mistaken for it. Fresh ports and data, a few times.
    for (let attempt = 1; ; attempt += 1) {
      const dataDir = mkdtempSync(join(tmpdir(), 'hive-etcd-'));
      const etcd = new EtcdProcess(dataDir, await freePort(), await freePort());
      try {
        await etcd.launch();
        return etcd;
      } catch (error) {
        await etcd.stop();
        if (!(error instanceof PortTakenError) || attempt >= 3) throw error;
      }
    }
  }

  /** Starts the process (again, after `kill`) on the same ports and data, and waits until it serves. */
  async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(
      ETCD_BINARY,
      [
        '--name', this.name,
        '--data-dir', this.dataDir,
        '--listen-client-urls', this.endpoint,
        '--advertise-client-urls', this.endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `${this.name}=${peer}`,
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

  /** Resolves once this etcd (its member name) answers over HTTP/JSON (the gRPC gateway: no client needed). */
  async waitServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) {
        throw new Error(`etcd exited with ${this.child.exitCode}:\n${this.output}`);
      }
      try {
        const res = await fetch(`${this.endpoint}/v3/cluster/member/list`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(1_000),
        });
        if (res.ok) {
          const { members = [] } = (await res.json()) as { members?: { name?: string }[] };
          if (members.some((member) => member.name === this.name)) return;
          if (members.length > 0) {
            // Another etcd holds the port: this one fails to bind and exits.
            await this.kill();
            throw new PortTakenError(`another etcd (${members.map((m) => m.name).join(', ')}) answers on ${this.endpoint}`);
          }
        }
      } catch (error) {
        if (error instanceof PortTakenError) throw error;
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

  /** One key as etcd holds it now (read over the HTTP/JSON gateway), or undefined when absent. */
  async get(key: string): Promise<{ value: string; modRevision: bigint; lease: string } | undefined> {
    const res = await fetch(`${this.endpoint}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await res.json()) as { kvs?: { value?: string; mod_revision?: string; lease?: string }[] };
    const kv = body.kvs?.[0];
    if (kv === undefined) return undefined;
    return {
      value: Buffer.from(kv.value ?? '', 'base64').toString('utf8'),
      modRevision: BigInt(kv.mod_revision ?? '0'),
      lease: kv.lease ?? '0',
    };
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
