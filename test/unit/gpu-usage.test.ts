import type { GpuDevice, GpuSnapshot } from '../../src/agent/engines/gpu';
import { deviceUsage, devicesOf, engineGpuUsage } from '../../src/agent/engines/gpu-usage';

const GIB = 1024 ** 3;

function gpu(index: number, extra: Partial<GpuDevice> = {}): GpuDevice {
  return { index, uuid: `GPU-${index}`, name: 'NVIDIA H100', backend: 'cuda', vramTotalBytes: 80 * GIB, ...extra };
}

/** Four GPUs; an engine (pids 10, 11, 12) on GPUs 1 and 3, another process (99) on GPU 0. */
const SNAPSHOT: GpuSnapshot = {
  devices: [
    gpu(0, { utilizationPercent: 100 }),
    gpu(1, { utilizationPercent: 40 }),
    gpu(2, { utilizationPercent: 90 }),
    gpu(3, { utilizationPercent: 70 }),
  ],
  processes: [
    { pid: 99, gpuUuid: 'GPU-0', usedBytes: 5 * GIB },
    { pid: 11, gpuUuid: 'GPU-3', usedBytes: 30 * GIB },
    { pid: 12, gpuUuid: 'GPU-1', usedBytes: 20 * GIB },
    { pid: 12, gpuUuid: 'GPU-3', usedBytes: 1 * GIB },
  ],
};

describe('engineGpuUsage', () => {
  test('lowest GPU index, memory summed over processes and GPUs, highest utilization of those GPUs', () => {
    expect(engineGpuUsage([10, 11, 12], SNAPSHOT)).toStrictEqual({
      deviceId: 1,
      vramBytes: 51 * GIB,
      gpuPercent: 70,
      backend: 'cuda',
    });
  });

  test('only the processes among the pids count', () => {
    expect(engineGpuUsage([11], SNAPSHOT)).toStrictEqual({ deviceId: 3, vramBytes: 30 * GIB, gpuPercent: 70, backend: 'cuda' });
    expect(engineGpuUsage([99, 1234], SNAPSHOT)).toStrictEqual({ deviceId: 0, vramBytes: 5 * GIB, gpuPercent: 100, backend: 'cuda' });
  });

  test('undefined when no process of the engine holds a GPU', () => {
    expect(engineGpuUsage([10], SNAPSHOT)).toBeUndefined();
    expect(engineGpuUsage([], SNAPSHOT)).toBeUndefined();
    expect(engineGpuUsage([11], { devices: SNAPSHOT.devices, processes: [] })).toBeUndefined();
  });

  test('figures not reported stay absent; a GPU that reports them still counts', () => {
    const snapshot: GpuSnapshot = {
      devices: [gpu(0), gpu(1, { utilizationPercent: 12 }), gpu(2)],
      processes: [
        { pid: 5, gpuUuid: 'GPU-0' },
        { pid: 5, gpuUuid: 'GPU-2' },
        { pid: 6, gpuUuid: 'GPU-1' },
      ],
    };
    expect(engineGpuUsage([5], snapshot)).toStrictEqual({ deviceId: 0, backend: 'cuda' });
    expect(engineGpuUsage([5, 6], snapshot)).toStrictEqual({ deviceId: 0, gpuPercent: 12, backend: 'cuda' });
  });

  test('entries for GPUs the snapshot does not list, and repeated entries, are ignored', () => {
    const snapshot: GpuSnapshot = {
      devices: [gpu(4, { utilizationPercent: 3 })],
      processes: [
        { pid: 5, gpuUuid: 'MIG-unknown', usedBytes: 7 * GIB },
        { pid: 5, gpuUuid: 'GPU-4', usedBytes: 2 * GIB },
        { pid: 5, gpuUuid: 'GPU-4', usedBytes: 2 * GIB },
      ],
    };
    expect(engineGpuUsage([5], snapshot)).toStrictEqual({ deviceId: 4, vramBytes: 2 * GIB, gpuPercent: 3, backend: 'cuda' });
    expect(engineGpuUsage([5], { devices: [], processes: snapshot.processes })).toBeUndefined();
  });
});

describe('deviceUsage', () => {
  test("the named GPU's utilization and backend, never its memory", () => {
    expect(deviceUsage(2, SNAPSHOT)).toStrictEqual({ deviceId: 2, gpuPercent: 90, backend: 'cuda' });
    const rocm: GpuSnapshot = { devices: [{ index: 1, name: 'AMD GPU', backend: 'rocm', vramUsedBytes: 9 }], processes: [] };
    expect(deviceUsage(1, rocm)).toStrictEqual({ deviceId: 1, backend: 'rocm' });
  });

  test('undefined for a GPU the stats do not list', () => {
    expect(deviceUsage(7, SNAPSHOT)).toBeUndefined();
  });
});

describe('devicesOf', () => {
  test('devices with a known total, by index, as plain values', () => {
    const snapshot: GpuSnapshot = {
      devices: [
        gpu(2, { name: 'NVIDIA L4', vramTotalBytes: 24 * GIB }),
        { index: 1, name: 'NVIDIA GB10', backend: 'cuda' },
        { index: 0, name: 'AMD Instinct MI210', backend: 'rocm', vramTotalBytes: 64 * GIB, utilizationPercent: 5 },
      ],
      processes: [],
    };
    expect(devicesOf(snapshot)).toStrictEqual([
      { deviceId: 0, backend: 'rocm', name: 'AMD Instinct MI210', vramTotalBytes: 64 * GIB },
      { deviceId: 2, backend: 'cuda', name: 'NVIDIA L4', vramTotalBytes: 24 * GIB },
    ]);
    expect(devicesOf({ devices: [], processes: [] })).toStrictEqual([]);
  });
});
