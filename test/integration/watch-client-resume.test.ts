// The typed client's `watch()` iterator resumes by itself: after a queen restart on the same port (new epoch:
// RESYNC, snapshot, SYNCED), after being ended for falling behind (RESOURCE_EXHAUSTED: a replay), and after a
// connection lost in the middle of a snapshot. The consumer only iterates.
import { createServer, connect, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { createRegistryClient, type RegistryClient } from '../../src/client/registry-client';
import type { WatchUpdate } from '../../src/client/watch-stream';
import { QueenServer } from '../../src/server/queen-server';
import { QueenClient, type HeartbeatStream } from '../helpers/client';
import { TEST_CONFIG, TestQueen } from '../helpers/queen';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';
import { openWatchCount, WatchModel, within } from '../helpers/watch-events';

/** Pulls updates from `iterator` into `model` until `done()` holds; every pull bounded. */
async function pullUntil(
  iterator: AsyncIterator<WatchUpdate>,
  model: WatchModel,
  done: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<WatchUpdate[]> {
  const deadline = Date.now() + timeoutMs;
  const pulled: WatchUpdate[] = [];
  while (!done()) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}; pulled ${pulled.length} update(s)`);
    const next = await within(iterator.next(), left, `${what} (after ${pulled.length} update(s))`);
    if (next.done === true) throw new Error(`the iterator ended while waiting for ${what}`);
    pulled.push(next.value);
    model.apply(next.value);
  }
  return pulled;
}

/** What the reads say, in the model's shape. */
async function reads(client: RegistryClient) {
  const [hives, active, workers] = await Promise.all([client.listAllHives(), client.listActiveHives(), client.listAllWorkers()]);
  // Watch events carry no owner queen: compare the rest.
  return { hives, online: active, workers: workers.map(({ queenId: _queen, ...entry }) => entry) };
}

const modelView = (model: WatchModel) => ({ hives: model.hiveIds(), online: model.onlineHiveIds(), workers: model.entries() });

describe("the typed client's watch() resumes by itself", () => {
  const cleanups: (() => Promise<void> | void)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('a queen restarted on the same port (system clock): RESYNC, a snapshot and SYNCED, then the new queen\'s events', async () => {
    const logger = pino({ level: 'silent' });
    let queen = await QueenServer.start({ ...TEST_CONFIG }, logger);
    cleanups.push(() => queen.stop());
    const address = `127.0.0.1:${queen.port}`;
    const hives = new QueenClient(address);
    cleanups.push(() => hives.close());
    expect((await hives.heartbeat().send(snapshotPayload('hive-old', 1, [wireWorker('old-1')]))).accepted).toBe(true);

    const client = createRegistryClient(address);
    cleanups.push(() => client.close());
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const iterator = client.watch({ signal: controller.signal })[Symbol.asyncIterator]();
    const model = new WatchModel();
    model.beginCall();
    await pullUntil(iterator, model, () => model.synced, 'the first SYNCED');
    expect(modelView(model)).toEqual({ hives: ['hive-old'], online: ['hive-old'], workers: [expect.objectContaining({ hiveId: 'hive-old' })] });
    const firstEpoch = model.position.epoch;

    await queen.stop();
    queen = await QueenServer.start({ ...TEST_CONFIG, listen: address }, logger);
    expect(queen.port).toBe(Number(address.split(':')[1]));

    // The consumer just goes on iterating.
    const afterRestart = await pullUntil(
      iterator,
      model,
      () => model.synced && model.position.epoch !== firstEpoch,
      'SYNCED from the restarted queen',
      15_000,
    );
    const types = afterRestart.map((u) => u.type);
    // The old queen's drain may announce hive-old offline first (its stream ended); then the new queen's answer.
    expect(types.filter((t) => t !== 'hive_offline')).toEqual(['resync', 'synced']);
    expect(afterRestart.at(-1)?.epoch).not.toBe(firstEpoch);
    expect(modelView(model)).toEqual({ hives: [], online: [], workers: [] }); // the new queen knows no hive yet

    const newHives = new QueenClient(address);
    cleanups.push(() => newHives.close());
    expect((await newHives.heartbeat().send(snapshotPayload('hive-new', 1, [wireWorker('new-1'), wireWorker('new-2')]))).accepted).toBe(true);
    const live = await pullUntil(iterator, model, () => model.entries().length === 2, "hive-new's events");
    expect(live.map((u) => `${u.type} ${u.hiveId} ${u.workerId ?? ''}`.trim())).toEqual([
      'hive_online hive-new',
      'worker_upserted hive-new new-1',
      'worker_upserted hive-new new-2',
    ]);
    expect(modelView(model)).toEqual(await reads(client));
    expect(model.violations).toEqual([]);
  }, 20_000);

  it('ended for falling behind (RESOURCE_EXHAUSTED): it resumes from its last revision, no event lost or repeated', async () => {
    const q = await TestQueen.start({ watchQueueEvents: 50 });
    cleanups.push(() => q.stop());
    const client = createRegistryClient(q.address);
    cleanups.push(() => client.close());
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const iterator = client.watch({ signal: controller.signal, backoff: { baseMs: 20, capMs: 100 } })[Symbol.asyncIterator]();
    const model = new WatchModel();
    model.beginCall();
    await pullUntil(iterator, model, () => model.synced, 'the first SYNCED');

    // The consumer stops pulling: the iterator stops reading after 1,000 queued events, HTTP/2 flow control stops
    // the queen's writes, and the queen ends the watch once 50 more are unsent. Bounded by the round count.
    const streams = new Map<string, HeartbeatStream>();
    let round = 0;
    while (openWatchCount(q.queen) === 1 && round < 500) {
      round += 1;
      for (const hiveId of ['hive-a', 'hive-b', 'hive-c']) {
        const stream = streams.get(hiveId) ?? q.client.heartbeat();
        streams.set(hiveId, stream);
        const workers = Array.from({ length: 10 }, (_, i) => wireWorker(`${hiveId}-w${i}`, { gpuPercent: (round * 7 + i) % 100 }));
        expect((await stream.send(snapshotPayload(hiveId, round, workers))).accepted).toBe(true);
      }
    }
    expect(openWatchCount(q.queen)).toBe(0);
    const last = q.queen.registry.revision;

    // Pulling again: what was queued, then (after its own reconnect) the replay of the rest, then SYNCED.
    const syncedBefore = model.counts.synced;
    const pulled = await pullUntil(
      iterator,
      model,
      () => model.counts.synced > syncedBefore && model.synced && model.position.revision === last,
      `SYNCED at revision ${last}`,
    );
    expect(pulled.filter((u) => u.type === 'resync')).toEqual([]);
    expect(pulled.filter((u) => u.type === 'synced').length).toBe(1);
    expect(pulled.filter((u) => u.type !== 'synced').map((u) => u.revision)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(model.violations).toEqual([]);
    expect(modelView(model)).toEqual(await reads(client));
  });

  it('a connection lost in the middle of a snapshot: the consumer ends up with the whole snapshot', async () => {
    const q = await TestQueen.start();
    cleanups.push(() => q.stop());
    // 3 hives of 1,000 workers: a snapshot of 3,004 events, more than the iterator queues before it stops reading.
    for (const hiveId of ['hive-a', 'hive-b', 'hive-c']) {
      await q.connectHive(
        hiveId,
        Array.from({ length: 1_000 }, (_, i) => wireWorker(`${hiveId}-w${String(i).padStart(4, '0')}`)),
      );
    }
    const proxy = await tcpProxy(q.queen.port);
    cleanups.push(() => proxy.close());
    const client = createRegistryClient(`127.0.0.1:${proxy.port}`);
    cleanups.push(() => client.close());
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const iterator = client.watch({ signal: controller.signal, backoff: { baseMs: 20, capMs: 100 } })[Symbol.asyncIterator]();
    const model = new WatchModel();
    model.beginCall();
    const first = await pullUntil(iterator, model, () => model.counts.events >= 1, 'the first snapshot event');
    expect(first[0]?.type).toBe('hive_online');

    // The consumer holds; the iterator stops reading at 1,000 queued events. The connection breaks.
    proxy.cut();

    // Pulling again: what was received, then whatever the iterator does after its own reconnect, up to a SYNCED.
    await pullUntil(iterator, model, () => model.synced, 'SYNCED after the lost connection');
    expect(proxy.connections).toBeGreaterThanOrEqual(2); // it did reconnect
    const expected = await reads(client);
    expect(expected.workers.length).toBe(3_000);
    const got = modelView(model);
    expect({ hives: got.hives, online: got.online, workers: got.workers.length }).toEqual({
      hives: expected.hives,
      online: expected.online,
      workers: 3_000,
    });
    expect(got).toEqual(expected);
  });
});

/** A TCP proxy to 127.0.0.1:targetPort whose connections can be cut at will (a lost network path). */
async function tcpProxy(targetPort: number): Promise<{ port: number; connections: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((inbound) => {
    connections += 1;
    const outbound = connect(targetPort, '127.0.0.1');
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  return {
    port: address.port,
    get connections() {
      return connections;
    },
    cut() {
      for (const socket of [...sockets]) socket.destroy();
    },
    close() {
      for (const socket of [...sockets]) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
