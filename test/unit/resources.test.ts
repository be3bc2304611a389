import type { Device, Worker } from '../../src/common/worker';
import { computeResources, type Resources } from '../../src/registry/resources';
import { makeDevice, makeWorker } from '../helpers/domain-builders';

const GIB = 1024 ** 3;
const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

const ZERO: Resources = {
  workerCount: 0,
  vramUsedBytes: 0n,
  ramUsedBytes: 0n,
  vramTotalBytes: 0n,
  vramFreeBytes: 0n,
  ramTotalBytes: 0n,
};

interface Case {
  readonly name: string;
  readonly workers: readonly Worker[];
  readonly devices: readonly Device[];
  readonly ramTotalBytes?: number;
  readonly expected: Partial<Resources>;
}

const cases: Case[] = [
  {
    name: 'no workers, no devices, no RAM report: everything 0',
    workers: [],
    devices: [],
    expected: {},
  },
  {
    name: 'sums the real vramBytes and ramBytes; a worker reporting none adds nothing',
    workers: [
      makeWorker('w1', { vramBytes: 100, ramBytes: 10 }),
      makeWorker('w2'),
      makeWorker('w3', { vramBytes: 250 }),
      makeWorker('w4', { ramBytes: 7 }),
    ],
    devices: [],
    expected: { workerCount: 4, vramUsedBytes: 350n, ramUsedBytes: 17n },
  },
  {
    name: 'a worker reporting 0 bytes adds 0',
    workers: [makeWorker('w1', { vramBytes: 0, ramBytes: 0, deviceId: 0 })],
    devices: [makeDevice(0, 1000)],
    expected: { workerCount: 1, vramTotalBytes: 1000n, vramFreeBytes: 1000n },
  },
  {
    name: 'VRAM totals and free are 0 without devices, even when workers use VRAM',
    workers: [makeWorker('w1', { vramBytes: 8 * GIB, deviceId: 0 })],
    devices: [],
    expected: { workerCount: 1, vramUsedBytes: BigInt(8 * GIB) },
  },
  {
    name: 'passes the reported total RAM through',
    workers: [],
    devices: [],
    ramTotalBytes: 64 * GIB,
    expected: { ramTotalBytes: BigInt(64 * GIB) },
  },
  {
    name: 'a device without workers is entirely free',
    workers: [],
    devices: [makeDevice(0, 24 * GIB), makeDevice(1, 16 * GIB)],
    expected: { vramTotalBytes: BigInt(40 * GIB), vramFreeBytes: BigInt(40 * GIB) },
  },
  {
    name: 'free VRAM is per device: total minus the VRAM of the workers on that device',
    workers: [
      makeWorker('w1', { deviceId: 0, vramBytes: 300 }),
      makeWorker('w2', { deviceId: 0, vramBytes: 200 }),
      makeWorker('w3', { deviceId: 1, vramBytes: 100 }),
    ],
    devices: [makeDevice(0, 1000), makeDevice(1, 1000)],
    expected: { workerCount: 3, vramUsedBytes: 600n, vramTotalBytes: 2000n, vramFreeBytes: 1400n },
  },
  {
    name: 'an over-committed device floors at 0 and does not eat into another device',
    workers: [makeWorker('w1', { deviceId: 0, vramBytes: 1500 }), makeWorker('w2', { deviceId: 1, vramBytes: 100 })],
    devices: [makeDevice(0, 1000), makeDevice(1, 1000)],
    expected: { workerCount: 2, vramUsedBytes: 1600n, vramTotalBytes: 2000n, vramFreeBytes: 900n },
  },
  {
    name: 'a device used exactly to its total has 0 free',
    workers: [makeWorker('w1', { deviceId: 0, vramBytes: 1000 })],
    devices: [makeDevice(0, 1000)],
    expected: { workerCount: 1, vramUsedBytes: 1000n, vramTotalBytes: 1000n, vramFreeBytes: 0n },
  },
  {
    name: 'a worker without deviceId counts as used but reduces no device',
    workers: [makeWorker('w1', { vramBytes: 400 })],
    devices: [makeDevice(0, 1000), makeDevice(1, 500)],
    expected: { workerCount: 1, vramUsedBytes: 400n, vramTotalBytes: 1500n, vramFreeBytes: 1500n },
  },
  {
    name: 'a worker on a device the hive did not report reduces no device',
    workers: [makeWorker('w1', { deviceId: 7, vramBytes: 400 })],
    devices: [makeDevice(0, 1000)],
    expected: { workerCount: 1, vramUsedBytes: 400n, vramTotalBytes: 1000n, vramFreeBytes: 1000n },
  },
  {
    name: 'a worker on a device with no vramBytes reduces nothing',
    workers: [makeWorker('w1', { deviceId: 0 })],
    devices: [makeDevice(0, 1000)],
    expected: { workerCount: 1, vramTotalBytes: 1000n, vramFreeBytes: 1000n },
  },
  {
    name: 'sums beyond 2^53 are exact',
    workers: [
      makeWorker('w1', { deviceId: 0, vramBytes: MAX_SAFE, ramBytes: MAX_SAFE }),
      makeWorker('w2', { deviceId: 1, vramBytes: MAX_SAFE, ramBytes: MAX_SAFE }),
      makeWorker('w3', { deviceId: 2, vramBytes: 1, ramBytes: 1 }),
    ],
    devices: [makeDevice(0, MAX_SAFE), makeDevice(1, MAX_SAFE), makeDevice(2, MAX_SAFE), makeDevice(3, MAX_SAFE)],
    ramTotalBytes: MAX_SAFE,
    expected: {
      workerCount: 3,
      vramUsedBytes: 18014398509481983n, // 2 * (2^53 - 1) + 1
      ramUsedBytes: 18014398509481983n,
      vramTotalBytes: 36028797018963964n, // 4 * (2^53 - 1)
      vramFreeBytes: 18014398509481981n, // 0 + 0 + (2^53 - 2) + (2^53 - 1)
      ramTotalBytes: 9007199254740991n,
    },
  },
];

describe('computeResources', () => {
  test.each(cases)('$name', ({ workers, devices, ramTotalBytes, expected }) => {
    expect(computeResources(workers, devices, ramTotalBytes)).toEqual({ ...ZERO, ...expected });
  });

  test('returns bigint byte figures and a number worker count', () => {
    const resources = computeResources([makeWorker('w1', { vramBytes: 1 })], [makeDevice(0, 2)], 3);
    expect(typeof resources.workerCount).toBe('number');
    for (const key of ['vramUsedBytes', 'ramUsedBytes', 'vramTotalBytes', 'vramFreeBytes', 'ramTotalBytes'] as const) {
      expect(typeof resources[key]).toBe('bigint');
    }
  });

  test('does not depend on the order of workers or devices', () => {
    const workers = [
      makeWorker('a', { deviceId: 1, vramBytes: 700 }),
      makeWorker('b', { deviceId: 0, vramBytes: 1200 }),
      makeWorker('c', { vramBytes: 50 }),
    ];
    const devices = [makeDevice(0, 1000), makeDevice(1, 1000)];
    const forward = computeResources(workers, devices, undefined);
    const backward = computeResources([...workers].reverse(), [...devices].reverse(), undefined);
    expect(forward).toEqual(backward);
    expect(forward.vramFreeBytes).toBe(300n);
  });
});
