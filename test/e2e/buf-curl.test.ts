// An operator's session against the real CLI, through server reflection with buf curl (a Go client that
// validates descriptors like grpcurl does).
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { BufCurlStream, JsonObjectSplitter, bufCurl } from '../helpers/buf-curl';
import { BUF } from '../helpers/cli-process';
import { startServer, stopServer, type ServerProcess } from '../helpers/cli-process';

const REGISTRY = 'hive.v1.HiveRegistry';
const CATALOG = 'hive.v1.HiveCatalog';

function payload(hiveId: string, sequence: number, workers: object[]): object {
  return { hiveId, sequence: String(sequence), timestamp: new Date().toISOString(), workers };
}

function worker(workerId: string, model: string, gpuPercent: number, state = 'WORKER_STATUS_IDLE'): object {
  return {
    workerId,
    state,
    url: `http://10.0.0.9:${8000 + gpuPercent}/v1`,
    modelId: model,
    backend: 'BACKEND_CUDA',
    deviceId: 0,
    vramBytes: '17179869184',
    gpuPercent,
  };
}

describe('operator session with buf curl through reflection', () => {
  let server: ServerProcess;
  const streams: BufCurlStream[] = [];

  beforeAll(async () => {
    server = await startServer();
  });

  afterAll(async () => {
    streams.forEach((s) => s.kill());
    expect(await stopServer(server)).toBe(0);
  });

  test('lists every service and every contract RPC', async () => {
    const services = await bufCurl(server.address, '', undefined, ['--list-services']);
    expect(services.grpcCode).toBe(0);
    const names = services.stdout.trim().split('\n');
    expect(names).toEqual(expect.arrayContaining([REGISTRY, CATALOG, 'grpc.health.v1.Health']));

    const methods = await bufCurl(server.address, '', undefined, ['--list-methods']);
    expect(methods.grpcCode).toBe(0);
    for (const rpc of [
      'Heartbeat', 'GetHiveState', 'ListActiveHives', 'ListAllHives', 'GetAvailableResources', 'RemoveHive',
      'GetWorkerCount', 'IsHiveOnline', 'HiveCount', 'GetWorker', 'GetWorkerUrl', 'ListAllWorkers',
      'FindIdleWorkers', 'FindWorkersByModel', 'FindWorkersByBackend', 'FindBestWorkerForModel',
      'TotalWorkerCount', 'GetWorkersOnHive', 'ReleaseWorker', 'ReportWorkerFailure', 'ListQueens', 'Watch',
    ]) {
      expect(methods.stdout).toContain(`${REGISTRY}/${rpc}\n`);
    }
    for (const rpc of [
      'RegisterHive', 'GetCatalogHive', 'ListCatalogHives', 'UpdateHive', 'DeregisterHive', 'IssueHiveToken',
      'RevokeHiveToken', 'ListHiveTokens', 'CordonHive', 'UncordonHive',
    ]) {
      expect(methods.stdout).toContain(`${CATALOG}/${rpc}\n`);
    }
  });

  test('ListQueens: this queen, by default named by its host name and the port it bound', async () => {
    const result = await bufCurl(server.address, `${REGISTRY}/ListQueens`, {});
    expect(result).toMatchObject({
      grpcCode: 0,
      body: { queens: [{ queenId: `${hostname()}:${server.port}`, address: server.address, self: true }] },
    });
    expect(server.logs.find((line) => line.msg === 'hive-registry serving')).toMatchObject({
      queenId: `${hostname()}:${server.port}`,
      advertise: server.address,
    });
  });

  test('health check says SERVING', async () => {
    const result = await bufCurl(server.address, 'grpc.health.v1.Health/Check', { service: REGISTRY });
    expect(result).toMatchObject({ grpcCode: 0, body: { status: 'SERVING' } });
  });

  test('two hives stream heartbeats, then the best worker is the least loaded one with the model', async () => {
    const hiveA = new BufCurlStream(server.address, `${REGISTRY}/Heartbeat`);
    const hiveB = new BufCurlStream(server.address, `${REGISTRY}/Heartbeat`);
    streams.push(hiveA, hiveB);
    hiveA.send(payload('hive-a', 1, [worker('a-0', 'meta/llama-3-8b', 40), worker('a-1', 'qwen/qwen2-7b', 5)]));
    hiveB.send(payload('hive-b', 1, [worker('b-0', 'meta/llama-3-8b', 10)]));
    hiveA.send({ hiveId: 'hive-a', sequence: '2', unchanged: true });
    hiveA.send({ hiveId: 'hive-a', sequence: '2', unchanged: true });

    const acksA = await hiveA.messages(3);
    const acksB = await hiveB.messages(1);
    expect(acksA).toMatchObject([
      { sequence: '1', accepted: true, heartbeatInterval: '5s' },
      { sequence: '2', accepted: true },
      { sequence: '2', error: expect.stringContaining('sequence: must be greater than 2') },
    ]);
    expect(acksB).toMatchObject([{ sequence: '1', accepted: true }]);

    const active = await bufCurl(server.address, `${REGISTRY}/ListActiveHives`, {});
    expect(active.body).toEqual({ hiveIds: ['hive-a', 'hive-b'] });

    const best = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, { modelId: 'meta/llama-3-8b' });
    expect(best.grpcCode).toBe(0);
    expect(best.body).toMatchObject({
      entry: { hiveId: 'hive-b', hiveOnline: true, worker: { workerId: 'b-0', gpuPercent: 10 } },
      modelLoaded: true,
    });

    const fallback = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, { modelId: 'mistral/7b' });
    expect(fallback.body).toMatchObject({ entry: { worker: { workerId: 'a-1' } } });
    expect(fallback.body).not.toHaveProperty('modelLoaded');

    // Hive A says goodbye cleanly: the call ends with OK and hive A is offline at once.
    expect((await hiveA.close()).grpcCode).toBe(0);
    const online = await bufCurl(server.address, `${REGISTRY}/IsHiveOnline`, { hiveId: 'hive-a' });
    expect(online.body).toEqual({});
    const all = await bufCurl(server.address, `${REGISTRY}/ListAllHives`, {});
    expect(all.body).toEqual({ hiveIds: ['hive-a', 'hive-b'] });
  });

  test('bad input and unknown ids get the contract codes with a message naming the field', async () => {
    const bad = await bufCurl(server.address, `${REGISTRY}/GetHiveState`, { hiveId: 'no spaces allowed' });
    expect(bad.grpcCode).toBe(3); // INVALID_ARGUMENT
    expect(bad.body).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('hive_id') });

    const missing = await bufCurl(server.address, `${REGISTRY}/GetWorker`, { workerId: 'nobody' });
    expect(missing.grpcCode).toBe(5); // NOT_FOUND
    expect(missing.body).toMatchObject({ code: 'not_found', message: expect.stringContaining('worker_id') });
  });

  test('catalog: register, label with an update mask, list by selector, deregister', async () => {
    const registered = await bufCurl(server.address, `${CATALOG}/RegisterHive`, {
      hiveId: 'gpu-node-1',
      labels: { zone: 'eu-1', gpu: 'a100' },
      description: 'rack 3',
    });
    expect(registered).toMatchObject({
      grpcCode: 0,
      body: { hive: { hiveId: 'gpu-node-1', labels: { zone: 'eu-1', gpu: 'a100' }, description: 'rack 3' } },
    });
    const again = await bufCurl(server.address, `${CATALOG}/RegisterHive`, { hiveId: 'gpu-node-1' });
    expect(again.grpcCode).toBe(6); // ALREADY_EXISTS

    await bufCurl(server.address, `${CATALOG}/RegisterHive`, { hiveId: 'gpu-node-2', labels: { zone: 'us-1' } });
    const updated = await bufCurl(server.address, `${CATALOG}/UpdateHive`, {
      hive: { hiveId: 'gpu-node-2', labels: { zone: 'eu-1', gpu: 'h100' }, description: 'ignored: not in the mask' },
      updateMask: 'labels',
    });
    expect(updated.body).toMatchObject({ hive: { labels: { zone: 'eu-1', gpu: 'h100' } } });
    expect(updated.body).not.toHaveProperty('hive.description');

    const listed = await bufCurl(server.address, `${CATALOG}/ListCatalogHives`, { selector: { zone: 'eu-1' } });
    expect((listed.body as { hives: { hiveId: string }[] }).hives.map((h) => h.hiveId)).toEqual([
      'gpu-node-1',
      'gpu-node-2',
    ]);

    const badPath = await bufCurl(server.address, `${CATALOG}/UpdateHive`, {
      hive: { hiveId: 'gpu-node-2' },
      updateMask: 'lastSeen',
    });
    expect(badPath.grpcCode).toBe(3); // INVALID_ARGUMENT
    expect(badPath.body).toMatchObject({ message: expect.stringContaining('update_mask.paths[0]') });

    expect((await bufCurl(server.address, `${CATALOG}/DeregisterHive`, { hiveId: 'gpu-node-2' })).body).toEqual({
      removed: true,
    });
    const gone = await bufCurl(server.address, `${CATALOG}/GetCatalogHive`, { hiveId: 'gpu-node-2' });
    expect(gone.grpcCode).toBe(5); // NOT_FOUND
  });

  test('Watch through reflection: a snapshot, SYNCED, then live events', async () => {
    const hive = new BufCurlStream(server.address, `${REGISTRY}/Heartbeat`);
    streams.push(hive);
    hive.send(payload('hive-w', 1, [worker('w-0', 'meta/llama-3-8b', 20)]));
    await hive.messages(1);

    const watch = spawn(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{}', `http://${server.address}/${REGISTRY}/Watch`]);
    const events: Record<string, unknown>[] = [];
    const splitter = new JsonObjectSplitter();
    watch.stdout.on('data', (chunk: Buffer) => events.push(...(splitter.push(chunk.toString()) as Record<string, unknown>[])));
    const waitFor = async (predicate: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await waitFor(() => events.some((e) => e.type === 'WATCH_EVENT_TYPE_SYNCED'));
      const synced = events.findIndex((e) => e.type === 'WATCH_EVENT_TYPE_SYNCED');
      const snapshot = events.slice(0, synced);
      expect(snapshot).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'WATCH_EVENT_TYPE_HIVE_ONLINE', hiveId: 'hive-w', hiveOnline: true }),
          expect.objectContaining({ type: 'WATCH_EVENT_TYPE_WORKER_UPSERTED', hiveId: 'hive-w', worker: expect.objectContaining({ workerId: 'w-0' }) }),
        ]),
      );
      // Live: the hive changes a worker, then says goodbye.
      hive.send(payload('hive-w', 2, [worker('w-0', 'meta/llama-3-8b', 20, 'WORKER_STATUS_BUSY')]));
      await hive.messages(2);
      expect((await hive.close()).grpcCode).toBe(0);
      await waitFor(() => events.slice(synced + 1).some((e) => e.type === 'WATCH_EVENT_TYPE_HIVE_OFFLINE'));
      const live = events.slice(synced + 1).filter((e) => e.hiveId === 'hive-w');
      expect(live.map((e) => e.type)).toEqual(['WATCH_EVENT_TYPE_WORKER_UPSERTED', 'WATCH_EVENT_TYPE_HIVE_OFFLINE']);
      expect(live[0]).toMatchObject({ worker: { workerId: 'w-0', state: 'WORKER_STATUS_BUSY' } });
      expect(Number(live[1]?.revision)).toBe(Number(live[0]?.revision) + 1);
      expect(live.every((e) => e.epoch === events[synced]?.epoch)).toBe(true);
    } finally {
      watch.kill();
    }
  });
});

describe('scheduling v2 with buf curl through reflection', () => {
  let server: ServerProcess;
  let hive: BufCurlStream | undefined;

  beforeAll(async () => {
    // One snapshot and no ticks: a long offline threshold keeps the hive online however slow the machine.
    server = await startServer(['--offline-after', '1h', '--evict-after', '2h']);
  });

  afterAll(async () => {
    hive?.kill();
    expect(await stopServer(server)).toBe(0);
  });

  test('reserve, release, report a failure, cordon and uncordon, each as the contract says', async () => {
    hive = new BufCurlStream(server.address, `${REGISTRY}/Heartbeat`);
    hive.send(payload('hive-s', 1, [{ ...worker('s-0', 'meta/llama-3-8b', 20), maxConcurrency: 2 }]));
    expect(await hive.messages(1)).toMatchObject([{ sequence: '1', accepted: true }]);

    const reserved = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, {
      modelId: 'meta/llama-3-8b',
      reserve: true,
      reservationTtl: '60s',
    });
    expect(reserved).toMatchObject({ grpcCode: 0, body: { entry: { worker: { workerId: 's-0', maxConcurrency: 2 } } } });
    const reservationId = (reserved.body as { reservationId: string }).reservationId;
    expect(reservationId).toMatch(/^[0-9a-f-]{36}$/);
    const released = await bufCurl(server.address, `${REGISTRY}/ReleaseWorker`, { reservationId, success: true });
    expect(released).toMatchObject({ grpcCode: 0, body: { released: true } });
    const again = await bufCurl(server.address, `${REGISTRY}/ReleaseWorker`, { reservationId });
    expect(again).toMatchObject({ grpcCode: 0, body: {} });
    const badTtl = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, {
      modelId: 'meta/llama-3-8b',
      reserve: true,
      reservationTtl: '601s',
    });
    expect(badTtl).toMatchObject({ grpcCode: 3, body: { message: expect.stringContaining('reservation_ttl') } });

    const failure = await bufCurl(server.address, `${REGISTRY}/ReportWorkerFailure`, { workerId: 's-0', reason: 'HTTP 502' });
    expect(failure).toMatchObject({ grpcCode: 0, body: { excludedUntil: expect.any(String) } });
    const excluded = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, { modelId: 'meta/llama-3-8b' });
    expect(excluded.grpcCode).toBe(8); // RESOURCE_EXHAUSTED while excluded
    const unknown = await bufCurl(server.address, `${REGISTRY}/ReportWorkerFailure`, { workerId: 'ghost' });
    expect(unknown.grpcCode).toBe(5); // NOT_FOUND

    const cordoned = await bufCurl(server.address, `${CATALOG}/CordonHive`, { hiveId: 'hive-s' });
    expect(cordoned).toMatchObject({ grpcCode: 0, body: { hive: { hiveId: 'hive-s', cordoned: true } } });
    const uncordoned = await bufCurl(server.address, `${CATALOG}/UncordonHive`, { hiveId: 'hive-s' });
    expect(uncordoned).toMatchObject({ grpcCode: 0, body: { hive: { hiveId: 'hive-s' } } });
    const missing = await bufCurl(server.address, `${CATALOG}/CordonHive`, { hiveId: 'nowhere' });
    expect(missing.grpcCode).toBe(5); // NOT_FOUND

    const vram = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, {
      modelId: 'other/model',
      minVramBytes: '1099511627776',
    });
    expect(vram.grpcCode).toBe(8);
    const selector = await bufCurl(server.address, `${REGISTRY}/FindBestWorkerForModel`, {
      modelId: 'meta/llama-3-8b',
      selector: { zone: 'nowhere' },
    });
    expect(selector).toMatchObject({ grpcCode: 14, body: { message: expect.stringContaining('selector') } });
  });
});
