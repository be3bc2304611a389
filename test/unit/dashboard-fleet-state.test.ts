// The dashboard's fleet picture: Watch semantics applied to protobuf JSON events, details, and the filtered view.
import { enumName, FleetState, type DetailsJson, type HiveDetailJson, type WatchEventJson } from '../../src/dashboard/fleet-state';
import { formatAge, formatBytes, formatPercent, formatTokens, kvCacheBar, requestsBar, share } from '../../src/dashboard/format';

const EPOCH = 'e1';
let revision = 0;
function event(type: string, hiveId: string, extra: Partial<WatchEventJson> = {}): WatchEventJson {
  return { revision: String(++revision), epoch: EPOCH, type: `WATCH_EVENT_TYPE_${type}`, hiveId, hiveOnline: true, ...extra };
}
function upsert(hiveId: string, workerId: string, fields: Record<string, unknown> = {}, hiveOnline = true): WatchEventJson {
  return event('WORKER_UPSERTED', hiveId, { hiveOnline, worker: { workerId, state: 'WORKER_STATUS_IDLE', backend: 'BACKEND_CUDA', ...fields } });
}
function detail(hiveId: string, overrides: Partial<HiveDetailJson> = {}): HiveDetailJson {
  return {
    hiveId,
    inRegistry: true,
    registered: true,
    labels: {},
    description: '',
    cordoned: false,
    vramTotalBytes: 0,
    vramUsedBytes: 0,
    vramFreeBytes: 0,
    devices: [],
    holds: {},
    ...overrides,
  };
}
const ALL = { model: '', backend: '', state: '' };

beforeEach(() => {
  revision = 0;
});

test('a snapshot then live events build the fleet; SYNCED sets the revision held whole', () => {
  const state = new FleetState();
  state.applyWatch(event('HIVE_ONLINE', 'hive-a'));
  state.applyWatch(upsert('hive-a', 'a-0', { modelId: 'm1', gpuPercent: 12.5, vramBytes: '1073741824', maxConcurrency: 4 }));
  expect(state.revision).toBe(0);
  state.applyWatch({ revision: '2', epoch: EPOCH, type: 'WATCH_EVENT_TYPE_SYNCED' });
  expect({ revision: state.revision, synced: state.synced, epoch: state.epoch }).toEqual({ revision: 2, synced: true, epoch: EPOCH });
  state.applyWatch(upsert('hive-a', 'a-1', { state: 'WORKER_STATUS_BUSY', modelId: 'm2' }));
  expect(state.revision).toBe(3);
  const view = state.view(ALL);
  expect(view.hives).toEqual([expect.objectContaining({ hiveId: 'hive-a', status: 'online', workerCount: 2 })]);
  expect(view.workers).toEqual([
    expect.objectContaining({ workerId: 'a-0', state: 'idle', modelId: 'm1', backend: 'cuda', gpuPercent: 12.5, vramBytes: 1073741824, slots: 4, reserved: 0, health: 'unspecified' }),
    expect.objectContaining({ workerId: 'a-1', state: 'busy', modelId: 'm2', slots: 1 }),
  ]);
  expect(view.models).toEqual(['m1', 'm2']);
  expect(view.workersByState).toEqual({ idle: 1, busy: 1 });
});

test('engine fields reach the worker rows as the Watch JSON carries them; absent ones stay absent', () => {
  const state = new FleetState();
  state.applyWatch(event('HIVE_ONLINE', 'hive-a'));
  const engine = {
    requestsRunning: 3,
    requestsWaiting: 1,
    kvCacheUsage: 0.375,
    engine: 'vllm',
    engineVersion: '0.6.3.post1',
    contextLength: 131072,
    statusMessage: 'serving',
  };
  state.applyWatch(upsert('hive-a', 'a-0', { maxConcurrency: 8, ...engine }));
  state.applyWatch(upsert('hive-a', 'a-1'));
  let [a0, a1] = state.view(ALL).workers;
  expect(a0).toMatchObject({ slots: 8, ...engine });
  for (const key of Object.keys(engine)) expect(a1 !== undefined && key in a1).toBe(false);
  // A later event replaces the worker whole: a field it no longer reports is gone.
  state.applyWatch(upsert('hive-a', 'a-0', { maxConcurrency: 8, ...engine, requestsRunning: 8, statusMessage: undefined }));
  [a0, a1] = state.view(ALL).workers;
  expect(a0).toMatchObject({ requestsRunning: 8, requestsWaiting: 1 });
  expect(a0 !== undefined && 'statusMessage' in a0).toBe(false);
});

test('offline, removal of a worker, removal of a hive with its workers', () => {
  const state = new FleetState();
  state.applyWatch(event('HIVE_ONLINE', 'hive-a'));
  state.applyWatch(upsert('hive-a', 'a-0'));
  state.applyWatch(upsert('hive-a', 'a-1'));
  state.applyWatch(event('HIVE_ONLINE', 'hive-b'));
  state.applyWatch(upsert('hive-b', 'b-0'));
  state.applyWatch(event('HIVE_OFFLINE', 'hive-a', { hiveOnline: false }));
  state.applyWatch(event('WORKER_REMOVED', 'hive-a', { hiveOnline: false, worker: { workerId: 'a-1' } }));
  let view = state.view(ALL);
  expect(view.hives.map((h) => [h.hiveId, h.status, h.workerCount])).toEqual([
    ['hive-a', 'offline', 1],
    ['hive-b', 'online', 1],
  ]);
  expect({ online: view.onlineHives, offline: view.offlineHives }).toEqual({ online: 1, offline: 1 });
  // Workers of offline hives are listed but not counted by state (their state is stale).
  expect(view.workersByState).toEqual({ idle: 1 });
  expect(view.workers.map((w) => [w.workerId, w.hiveOnline])).toEqual([
    ['a-0', false],
    ['b-0', true],
  ]);
  state.applyWatch(event('HIVE_REMOVED', 'hive-a', { hiveOnline: false }));
  view = state.view(ALL);
  expect(view.hives.map((h) => h.hiveId)).toEqual(['hive-b']);
  expect(view.workerTotal).toBe(1);
});

test('RESYNC drops everything: the snapshot that follows is the whole fleet', () => {
  const state = new FleetState();
  state.applyWatch(event('HIVE_ONLINE', 'hive-old'));
  state.applyWatch(upsert('hive-old', 'o-0'));
  state.applyWatch({ revision: '2', type: 'WATCH_EVENT_TYPE_SYNCED', epoch: EPOCH });
  state.applyWatch({ revision: '7', type: 'WATCH_EVENT_TYPE_RESYNC', epoch: 'e2' });
  expect(state.synced).toBe(false);
  state.applyWatch({ revision: '7', type: 'WATCH_EVENT_TYPE_HIVE_ONLINE', epoch: 'e2', hiveId: 'hive-new', hiveOnline: true });
  state.applyWatch({ revision: '7', type: 'WATCH_EVENT_TYPE_SYNCED', epoch: 'e2' });
  expect(state.view(ALL).hives.map((h) => h.hiveId)).toEqual(['hive-new']);
  expect({ revision: state.revision, epoch: state.epoch }).toEqual({ revision: 7, epoch: 'e2' });
});

test('details: reservations and exclusions join their workers, catalog hives never seen show as absent', () => {
  const state = new FleetState();
  state.applyWatch(event('HIVE_ONLINE', 'hive-a'));
  state.applyWatch(upsert('hive-a', 'a-0', { maxConcurrency: 4 }));
  const details: DetailsJson = {
    serverTimeMs: 10_000,
    hives: [
      detail('hive-a', { lastHeartbeatMs: 9_000, labels: { zone: 'eu' }, cordoned: true, vramTotalBytes: 100, vramUsedBytes: 40, vramFreeBytes: 60, holds: { 'a-0': { reserved: 3, excludedUntilMs: 12_000 } } }),
      detail('hive-z', { inRegistry: false }),
    ],
    gone: [],
  };
  state.applyDetails(details, 9_000);
  expect(state.clockOffsetMs).toBe(1_000);
  const view = state.view(ALL);
  expect(view.hives).toEqual([
    { hiveId: 'hive-a', status: 'online', lastHeartbeatMs: 9_000, workerCount: 1, vramTotalBytes: 100, vramUsedBytes: 40, vramFreeBytes: 60, labels: { zone: 'eu' }, cordoned: true, registered: true, detailsKnown: true },
    { hiveId: 'hive-z', status: 'absent', workerCount: 0, vramTotalBytes: 0, vramUsedBytes: 0, vramFreeBytes: 0, labels: {}, cordoned: false, registered: true, detailsKnown: true },
  ]);
  expect(view.workers[0]).toMatchObject({ reserved: 3, slots: 4, excludedUntilMs: 12_000 });
  expect({ online: view.onlineHives, offline: view.offlineHives }).toEqual({ online: 1, offline: 1 });
});

test('details update per hive and drop the gone; after resetDetails the next event replaces them all', () => {
  const state = new FleetState();
  state.applyDetails({ serverTimeMs: 0, hives: [detail('a'), detail('b'), detail('c')], gone: [] }, 0);
  state.applyDetails({ serverTimeMs: 0, hives: [detail('b', { cordoned: true })], gone: ['c'] }, 0);
  expect(state.view(ALL).hives.map((h) => [h.hiveId, h.cordoned])).toEqual([
    ['a', false],
    ['b', true],
  ]);
  state.resetDetails();
  state.applyDetails({ serverTimeMs: 0, hives: [detail('b')], gone: [] }, 0);
  expect(state.view(ALL).hives.map((h) => h.hiveId)).toEqual(['b']);
});

test('filters: model, backend and state together; hives without a matching worker are left out', () => {
  const state = new FleetState();
  state.applyWatch(upsert('hive-a', 'a-0', { modelId: 'm1' }));
  state.applyWatch(upsert('hive-a', 'a-1', { modelId: 'm2', state: 'WORKER_STATUS_BUSY' }));
  state.applyWatch(upsert('hive-b', 'b-0', { modelId: 'm1', backend: 'BACKEND_ROCM' }));
  const ids = (filter: { model?: string; backend?: string; state?: string }) => {
    const view = state.view({ ...ALL, ...filter });
    return [view.workers.map((w) => w.workerId), view.hives.map((h) => h.hiveId)];
  };
  expect(ids({ model: 'm1' })).toEqual([['a-0', 'b-0'], ['hive-a', 'hive-b']]);
  expect(ids({ model: 'm1', backend: 'rocm' })).toEqual([['b-0'], ['hive-b']]);
  expect(ids({ state: 'busy' })).toEqual([['a-1'], ['hive-a']]);
  expect(ids({ model: 'm3' })).toEqual([[], []]);
  expect(state.view({ ...ALL, model: 'm3' }).workerTotal).toBe(3);
});

test('enum names and figures for people', () => {
  expect(enumName('WORKER_STATUS_LOADING', 'WORKER_STATUS_')).toBe('loading');
  expect(enumName(undefined, 'WORKER_STATUS_')).toBe('unspecified');
  expect(enumName('BACKEND_CUDA', 'BACKEND_')).toBe('cuda');
  expect([0, 1023, 1024, 1536, 80 * 2 ** 30, 2 ** 50].map(formatBytes)).toEqual(['0 B', '1023 B', '1 KiB', '1.5 KiB', '80 GiB', '1 PiB']);
  expect([-5, 400, 9_950, 12_000, 185_000, 7_800_000, 2 * 86_400_000 + 3_600_000].map(formatAge)).toEqual([
    '0.0 s',
    '0.4 s',
    '9.9 s',
    '12 s',
    '3 min 5 s',
    '2 h 10 min',
    '2 d 1 h',
  ]);
  expect([formatPercent(37.6), formatPercent(undefined)]).toEqual(['38%', 'n/a']);
  expect([share(40, 100), share(5, 0), share(200, 100), share(-1, 10)]).toEqual([40, 0, 100, 0]);
});

test('bars of the engine figures: requests against slots, KV cache; context lengths for a narrow cell', () => {
  expect(requestsBar(undefined, undefined, 4)).toBeUndefined();
  expect(requestsBar(3, 1, 8)).toEqual({ percent: 50, text: '3 + 1 / 8', label: '3 running, 1 waiting in the engine; 8 slots (max_concurrency)', tone: 'ok' });
  expect(requestsBar(6, undefined, 8)).toEqual({ percent: 75, text: '6 / 8', label: '6 running, waiting not reported in the engine; 8 slots (max_concurrency)', tone: 'warn' });
  // Past the slots: the bar is full and hot (requests queue), the numbers say by how much.
  expect(requestsBar(8, 3, 8)).toMatchObject({ percent: 100, text: '8 + 3 / 8', tone: 'hot' });
  expect(requestsBar(8, 0, 8)).toMatchObject({ percent: 100, tone: 'warn' });
  expect(requestsBar(undefined, 2, 1)).toEqual({ percent: 100, text: '? + 2 / 1', label: 'running not reported, 2 waiting in the engine; 1 slot (max_concurrency)', tone: 'hot' });
  expect(kvCacheBar(undefined)).toBeUndefined();
  expect([kvCacheBar(0), kvCacheBar(0.375), kvCacheBar(0.8), kvCacheBar(0.95)]).toEqual([
    { percent: 0, text: '0%', label: 'KV cache 0% in use', tone: 'ok' },
    { percent: 37.5, text: '38%', label: 'KV cache 38% in use', tone: 'ok' },
    { percent: 80, text: '80%', label: 'KV cache 80% in use', tone: 'warn' },
    { percent: 95, text: '95%', label: 'KV cache 95% in use', tone: 'hot' },
  ]);
  expect([131072, 8192, 100000, 512, 0].map(formatTokens)).toEqual(['128K', '8K', '100000', '512', '0']);
});
