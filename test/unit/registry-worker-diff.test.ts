// workerChange / workerEvents: which worker changes make events, and which of them are load-only.
import type { Worker } from '../../src/common/worker';
import type { PendingEvent } from '../../src/registry/event-log';
import { workerChange, workerEvents } from '../../src/registry/worker-diff';
import { makeWorker } from '../helpers/domain-builders';

const w = (overrides: Partial<Worker> = {}, id = 'w1'): Worker => makeWorker(id, overrides);
const at = (seconds: number, nanos = 0): Worker['lastHeartbeat'] => ({ seconds, nanos });

describe('workerChange', () => {
  test.each<[string, Worker, Worker]>([
    ['identical objects', w({ cpuPercent: 1 }), w({ cpuPercent: 1 })],
    ['an explicit undefined counts as absent', w({ gpuPercent: undefined }), w()],
    ['equal lastHeartbeat, different objects', w({ lastHeartbeat: at(3, 4) }), w({ lastHeartbeat: at(3, 4) })],
    ['NaN sent again', w({ cpuPercent: Number.NaN }), w({ cpuPercent: Number.NaN })],
  ])('no change: %s', (_name, before, after) => {
    expect(workerChange(before, after)).toBeUndefined();
  });

  test.each<[string, Worker, Worker, number]>([
    ['cpu', w({ cpuPercent: 10 }), w({ cpuPercent: 4 }), 6],
    ['gpu', w({ gpuPercent: 10 }), w({ gpuPercent: 30 }), 20],
    ['both: the larger', w({ cpuPercent: 10, gpuPercent: 10 }), w({ cpuPercent: 17, gpuPercent: 5 }), 7],
    ['lastHeartbeat nanos only', w({ lastHeartbeat: at(3, 4) }), w({ lastHeartbeat: at(3, 5) }), 0],
    ['lastHeartbeat disappears', w({ lastHeartbeat: at(3) }), w(), 0],
    ['lastHeartbeat and gpu', w({ gpuPercent: 1, lastHeartbeat: at(3) }), w({ gpuPercent: 2.5, lastHeartbeat: at(4) }), 1.5],
  ])('load only: %s', (_name, before, after, loadDelta) => {
    expect(workerChange(before, after)).toStrictEqual({ loadDelta });
  });

  test.each<[string, Worker, Worker]>([
    ['state', w(), w({ state: 'busy' })],
    ['url', w(), w({ url: 'http://127.0.0.1:9301/w1' })],
    ['health and cpu', w({ cpuPercent: 1 }), w({ cpuPercent: 2, health: 'degraded' })],
    ['cpu appears', w(), w({ cpuPercent: 0 })],
    ['gpu disappears', w({ gpuPercent: 0 }), w()],
    ['modelId appears', w(), w({ modelId: 'm' })],
    ['vramBytes disappears', w({ vramBytes: 5 }), w()],
    ['deviceId 0 vs absent', w(), w({ deviceId: 0 })],
    // Every field Worker has is compared: a new one does not compile until workerChange lists it (COMPARED).
  ])('other change: %s', (_name, before, after) => {
    expect(workerChange(before, after)).toStrictEqual({});
    expect(workerChange(after, before)).toStrictEqual({});
  });
});

describe('workerEvents', () => {
  test('merges two sorted lists into events in worker-id order', () => {
    const out: PendingEvent[] = [];
    const previous = [w({}, 'a'), w({}, 'b'), w({ cpuPercent: 1 }, 'c'), w({}, 'e')];
    const next = [w({ state: 'busy' }, 'a'), w({ cpuPercent: 4 }, 'c'), w({}, 'd'), w({}, 'e'), w({}, 'f')];
    workerEvents('h1', previous, next, out);
    expect(out).toStrictEqual([
      { type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: next[0] },
      { type: 'worker_removed', hiveId: 'h1', hiveOnline: true, workerId: 'b' },
      { type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: next[1], loadDelta: 3 },
      { type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: next[2] },
      { type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: next[4] },
    ]);
  });

  test('appends to what is already in out', () => {
    const out: PendingEvent[] = [{ type: 'hive_online', hiveId: 'h1', hiveOnline: true }];
    workerEvents('h1', [w({}, 'a')], [], out);
    expect(out.map((e) => e.type)).toEqual(['hive_online', 'worker_removed']);
  });

  test('ids compare by UTF-16 code units, as the registry sorts them', () => {
    const out: PendingEvent[] = [];
    workerEvents('h1', [w({}, 'B')], [w({}, 'B'), w({}, 'a')], out);
    expect(out).toStrictEqual([{ type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: w({}, 'a') }]);
  });
});
