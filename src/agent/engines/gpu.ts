/**
 * The machine's GPUs as the agent sees them: the seam between the GPU stats sources (nvidia-smi, ROCm's sysfs)
 * and the poller, which maps each engine to its GPUs through the processes listening on the engine's port.
 */

/** One GPU. Figures a source could not read (`[N/A]`, `[Not Supported]`, a missing file) are absent. */
export interface GpuDevice {
  /** The device's index, as the source numbers it (nvidia-smi `index`; the DRM card number for ROCm). */
  readonly index: number;
  /** nvidia-smi's `uuid` (GPU-...): how compute processes name their GPU. */
  readonly uuid?: string;
  readonly name: string;
  readonly backend: 'cuda' | 'rocm';
  readonly vramTotalBytes?: number;
  readonly vramUsedBytes?: number;
  /** 0-100. */
  readonly utilizationPercent?: number;
}

/** One process's use of one GPU (nvidia-smi --query-compute-apps: a process on two GPUs is two entries). */
export interface GpuProcess {
  readonly pid: number;
  /** The GPU's uuid, matching GpuDevice.uuid. */
  readonly gpuUuid: string;
  /** Memory the process holds on that GPU, in bytes; absent when not reported. */
  readonly usedBytes?: number;
}

/** What one read of a GPU stats source found. */
export interface GpuSnapshot {
  readonly devices: readonly GpuDevice[];
  /** Compute processes (empty where the source cannot tell them, as ROCm's sysfs cannot). */
  readonly processes: readonly GpuProcess[];
}

/** A place to read GPU stats from. */
export interface GpuStatsSource {
  /** `nvidia-smi`, `rocm-sysfs`: for logs. */
  readonly name: string;
  /** One read. Rejects with an Error whose message says why (command missing, timed out, unparsable output). */
  read(): Promise<GpuSnapshot>;
}

/** What the GPU mapping says about one engine: absent fields were not found. */
export interface EngineGpuUsage {
  /** The lowest index among the engine's GPUs. */
  readonly deviceId: number;
  /** Memory its processes hold, summed over processes and GPUs, in bytes; absent when none was reported. */
  readonly vramBytes?: number;
  /** The highest utilization among its GPUs. */
  readonly gpuPercent?: number;
  readonly backend: 'cuda' | 'rocm';
}
