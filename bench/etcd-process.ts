import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adoptProcess } from './bench-child.js';

// One real etcd for the federation scenario, adapted from the test suite's helper (bench never imports test/):
// free loopback ports, a fresh data directory, SIGKILL and removal at the end, and its own write counters.

/** Where Debian's `etcd-server` puts the binary. */
export const ETCD_BINARY = process.env['ETCD_BINARY'] ?? '/usr/bin/etcd';
const START_TIMEOUT_MS = 15_000;
/** How much of etcd's output to keep for an error message. */
const OUTPUT_TAIL_CHARS = 4_000;

/** True when a real etcd can be started here. */
export function etcdAvailable(): boolean {
  return existsSync(ETCD_BINARY);
}

/** A free loopback TCP port (bound then released: fine on one machine). */
async function freePort(): Promise<number> {
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
 * etcd's own counters at one instant, from its Prometheus `/metrics` (etcd 3.4 names). Each transaction that
 * writes bumps the store's revision by one however many keys it puts or deletes, so `revision` counts write
 * transactions; `puts` and `deletes` count keys, `ranges` reads (etcd 3.4's `etcd_mvcc_txn_total` only counts
 * transactions of more than one operation, so it says little here); `proposals` every raft entry applied
 * (writes, lease grants and revocations; lease keep-alives are not entries); `walFsyncs` the fsyncs of its
 * write-ahead log.
 */
export interface EtcdCounters {
  readonly revision: number;
  readonly puts: number;
  readonly deletes: number;
  readonly ranges: number;
  readonly proposals: number;
  readonly walFsyncs: number;
  /** Time spent in those fsyncs, seconds. */
  readonly walFsyncSeconds: number;
  readonly keys: number;
  readonly dbBytes: number;
}

const METRICS: Readonly<Record<keyof EtcdCounters, string>> = {
  revision: 'etcd_debugging_mvcc_current_revision',
  puts: 'etcd_mvcc_put_total',
  deletes: 'etcd_mvcc_delete_total',
  ranges: 'etcd_mvcc_range_total',
  proposals: 'etcd_server_proposals_applied_total',
  walFsyncs: 'etcd_disk_wal_fsync_duration_seconds_count',
  walFsyncSeconds: 'etcd_disk_wal_fsync_duration_seconds_sum',
  keys: 'etcd_debugging_mvcc_keys_total',
  dbBytes: 'etcd_mvcc_db_total_size_in_bytes',
};

/** One etcd member on loopback with a temporary data directory. */
export class EtcdProcess {
  private output = '';
  private readonly exited: Promise<void>;
  private readonly release: () => void;

  private constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
    readonly clientPort: number,
  ) {
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.release = adoptProcess(child);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** The client URL, as `--etcd` takes it. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts etcd on free ports in a fresh temporary directory and waits until it serves. */
  static async start(): Promise<EtcdProcess> {
    const dataDir = mkdtempSync(join(tmpdir(), 'hive-registry-bench-etcd-'));
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const child = spawn(
      ETCD_BINARY,
      [
        '--name', 'bench',
        '--data-dir', dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `bench=${peer}`,
        '--log-level', 'warn',
        '--logger', 'zap',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const etcd = new EtcdProcess(child, dataDir, clientPort);
    try {
      await etcd.waitServing(START_TIMEOUT_MS);
    } catch (error) {
      await etcd.stop();
      throw error;
    }
    return etcd;
  }

  /** Its counters now. */
  async counters(): Promise<EtcdCounters> {
    const response = await fetch(`${this.endpoint}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`etcd /metrics answered ${response.status}`);
    const read = (name: string): number => {
      const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      if (match === null) throw new Error(`etcd /metrics has no ${name}`);
      return Number(match[1]);
    };
    const entries = Object.entries(METRICS).map(([key, name]) => [key, read(name)]);
    return Object.fromEntries(entries) as unknown as EtcdCounters;
  }

  /** SIGKILLs etcd, waits for its exit and removes its data. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    this.release();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Resolves once a range request over HTTP/JSON answers (the gRPC gateway: no client needed). */
  private async waitServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`etcd exited with ${this.child.exitCode}:\n${this.output}`);
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
}
