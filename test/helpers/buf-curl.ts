import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BUF } from './cli-process';
import { run } from './run';

/** What one `buf curl` call gave: the gRPC code (its exit code is code << 3) and the JSON it printed. */
export interface CurlResult {
  readonly grpcCode: number;
  readonly body: unknown;
  readonly stdout: string;
  readonly stderr: string;
}

const BASE_ARGS = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'];

/** A unary call, or a listing (pass ['--list-services'] as `extra` and no method), through server reflection. */
export async function bufCurl(address: string, method: string, body?: unknown, extra: string[] = []): Promise<CurlResult> {
  const args = [...BASE_ARGS, ...extra];
  if (body !== undefined) args.push('-d', JSON.stringify(body));
  args.push(`http://${address}${method === '' ? '' : `/${method}`}`);
  const result = await run(BUF, args);
  const code = result.code ?? -1;
  let parsed: unknown;
  const text = code === 0 ? result.stdout : result.stderr;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { grpcCode: code >> 3, body: parsed, stdout: result.stdout, stderr: result.stderr };
}

/** Splits concatenated pretty-printed JSON objects (as buf curl prints a stream) into whole ones. */
export class JsonObjectSplitter {
  private buffer = '';

  push(text: string): unknown[] {
    this.buffer += text;
    const objects: unknown[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}') {
        depth--;
        if (depth === 0) {
          objects.push(JSON.parse(this.buffer.slice(start, i + 1)));
          consumed = i + 1;
        }
      }
    }
    this.buffer = this.buffer.slice(consumed);
    return objects;
  }
}

/** A bidirectional `buf curl` call whose stdin stays open until close(): messages go in one at a time. */
export class BufCurlStream {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly received: unknown[] = [];
  private waiters: (() => void)[] = [];
  private stderr = '';
  private readonly exit: Promise<number>;

  constructor(address: string, method: string) {
    this.child = spawn(BUF, [...BASE_ARGS, '-d', '@-', `http://${address}/${method}`], { stdio: 'pipe' });
    const splitter = new JsonObjectSplitter();
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.received.push(...splitter.push(chunk.toString()));
      this.wake();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exit = new Promise((resolve) => {
      this.child.on('close', (code) => {
        this.wake();
        resolve(code ?? -1);
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  send(message: unknown): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** Waits until `count` messages have arrived in all (bounded), and returns them all. */
  async messages(count: number, timeoutMs = 10_000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`got ${this.received.length} of ${count} messages; stderr: ${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return [...this.received];
  }

  /** Closes stdin (a clean half-close) and returns the gRPC code from buf curl's exit code, and stderr. */
  async close(): Promise<{ grpcCode: number; stderr: string }> {
    this.child.stdin.end();
    const code = await this.exit;
    return { grpcCode: code >> 3, stderr: this.stderr };
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
