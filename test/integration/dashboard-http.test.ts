// The dashboard's HTTP side over a real queen: the page and its assets (security headers, revalidation), the
// scheduler's answer with reasons, and the live feed (Watch semantics as server-sent events, resume, details).
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';
import type { Caller } from '../../src/server/callers';
import { GatewayFleet } from '../helpers/gateway-fleet';
import { httpFetch } from '../helpers/http';
import { TestQueen } from '../helpers/queen';
import { SseStream, type SseEvent } from '../helpers/sse';
import { wireWorker } from '../helpers/wire-builders';

const HTTP = { httpListen: '127.0.0.1:0' } as const;
const MODEL = 'org/model-x';

let q: TestQueen | undefined;
const streams: SseStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await q?.stop();
  q = undefined;
});

async function feed(headers: Record<string, string> = {}, path = '/api/events'): Promise<SseStream> {
  const stream = await SseStream.open(q!.httpPort, path, headers);
  streams.push(stream);
  return stream;
}

const isType = (type: string) => (e: SseEvent) => e.event === 'watch' && (JSON.parse(e.data) as { type?: string }).type === `WATCH_EVENT_TYPE_${type}`;

describe('the page and its assets', () => {
  beforeEach(async () => {
    q = await TestQueen.start(HTTP);
  });

  test('GET / is the page: HTML that loads only our own script, with a strict Content-Security-Policy', async () => {
    const page = await httpFetch(q!.httpPort, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(page.body).not.toMatch(/https?:\/\//);
    const head = await httpFetch(q!.httpPort, '/', { method: 'HEAD' });
    expect({ status: head.status, body: head.body, length: head.headers['content-length'] }).toEqual({
      status: 200,
      body: '',
      length: page.headers['content-length'],
    });
  });

  test('assets are served with their type and an ETag; the same ETag answers 304', async () => {
    for (const [name, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['fleet-state.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
    ] as const) {
      const asset = await httpFetch(q!.httpPort, `/assets/${name}`);
      expect({ name, status: asset.status, type: asset.headers['content-type'], cache: asset.headers['cache-control'] }).toEqual({
        name,
        status: 200,
        type,
        cache: 'no-cache',
      });
      const etag = asset.headers['etag'];
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      const again = await httpFetch(q!.httpPort, `/assets/${name}`, { headers: { 'if-none-match': etag ?? '' } });
      expect({ status: again.status, body: again.body }).toEqual({ status: 304, body: '' });
    }
  });

  test('anything else under /assets/ is 404: unknown files, paths that climb out, source maps', async () => {
    for (const path of ['/assets/nope.js', '/assets/../package.json', '/assets/%2e%2e%2fpackage.json', '/assets/app.js.map', '/assets/']) {
      const answer = await httpFetch(q!.httpPort, path);
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
    }
  });
});

test('a queen whose dashboard is not built answers 503 saying how to build it; the rest still works', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'hive-dashboard-'));
  q = await TestQueen.start(HTTP, pino({ level: 'silent' }), { dashboardAssetsDir: empty });
  const page = await httpFetch(q.httpPort, '/');
  expect(page.status).toBe(503);
  expect(page.body).toMatch(/dashboard is not built .*run npm run build/);
  expect((await httpFetch(q.httpPort, '/metrics')).status).toBe(200);
  expect((await httpFetch(q.httpPort, '/api/best?model=m')).status).toBe(200);
});

describe('GET /api/best', () => {
  beforeEach(async () => {
    q = await TestQueen.start(HTTP);
  });

  test('the pick, with the reasons it won and the model workers ranked behind it', async () => {
    await q!.connectHive('hive-a', [
      wireWorker('a-0', { modelId: MODEL, gpuPercent: 40 }),
      wireWorker('a-1', { modelId: MODEL, gpuPercent: 10 }),
      wireWorker('a-2', { modelId: MODEL, state: WorkerStatus.BUSY }),
    ]);
    const answer = await httpFetch(q!.httpPort, `/api/best?model=${encodeURIComponent(MODEL)}`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(answer.body);
    expect(body.picked).toEqual({ hiveId: 'hive-a', workerId: 'a-1', url: expect.any(String), modelLoaded: true });
    expect(body.reasons).toEqual([
      'a-1 on hive-a: the model is loaded, it is idle and healthy, load 0 (0 of 1 slot in use: 0 reserved here; 0 waiting), no KV cache use reported (counts as 0%), GPU load 10%',
      '2 of the 3 workers with org/model-x loaded can take a request now (idle, healthy, a free slot, not excluded, on an online hive that is not cordoned)',
      'it ties with the runner-up a-0 on hive-a on load and KV cache use, and has a lower GPU load (10% against 40%)',
      'through the gateway, a chat or completions request goes instead to the worker that served the longest prefix of its prompt (256-byte blocks; 0 prefixes remembered), unless that worker is more than 0.25 above this load or has no free slot',
    ]);
    expect(body.workers.map((w: { workerId: string; verdict: string }) => [w.workerId, w.verdict])).toEqual([
      ['a-1', 'picked'],
      ['a-0', 'candidate'],
      ['a-2', 'busy'],
    ]);
    expect(body.workersTotal).toBe(3);
  });

  test('each worker with its load, the engine counts it is made of and its KV cache use, in pick order', async () => {
    await q!.connectHive('hive-a', [
      wireWorker('a-0', { modelId: MODEL, maxConcurrency: 8, requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.5, gpuPercent: 10 }),
      wireWorker('a-1', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 1, requestsWaiting: 0, kvCacheUsage: 0.25 }),
      wireWorker('a-2', { modelId: MODEL, maxConcurrency: 2 }),
    ]);
    await q!.rpc.findBestWorkerForModel({ modelId: MODEL, reserve: true });
    const body = JSON.parse((await httpFetch(q!.httpPort, `/api/best?model=${MODEL}`)).body);
    expect(body.workers).toEqual([
      { hiveId: 'hive-a', workerId: 'a-1', verdict: 'picked', state: 'idle', load: 0.25, requestsRunning: 1, requestsWaiting: 0, kvCacheUsage: 0.25, reserved: 0, slots: 4 },
      { hiveId: 'hive-a', workerId: 'a-2', verdict: 'candidate', state: 'idle', load: 0.5, reserved: 1, slots: 2 },
      { hiveId: 'hive-a', workerId: 'a-0', verdict: 'candidate', state: 'idle', gpuPercent: 10, load: 0.5, requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.5, reserved: 0, slots: 8 },
    ]);
    expect(body.reasons[0]).toBe(
      'a-1 on hive-a: the model is loaded, it is idle and healthy, load 0.25 (1 of 4 slots in use: 1 running, 0 reserved here; 0 waiting), KV cache 25% in use, no GPU load reported (counts as 100%)',
    );
  });

  test('asking changes nothing: no reservation is taken', async () => {
    await q!.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL })]);
    for (let i = 0; i < 3; i++) {
      const body = JSON.parse((await httpFetch(q!.httpPort, `/api/best?model=${MODEL}`)).body);
      expect(body.picked.workerId).toBe('a-0');
    }
    expect((await q!.rpc.findBestWorkerForModel({ modelId: MODEL, reserve: true })).reservationId).not.toBe('');
  });

  test('a reserved worker shows as full, and the answer is the RPC error in the same words', async () => {
    await q!.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL })]);
    await q!.rpc.findBestWorkerForModel({ modelId: MODEL, reserve: true });
    const body = JSON.parse((await httpFetch(q!.httpPort, `/api/best?model=${MODEL}`)).body);
    expect(body.picked).toBeUndefined();
    expect(body.error).toEqual({
      code: 'RESOURCE_EXHAUSTED',
      message: 'no idle worker for model "org/model-x": 1 of 1 eligible workers are busy, loading, fully reserved or excluded after failures; retry later',
    });
    expect(body.workers).toEqual([{ hiveId: 'hive-a', workerId: 'a-0', verdict: 'full', state: 'idle', load: 1, reserved: 1, slots: 1 }]);
    expect(body.reasons.at(-1)).toMatch(/^through the gateway, a chat or completions request goes to the worker .* more than 0\.25 above the least-loaded worker or has no free slot$/);
  });

  test('a model loaded nowhere: the fallback to an idle worker without it, said as such; no worker at all: UNAVAILABLE', async () => {
    const none = JSON.parse((await httpFetch(q!.httpPort, '/api/best?model=org/nowhere')).body);
    expect(none.error.code).toBe('UNAVAILABLE');
    expect(none.workersTotal).toBe(0);
    await q!.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL })]);
    const fallback = JSON.parse((await httpFetch(q!.httpPort, '/api/best?model=org/nowhere')).body);
    expect(fallback.picked).toMatchObject({ workerId: 'a-0', modelLoaded: false });
    expect(fallback.reasons[0]).toBe('a-0 on hive-a has org/model-x loaded: its hive would have to load org/nowhere first');
  });

  test('with prefix affinity on, the answer describes it and counts the prefixes the gateway remembers', async () => {
    await q!.stop();
    q = undefined;
    const fleet = await GatewayFleet.start([{ workerId: 'a-0', modelId: MODEL }]);
    try {
      await fleet.hive('hive-a', [{ workerId: 'a-0', modelId: MODEL }]);
      // "user\n" + 600 bytes + "\n": two full blocks of 256 bytes, so two prefix keys.
      await fleet.openai().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(600) }], max_tokens: 2 });
      const body = JSON.parse((await httpFetch(fleet.queen.httpPort, `/api/best?model=${MODEL}`)).body);
      expect(body.prefixAffinity).toEqual({ blockBytes: 256, slack: 0.25, keys: 2 });
      expect(body.reasons.at(-1)).toBe(
        'through the gateway, a chat or completions request goes instead to the worker that served the longest prefix of its prompt (256-byte blocks; 2 prefixes remembered), unless that worker is more than 0.25 above this load or has no free slot',
      );
    } finally {
      await fleet.stop();
    }
  });

  test('with prefix affinity off, nothing is said of prefixes', async () => {
    await q!.stop();
    q = await TestQueen.start({ ...HTTP, gatewayPrefixAffinity: false });
    await q.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL })]);
    const body = JSON.parse((await httpFetch(q.httpPort, `/api/best?model=${MODEL}`)).body);
    expect(body.picked.workerId).toBe('a-0');
    expect(body.prefixAffinity).toBeUndefined();
    expect(body.reasons).toHaveLength(3);
    expect(body.reasons.join(' ')).not.toMatch(/prefix/);
  });

  test('bad input: 400 naming the field', async () => {
    const cases: [string, RegExp][] = [
      ['/api/best', /^model: required/],
      ['/api/best?model=', /^model: must not be empty/],
      ['/api/best?model=a%20b', /^model: must not contain whitespace/],
      [`/api/best?model=${'m'.repeat(300)}`, /^model: must be at most \d+ characters, got 300/],
    ];
    for (const [path, message] of cases) {
      const answer = await httpFetch(q!.httpPort, path);
      expect({ path, status: answer.status }).toEqual({ path, status: 400 });
      expect(JSON.parse(answer.body).error.message).toMatch(message);
    }
  });
});

describe('GET /api/events', () => {
  beforeEach(async () => {
    q = await TestQueen.start(HTTP);
  });

  test('details, then a snapshot ended by SYNCED (the only one with an id), then live events with ids', async () => {
    await q!.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL })]);
    const stream = await feed();
    expect(stream.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const synced = await stream.next(isType('SYNCED'));
    const [details] = stream.events;
    expect(details?.event).toBe('details');
    const detail = JSON.parse(details!.data);
    expect(detail.hives).toEqual([expect.objectContaining({ hiveId: 'hive-a', inRegistry: true, registered: true, cordoned: false, holds: {} })]);
    expect(detail.gone).toEqual([]);
    const snapshot = stream.events.filter((e) => e.event === 'watch');
    expect(snapshot.map((e) => [JSON.parse(e.data).type, e.id])).toEqual([
      ['WATCH_EVENT_TYPE_HIVE_ONLINE', undefined],
      ['WATCH_EVENT_TYPE_WORKER_UPSERTED', undefined],
      ['WATCH_EVENT_TYPE_SYNCED', synced.id],
    ]);
    const { epoch, revision } = JSON.parse(synced.data);
    expect(synced.id).toBe(`${epoch}:${revision}`);
    expect(JSON.parse(snapshot[1]!.data).worker).toMatchObject({ workerId: 'a-0', state: 'WORKER_STATUS_IDLE', modelId: MODEL });

    const count = stream.events.length;
    await q!.connectHive('hive-b', [wireWorker('b-0')]);
    const live = await stream.next(isType('WORKER_UPSERTED'), count);
    const event = JSON.parse(live.data);
    expect(event).toMatchObject({ hiveId: 'hive-b', worker: { workerId: 'b-0' } });
    expect(live.id).toBe(`${epoch}:${event.revision}`);
  });

  test("a worker's engine fields reach the feed, in the snapshot and in live events", async () => {
    const engine = { requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.375, engine: 'llama.cpp', engineVersion: 'b4567', contextLength: 8192, statusMessage: 'Loading model' };
    const hive = await q!.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL, ...engine })]);
    const stream = await feed();
    await stream.next(isType('SYNCED'));
    expect(stream.watchEvents().find((e) => e.type === 'WATCH_EVENT_TYPE_WORKER_UPSERTED')?.worker).toMatchObject(engine);
    const count = stream.events.length;
    await hive.send({ hiveId: 'hive-a', sequence: 2n, workers: [wireWorker('a-0', { modelId: MODEL, ...engine, requestsWaiting: 0, statusMessage: 'serving' })] });
    const live = JSON.parse((await stream.next(isType('WORKER_UPSERTED'), count)).data);
    expect(live.worker).toMatchObject({ ...engine, requestsWaiting: 0, statusMessage: 'serving' });
  });

  test('resuming with Last-Event-ID or ?since= replays only what came after, then SYNCED; another epoch gets RESYNC', async () => {
    const hive = await q!.connectHive('hive-a', [wireWorker('a-0')]);
    const first = await feed();
    const synced = await first.next(isType('SYNCED'));
    first.close();
    await hive.send({ hiveId: 'hive-a', sequence: 2n, workers: [wireWorker('a-0', { state: WorkerStatus.BUSY })] });

    for (const [headers, path] of [
      [{ 'last-event-id': synced.id! }, '/api/events'],
      [{}, `/api/events?since=${encodeURIComponent(synced.id!)}`],
    ] as const) {
      const resumed = await feed(headers, path);
      await resumed.next(isType('SYNCED'));
      expect(resumed.watchEvents().map((e) => [e.type, (e.worker as { state?: string } | undefined)?.state])).toEqual([
        ['WATCH_EVENT_TYPE_WORKER_UPSERTED', 'WORKER_STATUS_BUSY'],
        ['WATCH_EVENT_TYPE_SYNCED', undefined],
      ]);
    }

    const foreign = await feed({ 'last-event-id': `00000000-0000-4000-8000-000000000000:${JSON.parse(synced.data).revision}` });
    await foreign.next(isType('SYNCED'));
    expect(foreign.watchEvents().map((e) => e.type)).toEqual([
      'WATCH_EVENT_TYPE_RESYNC',
      'WATCH_EVENT_TYPE_HIVE_ONLINE',
      'WATCH_EVENT_TYPE_WORKER_UPSERTED',
      'WATCH_EVENT_TYPE_SYNCED',
    ]);
  });

  test('details follow reservations, cordon and departures, sending only what changed', async () => {
    await q!.connectHive('hive-a', [wireWorker('a-0', { modelId: MODEL, maxConcurrency: 4 })]);
    const stream = await feed();
    await stream.next(isType('SYNCED'));
    const reservation = await q!.rpc.findBestWorkerForModel({ modelId: MODEL, reserve: true });
    expect(reservation.reservationId).not.toBe('');
    const reserved = await stream.next((e) => e.event === 'details' && e.data.includes('"holds":{"a-0"'), 1, 'details with the reservation');
    expect(JSON.parse(reserved.data).hives[0].holds).toEqual({ 'a-0': { reserved: 1 } });
    await q!.catalog.cordonHive({ hiveId: 'hive-a' });
    const cordoned = await stream.next((e) => e.event === 'details' && e.data.includes('"cordoned":true'), 1, 'details with the cordon');
    expect(JSON.parse(cordoned.data).hives).toHaveLength(1);
    await q!.rpc.removeHive({ hiveId: 'hive-a' });
    await q!.catalog.deregisterHive({ hiveId: 'hive-a' });
    const gone = await stream.next((e) => e.event === 'details' && e.data.includes('"gone":["hive-a"]'), 1, 'details with the hive gone');
    expect(JSON.parse(gone.data).hives).toEqual([]);
    // Quiet ticks carry no hive at all.
    const quiet = await stream.next((e) => e.event === 'details', stream.events.indexOf(gone) + 1, 'a quiet tick');
    expect(JSON.parse(quiet.data)).toEqual({ serverTimeMs: expect.any(Number), hives: [], gone: [] });
  });

  test('stopping the queen ends every feed', async () => {
    const stream = await feed();
    await stream.next(isType('SYNCED'));
    await q!.stop();
    q = undefined;
    await new Promise((resolve) => stream.response.once('end', resolve).resume());
    expect(stream.closed).toBe(true);
  });
});

describe('with auth on', () => {
  const READ = 'dashboard-read-token';
  const caller = (name: string, token: string): Caller => ({
    name,
    role: 'read',
    tokenSha256: createHash('sha256').update(token).digest(),
  });
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  beforeEach(async () => {
    q = await TestQueen.start({ ...HTTP, callers: [caller('viewer', READ)] });
  });

  test('a browser is asked for the token (Basic challenge beside Bearer) and gets in with it as the password', async () => {
    const refused = await httpFetch(q!.httpPort, '/');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="hive-registry", Basic realm="hive-registry", charset="UTF-8"');
    expect((await httpFetch(q!.httpPort, '/', { headers: { authorization: basic('anyone', READ) } })).status).toBe(200);
    expect((await httpFetch(q!.httpPort, '/', { headers: { authorization: basic('anyone', 'wrong') } })).status).toBe(401);
    expect((await httpFetch(q!.httpPort, '/', { headers: { authorization: basic('', '') } })).status).toBe(401);
    expect((await httpFetch(q!.httpPort, '/', { headers: { authorization: 'Basic !!!' } })).status).toBe(401);
    expect((await httpFetch(q!.httpPort, '/api/best?model=m', { token: READ })).status).toBe(200);
    const stream = await feed({ authorization: `Bearer ${READ}` });
    await stream.next(isType('SYNCED'));
  });
});
