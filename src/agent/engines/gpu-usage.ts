import type { EngineGpuUsage, GpuDevice, GpuSnapshot } from './gpu.js';

/** One entry of the payload's `devices`, as plain values (the poller makes the hive.v1.Device). */
export interface DeviceSummary {
  readonly deviceId: number;
  readonly backend: 'cuda' | 'rocm';
  readonly name: string;
  readonly vramTotalBytes: number;
}

/**
 * What the GPU stats say about the engine whose processes are `pids` (the process listening on its port and its
 * descendants): the compute processes among `pids`, on GPUs the snapshot lists (entries naming a GPU it does not
 * list are ignored, as is a second entry for the same process and GPU).
 * - `deviceId`: the lowest index among their GPUs; `backend`: that GPU's.
 * - `vramBytes`: the memory they hold, summed over processes and GPUs; absent when no entry reports it.
 * - `gpuPercent`: the highest utilization among their GPUs; absent when none reports it.
 * Undefined when none of `pids` holds a listed GPU.
 */
export function engineGpuUsage(pids: readonly number[], gpus: GpuSnapshot): EngineGpuUsage | undefined {
  const byUuid = new Map<string, GpuDevice>();
  for (const device of gpus.devices) if (device.uuid !== undefined) byUuid.set(device.uuid, device);
  const wanted = new Set(pids);
  const counted = new Set<string>();
  const used = new Map<number, GpuDevice>();
  let vramBytes: number | undefined;
  for (const entry of gpus.processes) {
    const device = byUuid.get(entry.gpuUuid);
    const key = `${entry.pid} ${entry.gpuUuid}`;
    if (!wanted.has(entry.pid) || device === undefined || counted.has(key)) continue;
    counted.add(key);
    used.set(device.index, device);
    if (entry.usedBytes !== undefined) vramBytes = (vramBytes ?? 0) + entry.usedBytes;
  }
  const devices = [...used.values()].sort((a, b) => a.index - b.index);
  const first = devices[0];
  if (first === undefined) return undefined;
  const percents = devices.flatMap((d) => (d.utilizationPercent === undefined ? [] : [d.utilizationPercent]));
  return {
    deviceId: first.index,
    backend: first.backend,
    ...(vramBytes === undefined ? {} : { vramBytes }),
    ...(percents.length === 0 ? {} : { gpuPercent: Math.max(...percents) }),
  };
}

/**
 * The GPU a SPEC's `device=` names, as the GPU stats list it: its `gpuPercent` (absent when not reported) and
 * backend, for the contract's override (`device_id` from the SPEC, `gpu_percent` from that GPU). Never carries
 * `vramBytes`: a GPU's used memory is not one engine's. Undefined when the stats do not list `deviceId`.
 */
export function deviceUsage(deviceId: number, gpus: GpuSnapshot): EngineGpuUsage | undefined {
  const device = gpus.devices.find((d) => d.index === deviceId);
  if (device === undefined) return undefined;
  return {
    deviceId,
    backend: device.backend,
    ...(device.utilizationPercent === undefined ? {} : { gpuPercent: device.utilizationPercent }),
  };
}

/**
 * The payload's `devices`: every listed GPU whose total memory is known (a device without it would tell the queen
 * nothing about free VRAM), ascending by index.
 */
export function devicesOf(gpus: GpuSnapshot): DeviceSummary[] {
  return gpus.devices
    .filter((d): d is GpuDevice & { vramTotalBytes: number } => d.vramTotalBytes !== undefined)
    .map((d) => ({ deviceId: d.index, backend: d.backend, name: d.name, vramTotalBytes: d.vramTotalBytes }))
    .sort((a, b) => a.deviceId - b.deviceId);
}
