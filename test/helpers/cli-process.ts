import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The repository root and the built CLI (npm test builds it before jest runs). */
export const REPO_ROOT = join(__dirname, '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
/**
 * buf's native binary. node_modules/.bin/buf may be a Node wrapper that spawns it, and killing a wrapper would
 * leave the binary running, so tests run the binary itself when the platform package is there.
 */
export const BUF = ((): string => {
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch;
  const native = join(REPO_ROOT, 'node_modules', '@bufbuild', `buf-${process.platform}-${arch}`, 'bin', 'buf');
  return existsSync(native) ? native : join(REPO_ROOT, 'node_modules', '.bin', 'buf');
})();

/** A log line of the server (pino JSON). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** A `hive-registry serve` child process and what it has logged so far. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly address: string;
  /** The HTTP listener's port, when started with --http-listen. */
  readonly httpPort?: number;
  readonly logs: LogLine[];
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
}

/** Starts the built CLI's `serve` on 127.0.0.1:0 and waits for its "serving" log line to learn the port. */
export async function startServer(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  // Tests never write ./data in the checkout: an in-memory catalog unless the test names one, or the queen joins a
  // federation (--etcd), whose catalog lives in etcd (--etcd with --db exits 2).
  const named = args.includes('--db') || env.HIVE_REGISTRY_DB !== undefined;
  const federated = args.includes('--etcd') || (env.HIVE_REGISTRY_ETCD ?? '') !== '';
  const db = named || federated ? [] : ['--db', ':memory:'];
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...db, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  let httpPort: number | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 15 s; stderr: ${stderr}`)), 15_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      logs.push(parsed);
      if (parsed.msg === 'hive-registry serving' && typeof parsed.port === 'number') {
        if (typeof parsed.httpPort === 'number') httpPort = parsed.httpPort;
        clearTimeout(timer);
        resolve(parsed.port);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before serving; stderr: ${stderr}`));
    });
  });
  return { child, port, address: `127.0.0.1:${port}`, ...(httpPort === undefined ? {} : { httpPort }), logs, exited };
}

/** Sends SIGTERM and waits for the exit code; SIGKILLs after `timeoutMs` so a test never leaks a process. */
export async function stopServer(server: ServerProcess, timeoutMs = 10_000): Promise<number | string> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.exited;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), timeoutMs);
  try {
    return await server.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A `hive-registry agent` child process; `stderr` grows as it writes. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  stderr: string;
}

/**
 * Starts the built CLI's `agent` for `hiveId` against `queen`, with `args` naming its source (and any other
 * flags), logging at warn; `env` replaces the environment (default this process's).
 */
export function startAgent(queen: string, hiveId: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentProcess {
  const child = spawn(process.execPath, [CLI, 'agent', '--queen', queen, '--hive-id', hiveId, ...args, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  const agent: AgentProcess = {
    child,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))),
    stderr: '',
  };
  child.stderr?.on('data', (chunk: Buffer) => (agent.stderr += chunk.toString()));
  return agent;
}
