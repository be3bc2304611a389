import { execFile, type ExecFileException } from 'node:child_process';
import type { GpuDevice, GpuProcess, GpuSnapshot, GpuStatsSource } from './gpu.js';

/** Arguments of the per-GPU query: one line per GPU. */
export const NVIDIA_SMI_GPU_ARGS: readonly string[] = [
  '--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu',
  '--format=csv,noheader,nounits',
];

/** Arguments of the per-process query: one line per (process, GPU). */
export const NVIDIA_SMI_APPS_ARGS: readonly string[] = [
  '--query-compute-apps=pid,used_memory,gpu_uuid',
  '--format=csv,noheader,nounits',
];

/** Default time one nvidia-smi run may take, in ms: a wedged driver can hang it for minutes. */
export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 5_000;
/** Default cap on one run's stdout (and stderr), in bytes: far above a 16-GPU box with hundreds of processes. */
export const DEFAULT_NVIDIA_SMI_MAX_OUTPUT_BYTES = 1024 * 1024;

const MIB = 1_048_576;
/** How much of a bad line or of nvidia-smi's complaint goes into an error message. */
const MAX_QUOTED_CHARS = 200;

export interface NvidiaSmiOptions {
  /** The command: a name looked up on PATH by the OS, or a path. Default `nvidia-smi`. */
  readonly command?: string;
  /** Per run, in ms. Default DEFAULT_NVIDIA_SMI_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Per run and stream, in bytes. Default DEFAULT_NVIDIA_SMI_MAX_OUTPUT_BYTES. */
  readonly maxOutputBytes?: number;
  /** The runs' environment (PATH for the lookup among it). Default: the agent's own. */
  readonly env?: NodeJS.ProcessEnv;
}

function quote(text: string): string {
  const cut = text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}...` : text;
  return JSON.stringify(cut);
}

/** A field as nvidia-smi prints it: empty and bracketed values (`[N/A]`, `[Not Supported]`, ...) are absent. */
function present(field: string | undefined): string | undefined {
  const value = field?.trim() ?? '';
  return value === '' || (value.startsWith('[') && value.endsWith(']')) ? undefined : value;
}

/** The non-blank lines of an answer, numbered from 1, minus the "No ... found" line some versions print. */
function dataLines(stdout: string): { line: string; number: number }[] {
  return stdout
    .split(/\r?\n/)
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => line.trim() !== '' && !/^No .* found\.?$/i.test(line.trim()));
}

class LineError extends Error {
  constructor(query: string, number: number, line: string, problem: string) {
    super(`nvidia-smi ${query}: line ${number} ${quote(line)}: ${problem}`);
    this.name = 'NvidiaSmiParseError';
  }
}

function parseCount(field: string, raw: string | undefined): number {
  const value = raw?.trim() ?? '';
  if (!/^\d+$/.test(value)) throw new Error(`${field} must be a whole number, got ${quote(value)}`);
  return Number(value);
}

function parseMib(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Error(`${field} must be a number of MiB, got ${quote(value)}`);
  return Math.round(Number(value) * MIB);
}

function parsePercent(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n <= 100)) throw new Error(`${field} must be a number from 0 to 100, got ${quote(value)}`);
  return n;
}

/**
 * Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu
 * --format=csv,noheader,nounits`: one GpuDevice (backend `cuda`) per line, memory in bytes (MiB x 1048576).
 * A name holding commas is kept whole (the fields around it are fixed). Throws an Error naming the line when one
 * has too few fields or a value that is neither a number nor bracketed.
 */
export function parseGpuQuery(stdout: string): GpuDevice[] {
  return dataLines(stdout).map(({ line, number }) => {
    const fields = line.split(',');
    if (fields.length < 6) throw new LineError('--query-gpu', number, line, `expected 6 fields, got ${fields.length}`);
    const tail = fields.slice(-3);
    try {
      const index = parseCount('index', fields[0]);
      const uuid = present(fields[1]);
      const name = present(fields.slice(2, -3).join(',')) ?? `GPU ${index}`;
      const vramTotalBytes = parseMib('memory.total', present(tail[0]));
      const vramUsedBytes = parseMib('memory.used', present(tail[1]));
      const utilizationPercent = parsePercent('utilization.gpu', present(tail[2]));
      return {
        index,
        ...(uuid === undefined ? {} : { uuid }),
        name,
        backend: 'cuda' as const,
        ...(vramTotalBytes === undefined ? {} : { vramTotalBytes }),
        ...(vramUsedBytes === undefined ? {} : { vramUsedBytes }),
        ...(utilizationPercent === undefined ? {} : { utilizationPercent }),
      };
    } catch (error) {
      throw new LineError('--query-gpu', number, line, (error as Error).message);
    }
  });
}

/**
 * Parses `nvidia-smi --query-compute-apps=pid,used_memory,gpu_uuid --format=csv,noheader,nounits`: one
 * GpuProcess per line (a process on two GPUs is two lines), memory in bytes. A line without a GPU uuid (`[N/A]`)
 * is dropped: it cannot be tied to a GPU. Throws an Error naming the line when it does not have 3 fields, its pid
 * is not a positive whole number or its memory is neither a number nor bracketed.
 */
export function parseComputeAppsQuery(stdout: string): GpuProcess[] {
  const processes: GpuProcess[] = [];
  for (const { line, number } of dataLines(stdout)) {
    const fields = line.split(',');
    if (fields.length !== 3) {
      throw new LineError('--query-compute-apps', number, line, `expected 3 fields, got ${fields.length}`);
    }
    try {
      const pid = parseCount('pid', fields[0]);
      if (pid === 0) throw new Error('pid must be positive, got 0');
      const usedBytes = parseMib('used_memory', present(fields[1]));
      const gpuUuid = present(fields[2]);
      if (gpuUuid !== undefined) processes.push({ pid, gpuUuid, ...(usedBytes === undefined ? {} : { usedBytes }) });
    } catch (error) {
      throw new LineError('--query-compute-apps', number, line, (error as Error).message);
    }
  }
  return processes;
}

interface Limits {
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly env: NodeJS.ProcessEnv | undefined;
}

/** Runs the command with `args` (no shell) and resolves with its stdout; rejects with a short, readable Error. */
function run(command: string, args: readonly string[], limits: Limits): Promise<string> {
  const { timeoutMs, maxOutputBytes, env } = limits;
  const label = `${command} ${args[0]?.split('=')[0] ?? ''}`;
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      // SIGKILL at the timeout: a hung query has nothing to clean up.
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: maxOutputBytes, killSignal: 'SIGKILL', env },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        if (error === null) {
          resolve(stdout);
          return;
        }
        const code = error.code as number | string | undefined;
        // A command that cannot start is the same failure for both queries: say it as people look for it.
        if (code === 'ENOENT') {
          reject(new Error(`${command}: ${command.includes('/') ? 'not found' : 'not found on PATH'}`));
        } else if (code === 'EACCES') {
          reject(new Error(`${command}: permission denied`));
        } else {
          reject(new Error(`${label}: ${failure(error, timeoutMs, maxOutputBytes, stdout, stderr)}`));
        }
      },
    );
  });
}

function failure(
  error: ExecFileException,
  timeoutMs: number,
  maxOutputBytes: number,
  stdout: string,
  stderr: string,
): string {
  // ExecFileException types `code` as number, but spawn and stream failures carry a string code there.
  const code = error.code as number | string | undefined;
  if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return `output over ${maxOutputBytes} bytes`;
  if (error.killed === true && error.signal === 'SIGKILL') return `timed out after ${timeoutMs} ms`;
  // nvidia-smi prints some failures ("couldn't communicate with the NVIDIA driver") on stdout.
  const said = (stderr.trim() || stdout.trim()).split(/\r?\n/)[0] ?? '';
  const how = typeof code === 'number' ? `exited with code ${code}` : `killed by ${error.signal ?? 'a signal'}`;
  if (said === '') return how;
  return `${how}: ${said.length > MAX_QUOTED_CHARS ? `${said.slice(0, MAX_QUOTED_CHARS)}...` : said}`;
}

/**
 * GPU stats from nvidia-smi: each read runs the two queries (in parallel, each bounded by the timeout and the
 * output cap) and parses them. Reads asked for while one runs share it, so a slow nvidia-smi never piles up.
 */
export class NvidiaSmiSource implements GpuStatsSource {
  readonly name = 'nvidia-smi';
  readonly command: string;
  private readonly limits: Limits;
  private reading: Promise<GpuSnapshot> | undefined;

  constructor(options: NvidiaSmiOptions = {}) {
    this.command = options.command ?? 'nvidia-smi';
    this.limits = {
      timeoutMs: options.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
      maxOutputBytes: options.maxOutputBytes ?? DEFAULT_NVIDIA_SMI_MAX_OUTPUT_BYTES,
      env: options.env,
    };
  }

  read(): Promise<GpuSnapshot> {
    this.reading ??= this.readOnce().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readOnce(): Promise<GpuSnapshot> {
    const [gpus, apps] = await Promise.all([
      run(this.command, NVIDIA_SMI_GPU_ARGS, this.limits),
      run(this.command, NVIDIA_SMI_APPS_ARGS, this.limits),
    ]);
    return { devices: parseGpuQuery(gpus), processes: parseComputeAppsQuery(apps) };
  }
}
