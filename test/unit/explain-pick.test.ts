// Why a pick came out as it did: the reasons and the ranking the dashboard shows, checked against pickWorker.
import type { Worker } from '../../src/common/worker';
import { explainPick } from '../../src/scheduler/explain-pick';
import { pickWorker, type ScheduledWorker } from '../../src/scheduler/pick-worker';
import { makeWorker } from '../helpers/domain-builders';

const MODEL = 'org/m';

function scheduled(hiveId: string, worker: Partial<Worker> & { workerId: string }, extra: Partial<ScheduledWorker> = {}): ScheduledWorker {
  return {
    hiveId,
    worker: makeWorker(worker.workerId, { modelId: MODEL, ...worker }),
    hiveOnline: true,
    reserved: 0,
    excluded: false,
    cordoned: false,
    labels: {},
    lastPicked: 0,
    ...extra,
  };
}

function explain(workers: ScheduledWorker[]) {
  const pick = pickWorker(workers, { modelId: MODEL });
  return { pick, ...explainPick(MODEL, workers.filter((w) => w.worker.modelId === MODEL), pick, pick.kind === 'picked' ? undefined : 'no worker') };
}

test('the pick wins on load, then KV cache use, then GPU load, then ids; each said with the runner-up', () => {
  const bySlots = explain([
    scheduled('h1', { workerId: 'a', gpuPercent: 5, maxConcurrency: 4 }, { reserved: 2 }),
    scheduled('h1', { workerId: 'b', gpuPercent: 50, maxConcurrency: 4 }, { reserved: 1 }),
  ]);
  expect(bySlots.reasons).toEqual([
    'b on h1: the model is loaded, it is idle and healthy, load 0.25 (1 of 4 slots in use: 1 reserved here; 0 waiting), no KV cache use reported (counts as 0%), GPU load 50%',
    '2 of the 2 workers with org/m loaded can take a request now (idle, healthy, a free slot, not excluded, on an online hive that is not cordoned)',
    'it is less loaded than the runner-up a on h1 (0.25 against 0.5: slots in use plus requests waiting, over max_concurrency)',
  ]);
  const byEngine = explain([
    scheduled('h1', { workerId: 'a', maxConcurrency: 8, requestsRunning: 2, requestsWaiting: 1, kvCacheUsage: 0.4 }, { reserved: 1 }),
    scheduled('h2', { workerId: 'b', maxConcurrency: 8, requestsRunning: 4, gpuPercent: 0 }),
  ]);
  expect(byEngine.reasons[0]).toBe(
    'a on h1: the model is loaded, it is idle and healthy, load 0.375 (2 of 8 slots in use: 2 running, 1 reserved here; 1 waiting), KV cache 40% in use, no GPU load reported (counts as 100%)',
  );
  const byKv = explain([
    scheduled('h1', { workerId: 'a', kvCacheUsage: 0.5, gpuPercent: 0 }),
    scheduled('h2', { workerId: 'b', kvCacheUsage: 0.125, gpuPercent: 90 }),
  ]);
  expect(byKv.reasons[2]).toBe('it is as loaded as the runner-up a on h1 (0) but has less KV cache in use (12.5% against 50%)');
  const byLoad = explain([scheduled('h1', { workerId: 'a', gpuPercent: 20.25 }), scheduled('h2', { workerId: 'b' })]);
  expect(byLoad.reasons[2]).toBe('it ties with the runner-up b on h2 on load and KV cache use, and has a lower GPU load (20.3% against 100%)');
  expect(byLoad.reasons[0]).toMatch(/GPU load 20.3%$/);
  const tie = explain([scheduled('h2', { workerId: 'a', gpuPercent: 7 }), scheduled('h1', { workerId: 'z', gpuPercent: 7 })]);
  expect(tie.ranked.map((r) => [r.entry.worker.workerId, r.verdict])).toEqual([
    ['z', 'picked'],
    ['a', 'candidate'],
  ]);
  expect(tie.reasons[2]).toBe('it ties with the runner-up a on h2 on load, KV cache use and GPU load; ties go to the lower hive id, then worker id');
  const alone = explain([scheduled('h1', { workerId: 'a' })]);
  expect(alone.reasons[2]).toBe('it is the only one that can');
});

test('workers that cannot take the request are listed after the candidates, soonest back first, each with why', () => {
  const { pick, ranked } = explain([
    scheduled('h9', { workerId: 'offline' }, { hiveOnline: false }),
    scheduled('h1', { workerId: 'cordoned' }, { cordoned: true }),
    scheduled('h1', { workerId: 'degraded', health: 'degraded' }),
    scheduled('h1', { workerId: 'error', state: 'error' }),
    scheduled('h1', { workerId: 'excluded' }, { excluded: true }),
    scheduled('h1', { workerId: 'loading', state: 'loading' }),
    scheduled('h1', { workerId: 'busy', state: 'busy' }),
    scheduled('h1', { workerId: 'full', maxConcurrency: 2 }, { reserved: 2 }),
    scheduled('h1', { workerId: 'second', gpuPercent: 60 }),
    scheduled('h1', { workerId: 'first', gpuPercent: 10 }),
  ]);
  expect(pick).toMatchObject({ kind: 'picked', entry: { worker: { workerId: 'first' } } });
  expect(ranked.map((r) => `${r.entry.worker.workerId}:${r.verdict}`)).toEqual([
    'first:picked',
    'second:candidate',
    'full:full',
    'busy:busy',
    'loading:loading',
    'excluded:excluded',
    'error:not_ready',
    'degraded:degraded',
    'cordoned:cordoned',
    'offline:hive_offline',
  ]);
});

test('a fallback to a worker without the model says the hive would load it; a failed pick gives its message first', () => {
  const fallback = explain([scheduled('h1', { workerId: 'other', modelId: 'org/other' }), scheduled('h1', { workerId: 'busy', state: 'busy' })]);
  expect(fallback.pick).toMatchObject({ kind: 'picked', modelLoaded: false });
  expect(fallback.reasons).toEqual([
    'other on h1 has org/other loaded: its hive would have to load org/m first',
    '0 of the 1 worker with org/m loaded can take a request now, so the pick fell back to the best idle worker without it (lowest load, then KV cache use, then GPU load)',
  ]);
  expect(fallback.ranked.map((r) => r.verdict)).toEqual(['busy']);
  const failed = explain([scheduled('h1', { workerId: 'busy', state: 'busy' })]);
  expect(failed.pick.kind).toBe('no_capacity');
  expect(failed.reasons).toEqual(['no worker', '0 of the 1 worker with org/m loaded can take a request now']);
});
