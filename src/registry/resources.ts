import type { Device, Worker } from '../common/worker.js';

/**
 * Resource use and capacity of one hive. Byte figures are bigint: each reported figure is a safe integer, but a
 * sum of many need not be.
 */
export interface Resources {
  readonly workerCount: number;
  /** Sum of the workers' reported vramBytes (a worker that reports none adds nothing). */
  readonly vramUsedBytes: bigint;
  /** Sum of the workers' reported ramBytes. */
  readonly ramUsedBytes: bigint;
  /** Sum of the devices' vramTotalBytes; 0 without devices. */
  readonly vramTotalBytes: bigint;
  /** Per device, its total minus the VRAM of the workers on its deviceId, floored at 0; summed. 0 without devices. */
  readonly vramFreeBytes: bigint;
  /** The hive's reported total RAM; 0 when not reported. */
  readonly ramTotalBytes: bigint;
}

/** Computes a hive's resources from its last snapshot. */
export function computeResources(
  workers: readonly Worker[],
  devices: readonly Device[],
  ramTotalBytes: number | undefined,
): Resources {
  let vramUsedBytes = 0n;
  let ramUsedBytes = 0n;
  const vramUsedByDevice = new Map<number, bigint>();
  for (const worker of workers) {
    if (worker.vramBytes !== undefined) {
      const vram = BigInt(worker.vramBytes);
      vramUsedBytes += vram;
      if (worker.deviceId !== undefined) {
        vramUsedByDevice.set(worker.deviceId, (vramUsedByDevice.get(worker.deviceId) ?? 0n) + vram);
      }
    }
    if (worker.ramBytes !== undefined) ramUsedBytes += BigInt(worker.ramBytes);
  }
  let vramTotalBytes = 0n;
  let vramFreeBytes = 0n;
  for (const device of devices) {
    const total = BigInt(device.vramTotalBytes);
    const free = total - (vramUsedByDevice.get(device.deviceId) ?? 0n);
    vramTotalBytes += total;
    if (free > 0n) vramFreeBytes += free;
  }
  return {
    workerCount: workers.length,
    vramUsedBytes,
    ramUsedBytes,
    vramTotalBytes,
    vramFreeBytes,
    ramTotalBytes: BigInt(ramTotalBytes ?? 0),
  };
}
