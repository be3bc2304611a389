import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { GpuStatsSource } from './gpu.js';
import { NvidiaSmiSource, type NvidiaSmiOptions } from './nvidia-smi.js';
import { DEFAULT_DRM_ROOT, RocmSysfsSource } from './rocm-sysfs.js';

/** `--gpu-stats` values: the contract's three, plus `rocm` (AMD's sysfs) for machines without nvidia-smi. */
export const GPU_STATS_MODES = ['auto', 'nvidia-smi', 'rocm', 'none'] as const;
export type GpuStatsMode = (typeof GPU_STATS_MODES)[number];

export interface GpuStatsChoiceOptions {
  /** The PATH to look for nvidia-smi on (the CLI passes its environment's; undefined = nothing on PATH). */
  readonly pathEnv: string | undefined;
  /** The DRM class directory for ROCm. Default DEFAULT_DRM_ROOT. */
  readonly drmRoot?: string;
  /** Timeout and output cap of nvidia-smi runs (the command is the one found on PATH). */
  readonly nvidiaSmi?: Omit<NvidiaSmiOptions, 'command'>;
}

/** What `--gpu-stats` resolved to. */
export interface GpuStatsChoice {
  /** Undefined: no GPU stats (engines map to GPUs only through a SPEC's `device=`). */
  readonly source: GpuStatsSource | undefined;
  /** For the agent's start log: "nvidia-smi (/usr/bin/nvidia-smi)", "none (auto: no nvidia-smi on PATH, ...)". */
  readonly description: string;
}

/**
 * The absolute path of the first executable regular file `name` in `pathEnv`'s directories, or undefined. Empty
 * and relative entries are skipped: they mean the current directory, and the agent must not run whatever an
 * `nvidia-smi` there happens to be.
 */
export async function findOnPath(name: string, pathEnv: string | undefined): Promise<string | undefined> {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      if ((await stat(candidate)).isFile()) {
        await access(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // Missing or not executable: try the next directory, as a shell would.
    }
  }
  return undefined;
}

/**
 * Resolves `--gpu-stats`:
 * - `auto`: nvidia-smi when an executable `nvidia-smi` is on PATH; else ROCm's sysfs when it lists at least one
 *   AMD GPU; else none.
 * - `nvidia-smi`: nvidia-smi even when it is not on PATH (each read then fails with "nvidia-smi: not found on
 *   PATH", which the poller reports).
 * - `rocm`: ROCm's sysfs, whatever it lists now.
 * - `none`: no GPU stats.
 * Never rejects: a probe that fails counts as "not there".
 */
export async function chooseGpuStats(mode: GpuStatsMode, options: GpuStatsChoiceOptions): Promise<GpuStatsChoice> {
  const drmRoot = options.drmRoot ?? DEFAULT_DRM_ROOT;
  const rocm = (): RocmSysfsSource => new RocmSysfsSource({ root: drmRoot });
  const nvidiaSmi = (command: string): NvidiaSmiSource => new NvidiaSmiSource({ ...options.nvidiaSmi, command });
  switch (mode) {
    case 'none':
      return { source: undefined, description: 'none' };
    case 'rocm':
      return { source: rocm(), description: `rocm-sysfs (${drmRoot})` };
    case 'nvidia-smi': {
      const found = await findOnPath('nvidia-smi', options.pathEnv);
      if (found !== undefined) return { source: nvidiaSmi(found), description: `nvidia-smi (${found})` };
      return {
        // Looked up again at each run: an install made after the start is picked up.
        source: nvidiaSmi('nvidia-smi'),
        description: 'nvidia-smi (not found on PATH: GPU stats will fail until it is)',
      };
    }
    case 'auto': {
      const found = await findOnPath('nvidia-smi', options.pathEnv);
      if (found !== undefined) return { source: nvidiaSmi(found), description: `nvidia-smi (${found})` };
      const source = rocm();
      const gpus = await source.read().then((snapshot) => snapshot.devices.length, () => 0);
      if (gpus > 0) return { source, description: `rocm-sysfs (${drmRoot}: ${gpus} AMD GPU${gpus === 1 ? '' : 's'})` };
      return { source: undefined, description: `none (auto: no nvidia-smi on PATH, no AMD GPU under ${drmRoot})` };
    }
  }
}
