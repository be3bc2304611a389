import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GpuDevice, GpuSnapshot, GpuStatsSource } from './gpu.js';

/** Where the kernel lists DRM devices. */
export const DEFAULT_DRM_ROOT = '/sys/class/drm';

/** PCI vendor id of AMD (ATI) as sysfs prints it. */
const AMD_VENDOR = '0x1002';
/** Largest sysfs value read, in bytes: these files hold one short line. */

export interface RocmSysfsOptions {
  /** The DRM class directory. Default DEFAULT_DRM_ROOT. */
  readonly root?: string;
}

/** A sysfs file's trimmed text, or undefined when it cannot be read (missing, EIO while the GPU sleeps, ...). */
async function value(path: string): Promise<string | undefined> {
  try {
    // Sysfs attributes are at most one page: reading one whole is bounded.
    const trimmed = (await readFile(path, 'utf8')).trim();
    return trimmed === '' ? undefined : trimmed;
  } catch {
    return undefined;
  }
}

function wholeNumber(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** One `cardN` entry's device, or undefined when it is not an AMD GPU with VRAM figures. */
async function readCard(root: string, index: number): Promise<GpuDevice | undefined> {
  const dir = join(root, `card${index}`, 'device');
  const vendor = await value(join(dir, 'vendor'));
  if (vendor?.toLowerCase() !== AMD_VENDOR) return undefined;
  // APUs and older amdgpu/radeon cards lack the VRAM files: nothing this source could report for them.
  const vramTotalBytes = wholeNumber(await value(join(dir, 'mem_info_vram_total')));
  if (vramTotalBytes === undefined) return undefined;
  const [used, busy, product, deviceId] = await Promise.all([
    value(join(dir, 'mem_info_vram_used')),
    value(join(dir, 'gpu_busy_percent')),
    value(join(dir, 'product_name')),
    value(join(dir, 'device')),
  ]);
  const vramUsedBytes = wholeNumber(used);
  const busyPercent = wholeNumber(busy);
  const utilizationPercent = busyPercent !== undefined && busyPercent <= 100 ? busyPercent : undefined;
  return {
    index,
    name: product ?? (deviceId === undefined ? 'AMD GPU' : `AMD GPU ${deviceId}`),
    backend: 'rocm',
    vramTotalBytes,
    ...(vramUsedBytes === undefined ? {} : { vramUsedBytes }),
    ...(utilizationPercent === undefined ? {} : { utilizationPercent }),
  };
}

/**
 * GPU stats from amdgpu's sysfs files, for AMD machines without a tool to run: every `cardN` (N = the device's
 * index; connector entries such as `card0-DP-1` are skipped) whose `device/vendor` is 0x1002 and that has
 * `device/mem_info_vram_total`. VRAM figures are in bytes, `gpu_busy_percent` is the utilization, the name is
 * `product_name` when the driver gives one, else "AMD GPU <PCI device id>". Sysfs has no per-process view, so
 * `processes` is always empty (engines on these GPUs map only through a SPEC's `device=`). A read rejects only
 * when the directory itself cannot be listed; a file that cannot be read leaves its figure absent.
 */
export class RocmSysfsSource implements GpuStatsSource {
  readonly name = 'rocm-sysfs';
  readonly root: string;

  constructor(options: RocmSysfsOptions = {}) {
    this.root = options.root ?? DEFAULT_DRM_ROOT;
  }

  async read(): Promise<GpuSnapshot> {
    let entries: string[];
    try {
      entries = await readdir(this.root);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new Error(`rocm-sysfs: cannot list ${this.root}: ${code}`);
    }
    const indexes = entries
      .map((entry) => /^card(\d+)$/.exec(entry)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const cards = await Promise.all(indexes.map((index) => readCard(this.root, index)));
    return { devices: cards.filter((card): card is GpuDevice => card !== undefined), processes: [] };
  }
}
