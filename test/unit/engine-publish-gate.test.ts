import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { WorkerInit } from '../../src/agent/hive-snapshot';
import { difference, PublishGate } from '../../src/agent/engines/publish-gate';
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';

function w(overrides: Record<string, unknown> = {}): WorkerInit {
  return { workerId: 'w0', state: WorkerStatus.IDLE, url: 'http://10.0.0.7:8000', gpuPercent: 50, kvCacheUsage: 0.5, requestsRunning: 1, ...overrides };
}

describe('difference', () => {
  it.each([
    [{}, 'same'],
    [{ lastHeartbeat: timestampFromMs(5) }, 'same'],
    [{ gpuPercent: 54.9 }, 'small'],
    [{ gpuPercent: 45.1, kvCacheUsage: 0.54 }, 'small'],
    [{ gpuPercent: 55 }, 'real'],
    [{ kvCacheUsage: 0.55 }, 'real'],
    [{ gpuPercent: undefined }, 'real'],
    [{ requestsRunning: 2 }, 'real'],
    [{ state: WorkerStatus.BUSY }, 'real'],
    [{ statusMessage: 'GET /health: 500' }, 'real'],
    [{ engineVersion: '0.11.1' }, 'real'],
  ])('%j is %s', (change, expected) => {
    expect(difference(w(), w(change))).toBe(expected);
  });
});

describe('PublishGate', () => {
  it('publishes real changes at once and small moves with the next real change', () => {
    const gate = new PublishGate();
    expect(gate.update([w()], 0)).toBe(true);
    expect(gate.update([w({ gpuPercent: 52, lastHeartbeat: timestampFromMs(1) })], 1_000)).toBe(false);
    expect(gate.workers()).toEqual([w()]);
    expect(gate.update([w({ gpuPercent: 52, requestsRunning: 2 })], 2_000)).toBe(true);
    expect(gate.workers()).toEqual([w({ gpuPercent: 52, requestsRunning: 2 })]);
  });

  it('publishes a small move held back for 10 s, counted from when it was first seen', () => {
    const gate = new PublishGate();
    gate.update([w()], 0);
    expect(gate.update([w()], 30_000)).toBe(false);
    expect(gate.update([w({ gpuPercent: 53 })], 31_000)).toBe(false);
    expect(gate.update([w({ gpuPercent: 54 })], 40_999)).toBe(false);
    expect(gate.update([w({ gpuPercent: 54 })], 41_000)).toBe(true);
    expect(gate.workers()).toEqual([w({ gpuPercent: 54 })]);
  });

  it('forgets a small move that went back before it was published', () => {
    const gate = new PublishGate();
    gate.update([w()], 0);
    gate.update([w({ gpuPercent: 53 })], 1_000);
    gate.update([w()], 2_000);
    expect(gate.update([w({ gpuPercent: 53 })], 11_500)).toBe(false);
    expect(gate.update([w({ gpuPercent: 53 })], 21_500)).toBe(true);
  });

  it('publishes workers coming and going, and keeps an unchanged worker as first sent', () => {
    const gate = new PublishGate();
    gate.update([w()], 0);
    const second = w({ workerId: 'w1' });
    expect(gate.update([w({ lastHeartbeat: timestampFromMs(9) }), second], 1_000)).toBe(true);
    expect(gate.workers()).toEqual([w(), second]);
    expect(gate.update([second], 2_000)).toBe(true);
    expect(gate.workers()).toEqual([second]);
    expect(gate.update([], 3_000)).toBe(true);
    expect(gate.workers()).toEqual([]);
  });
});
