import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Every child still running, so the orchestrator can kill them all by pid on any way out. */
const running = new Set<BenchChild>();
/** Processes of the benchmark that are not Node children (etcd): killed with the children on any way out. */
const adopted = new Set<ChildProcess>();

/**
 * How many stderr lines of a child to keep for error messages: its first ones (a CLI's refusal comes first, before
 * its usage text) and its last ones.
 */
const STDERR_HEAD_LINES = 5;
const STDERR_TAIL_LINES = 20;

interface Waiter {
  readonly accept: (event: Record<string, unknown>) => boolean;
  readonly resolve: (event: Record<string, unknown>) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One child process of the benchmark (`node dist/bench/<script>.js ...`, never through npx), speaking JSON lines
 * on stdout. Its pid is kept; `stop` ends it (SIGTERM, then SIGKILL) and `killAllChildren` ends every one left.
 */
export class BenchChild {
  private readonly process: ChildProcessWithoutNullStreams;
  private readonly events: Record<string, unknown>[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly stderrHead: string[] = [];
  private readonly stderrTail: string[] = [];
  /** Lines dropped between the head and the tail. */
  private stderrSkipped = 0;
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    script: string,
    args: readonly string[],
    nodeOptions: readonly string[] = [],
  ) {
    // stdin, stdout and stderr are pipes (spawn's default): events out, commands in, stderr kept for errors.
    this.process = spawn(process.execPath, [...nodeOptions, join(__dirname, script), ...args]);
    running.add(this);
    createInterface({ input: this.process.stdout }).on('line', (line) => this.onLine(line));
    createInterface({ input: this.process.stderr }).on('line', (line) => this.keepStderr(line));
    this.process.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal === null ? null : -1);
        running.delete(this);
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`${this.name} exited (code ${code}, signal ${signal})${this.stderrText()}`));
        }
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Resolves with the first event (past or future) that `accept` takes; rejects on exit or after `timeoutMs`. */
  waitFor(accept: (event: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const index = this.events.findIndex(accept);
    if (index >= 0) return Promise.resolve(this.events.splice(index, 1)[0] ?? {});
    if (this.exitCode !== undefined) {
      return Promise.reject(new Error(`${this.name} already exited (code ${this.exitCode})${this.stderrText()}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no matching event within ${timeoutMs} ms${this.stderrText()}`));
      }, timeoutMs);
      const waiter: Waiter = { accept, resolve, reject, timer };
      this.waiters.push(waiter);
    });
  }

  /** Resolves with the next event named `name`; a 'failed' event from the child rejects. */
  async next(name: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const event = await this.waitFor((e) => e['event'] === name || e['event'] === 'failed', timeoutMs);
    if (event['event'] === 'failed') throw new Error(`${this.name} failed: ${String(event['error'])}`);
    return event;
  }

  /** The events received so far that nothing waited for and `accept` takes (kept: a later wait still finds them). */
  received(accept: (event: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    return this.events.filter(accept);
  }

  /** Writes one command line on the child's stdin. */
  send(line: string): void {
    this.process.stdin.write(`${line}\n`);
  }

  /** Ends the child: SIGTERM (and stdin closed), then SIGKILL after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 4_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.process.stdin.end();
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resolves once the child has exited on its own, with its exit code; kills it after `timeoutMs`. */
  async exit(timeoutMs: number): Promise<number | null> {
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return this.exitCode ?? null;
  }

  /** SIGKILL now, synchronously (for exit paths). */
  kill(): void {
    if (this.exitCode === undefined) this.process.kill('SIGKILL');
  }

  private onLine(line: string): void {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.keepStderr(`(stdout) ${line}`);
      return;
    }
    const index = this.waiters.findIndex((w) => w.accept(event));
    const waiter = index >= 0 ? this.waiters.splice(index, 1)[0] : undefined;
    if (waiter === undefined) {
      this.events.push(event);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(event);
  }

  private keepStderr(line: string): void {
    if (this.stderrHead.length < STDERR_HEAD_LINES) {
      this.stderrHead.push(line);
      return;
    }
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) {
      this.stderrTail.shift();
      this.stderrSkipped++;
    }
  }

  private stderrText(): string {
    if (this.stderrHead.length === 0) return '';
    const skipped = this.stderrSkipped === 0 ? [] : [`(${this.stderrSkipped} lines left out)`];
    return `\n  stderr:\n    ${[...this.stderrHead, ...skipped, ...this.stderrTail].join('\n    ')}`;
  }
}

/** Stops every child still running (SIGTERM, then SIGKILL). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

/** SIGKILLs every child still running, synchronously: for process exit and signal handlers. */
export function killAllChildren(): void {
  for (const child of running) child.kill();
  for (const process of adopted) if (process.exitCode === null && process.signalCode === null) process.kill('SIGKILL');
}

/**
 * Has `killAllChildren` (and so every way out of the bench) SIGKILL `process`, a child that is not a BenchChild;
 * returns what forgets it again once its owner has ended it.
 */
export function adoptProcess(process: ChildProcess): () => void {
  adopted.add(process);
  return () => adopted.delete(process);
}
