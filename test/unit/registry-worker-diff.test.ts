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
    [
      'every engine field sent again',
      w({ requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.25, engine: 'vllm', engineVersion: '0.6.3', contextLength: 8192, statusMessage: 'ok' }),
      w({ requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.25, engine: 'vllm', engineVersion: '0.6.3', contextLength: 8192, statusMessage: 'ok' }),
    ],
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
    // The engine's figures are not load: the Watch threshold (cpu and gpu percent only) never holds them back.
    ['requestsRunning by one', w({ requestsRunning: 3 }), w({ requestsRunning: 4 })],
    ['requestsRunning 0 vs absent', w(), w({ requestsRunning: 0 })],
    ['requestsWaiting', w({ requestsWaiting: 0 }), w({ requestsWaiting: 1 })],
    ['kvCacheUsage by 0.001', w({ kvCacheUsage: 0.5 }), w({ kvCacheUsage: 0.501 })],
    ['kvCacheUsage appears', w(), w({ kvCacheUsage: 0 })],
    ['requestsRunning with a small gpu change and lastHeartbeat', w({ gpuPercent: 1, requestsRunning: 1, lastHeartbeat: at(3) }), w({ gpuPercent: 2, requestsRunning: 2, lastHeartbeat: at(4) })],
    ['engine', w({ engine: 'vllm' }), w({ engine: 'sglang' })],
    ['engineVersion', w({ engineVersion: '0.6.3' }), w({ engineVersion: '0.6.4' })],
    ['contextLength', w({ contextLength: 4096 }), w({ contextLength: 8192 })],
    ['statusMessage', w({ statusMessage: 'Loading model' }), w({ statusMessage: 'connection refused' })],
    ['statusMessage empty vs absent', w(), w({ statusMessage: '' })],
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

  test('a change of requests running alone is an event without loadDelta: no load threshold filters it', () => {
    const out: PendingEvent[] = [];
    const next = [w({ gpuPercent: 10, requestsRunning: 5, requestsWaiting: 2, kvCacheUsage: 0.3 }, 'a')];
    workerEvents('h1', [w({ gpuPercent: 10, requestsRunning: 4, requestsWaiting: 2, kvCacheUsage: 0.3 }, 'a')], next, out);
    expect(out).toStrictEqual([{ type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: next[0] }]);
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
