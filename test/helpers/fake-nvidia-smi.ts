// Drives test/fixtures/fake-nvidia-smi/nvidia-smi: a shell script that answers the agent's two nvidia-smi queries
// with what a test wrote. Unit, integration and e2e tests share it: give `pathEnv` / `env` to whatever looks
// nvidia-smi up (chooseGpuStats, a spawned agent), or `command` to an NvidiaSmiSource.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The directory holding the fake `nvidia-smi`: put it first on PATH. */
export const FAKE_NVIDIA_SMI_BIN_DIR = join(__dirname, '..', 'fixtures', 'fake-nvidia-smi');

export interface FakeGpu {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  /** MiB, or a literal such as '[N/A]'. */
  readonly totalMiB: number | string;
  readonly usedMiB: number | string;
  /** %, or a literal such as '[Not Supported]'. */
  readonly utilization: number | string;
}

export interface FakeComputeApp {
  readonly pid: number;
  /** MiB, or a literal such as '[N/A]'. */
  readonly usedMiB: number | string;
  readonly gpuUuid: string;
}

/** One line of `--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu`, as nvidia-smi prints it. */
export function gpuLine(gpu: FakeGpu): string {
  return [gpu.index, gpu.uuid, gpu.name, gpu.totalMiB, gpu.usedMiB, gpu.utilization].join(', ');
}

/** One line of `--query-compute-apps=pid,used_memory,gpu_uuid`. */
export function appLine(app: FakeComputeApp): string {
  return [app.pid, app.usedMiB, app.gpuUuid].join(', ');
}

export class FakeNvidiaSmi {
  /** Where the answers live (FAKE_NVIDIA_SMI_DIR). */
  readonly dir = mkdtempSync(join(tmpdir(), 'fake-nvidia-smi-'));
  /** The fake's path, for NvidiaSmiSource({ command }). */
  readonly command = join(FAKE_NVIDIA_SMI_BIN_DIR, 'nvidia-smi');

  /** A PATH with the fake first, then `basePath` (default this process's PATH). */
  pathEnv(basePath: string | undefined = process.env.PATH): string {
    if (basePath === undefined || basePath === '') return FAKE_NVIDIA_SMI_BIN_DIR;
    return `${FAKE_NVIDIA_SMI_BIN_DIR}${delimiter}${basePath}`;
  }

  /** An environment for a child process that runs `nvidia-smi`: this one's, with the fake first on PATH. */
  env(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { ...base, PATH: this.pathEnv(base.PATH), FAKE_NVIDIA_SMI_DIR: this.dir };
  }

  /** Answers from now on: the GPUs and compute processes (raw lines, or objects formatted as nvidia-smi does). */
  set(gpus: readonly (FakeGpu | string)[], apps: readonly (FakeComputeApp | string)[] = []): void {
    const text = (lines: string[]): string => lines.map((line) => `${line}\n`).join('');
    writeFileSync(join(this.dir, 'gpus.csv'), text(gpus.map((g) => (typeof g === 'string' ? g : gpuLine(g)))));
    writeFileSync(join(this.dir, 'apps.csv'), text(apps.map((a) => (typeof a === 'string' ? a : appLine(a)))));
    rmSync(join(this.dir, 'exit-code'), { force: true });
  }

  /** Every call fails from now on: `stderr` on stderr, exit code `code`. `set` ends it. */
  fail(code: number, stderr: string): void {
    writeFileSync(join(this.dir, 'stderr.txt'), stderr);
    writeFileSync(join(this.dir, 'exit-code'), String(code));
  }

  /** The arguments of every call so far, one string per call. */
  calls(): string[] {
    const log = join(this.dir, 'calls.log');
    return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((line) => line !== '') : [];
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
