import type { Device, Worker, WorkerEntry } from '../../src/common/worker';
import type { Heartbeat } from '../../src/registry/types';

/** A healthy, idle CUDA worker with a valid URL; any field can be overridden. */
export function makeWorker(workerId: string, overrides: Partial<Worker> = {}): Worker {
  return {
    workerId,
    state: 'idle',
    url: `http://127.0.0.1:9300/${workerId}`,
    backend: 'cuda',
    health: 'healthy',
    ...overrides,
  };
}

/** One CUDA device of `vramTotalBytes`. */
export function makeDevice(deviceId: number, vramTotalBytes: number, overrides: Partial<Device> = {}): Device {
  return { deviceId, backend: 'cuda', name: `gpu-${deviceId}`, vramTotalBytes, ...overrides };
}

/** A full-snapshot heartbeat payload (unchanged = false). */
export function snapshot(
  hiveId: string,
  sequence: number | bigint,
  workers: readonly Worker[] = [],
  overrides: Partial<Heartbeat> = {},
): Heartbeat {
  return { hiveId, sequence: BigInt(sequence), unchanged: false, workers, devices: [], ...overrides };
}

/** A liveness tick (unchanged = true, no workers, no devices). */
export function tick(hiveId: string, sequence: number | bigint, overrides: Partial<Heartbeat> = {}): Heartbeat {
  return { hiveId, sequence: BigInt(sequence), unchanged: true, workers: [], devices: [], ...overrides };
}

/** A scheduler candidate: `worker` on `hiveId`, online unless told otherwise. */
export function makeEntry(hiveId: string, worker: Worker, hiveOnline = true): WorkerEntry {
  return { hiveId, worker, hiveOnline };
}
