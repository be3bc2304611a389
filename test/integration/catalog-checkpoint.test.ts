import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema, timestampMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import type { HeartbeatAck } from '../../gen/hive/v1/registry_pb';
import { accepted, ackSummary } from '../helpers/acks';
import { readHiveRows } from '../helpers/catalog-fixtures';
import { expectRpcError, type HeartbeatStream } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

/** Keeps the periodic checkpoint out of a test: the test calls flush() itself. */
const NO_PERIODIC_FLUSH = { catalogFlushIntervalMs: 3_600_000 } as const;

/** The queen's receive time of an ack, in epoch ms. */
function receivedMs(ack: HeartbeatAck | undefined): number {
  if (ack?.receivedAt === undefined) throw new Error('ack without received_at');
  return timestampMs(ack.receivedAt);
}

describe('catalog checkpoints: heartbeats never touch the disk', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start(NO_PERIODIC_FLUSH);
  });

  afterEach(async () => {
    await q.stop();
  });

  it('50 hives x 10 payloads: no write; flush writes all 50 in one transaction, then nothing; last_seen exact', async () => {
    const catalog = q.queen.catalog;
    const writesBefore = catalog.writeTransactions;
    const hiveIds = Array.from({ length: 50 }, (_, i) => `hive-${String(i).padStart(2, '0')}`);
    const streams = new Map<string, HeartbeatStream>();
    const lastAck = new Map<string, HeartbeatAck>();

    for (let round = 1; round <= 10; round++) {
      q.clock.advance(1_000);
      const acks = await Promise.all(
        hiveIds.map(async (hiveId) => {
          let stream = streams.get(hiveId);
          if (stream === undefined) {
            stream = q.client.heartbeat();
            streams.set(hiveId, stream);
          }
          const payload =
            round === 1 ? snapshotPayload(hiveId, 1, [wireWorker(`${hiveId}-w`)]) : tickPayload(hiveId, round);
          const ack = await stream.send(payload);
          lastAck.set(hiveId, ack);
          return ack;
        }),
      );
      expect(acks.map(ackSummary)).toEqual(hiveIds.map(() => accepted(round)));
      expect(catalog.writeTransactions).toBe(writesBefore);
    }

    expect(catalog.writeTransactions).toBe(writesBefore);
    expect(catalog.pendingWrites).toBe(50);

    expect(await catalog.flush()).toBe(50);
    expect(catalog.writeTransactions).toBe(writesBefore + 1);
    expect(catalog.pendingWrites).toBe(0);

    expect(await catalog.flush()).toBe(0);
    expect(catalog.writeTransactions).toBe(writesBefore + 1);

    for (const hiveId of ['hive-00', 'hive-17', 'hive-49']) {
      const { hive } = await q.catalog.getCatalogHive({ hiveId });
      const ack = lastAck.get(hiveId);
      expect({ hiveId, lastSeen: hive?.lastSeen && timestampMs(hive.lastSeen), online: hive?.online }).toEqual({
        hiveId,
        lastSeen: receivedMs(ack),
        online: true,
      });
    }
    // The acks carry the queen's (manual) clock: the last round's is the clock's current reading.
    expect(receivedMs(lastAck.get('hive-00'))).toBe(q.clock.wallNow());

    // One more tick makes exactly that hive dirty again.
    q.clock.advance(1_000);
    expect(ackSummary(await (streams.get('hive-05') as HeartbeatStream).send(tickPayload('hive-05', 11)))).toEqual(
      accepted(11),
    );
    expect(catalog.writeTransactions).toBe(writesBefore + 1);
    expect(catalog.pendingWrites).toBe(1);
    expect(await catalog.flush()).toBe(1);
    expect(catalog.writeTransactions).toBe(writesBefore + 2);
  });

  it('operator writes (register, update, deregister) each commit exactly one transaction before the RPC answers', async () => {
    const catalog = q.queen.catalog;
    const start = catalog.writeTransactions;

    await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
    expect(catalog.writeTransactions).toBe(start + 1);

    await q.catalog.updateHive({
      hive: { hiveId: 'hive-a', description: 'rack 3' },
      updateMask: create(FieldMaskSchema, { paths: ['description'] }),
    });
    expect(catalog.writeTransactions).toBe(start + 2);

    await q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { gpu: 'h100' } } });
    expect(catalog.writeTransactions).toBe(start + 3);

    expect((await q.catalog.deregisterHive({ hiveId: 'hive-a' })).removed).toBe(true);
    expect(catalog.writeTransactions).toBe(start + 4);

    // Refused and read-only calls write nothing.
    await q.catalog.registerHive({ hiveId: 'hive-b' });
    expect(catalog.writeTransactions).toBe(start + 5);
    await expectRpcError(q.catalog.registerHive({ hiveId: 'hive-b' }), status.ALREADY_EXISTS, /hive-b/);
    await expectRpcError(q.catalog.updateHive({ hive: { hiveId: 'hive-x', description: 'x' } }), status.NOT_FOUND, /hive-x/);
    await expectRpcError(q.catalog.registerHive({ hiveId: 'hive c' }), status.INVALID_ARGUMENT, /hive_id/);
    expect((await q.catalog.deregisterHive({ hiveId: 'hive-x' })).removed).toBe(false);
    await q.catalog.getCatalogHive({ hiveId: 'hive-b' });
    await q.catalog.listCatalogHives({});
    expect(catalog.writeTransactions).toBe(start + 5);
  });

  it('an operator write to a hive changed by heartbeats writes its last_seen too, so the next flush has nothing for it', async () => {
    const catalog = q.queen.catalog;
    await q.connectHive('hive-a');
    await q.connectHive('hive-b');
    expect(catalog.pendingWrites).toBe(2);
    const before = catalog.writeTransactions;

    await q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { gpu: 'a100' } } });

    expect(catalog.writeTransactions).toBe(before + 1);
    expect(catalog.pendingWrites).toBe(1);
    expect(await catalog.flush()).toBe(1);
  });
});

describe('catalog checkpoints: the final flush on stop', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'catalog-checkpoint-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a stopped queen has written every hive last_seen (= ack received_at) and last_peer to its file', async () => {
    const path = join(dir, 'nested', 'catalog.db');
    const q = await TestQueen.start({ ...NO_PERIODIC_FLUSH, db: path });
    let stopped = false;
    try {
      await q.catalog.registerHive({ hiveId: 'hive-reg', labels: { gpu: 'a100' }, description: 'registered' });
      const registeredAtMs = q.clock.wallNow();
      const hiveIds = ['hive-a', 'hive-b', 'hive-c', 'hive-reg'];
      const lastReceivedMs = new Map<string, number>();
      q.clock.advance(5_000);
      for (const hiveId of hiveIds) {
        const stream = await q.connectHive(hiveId, [wireWorker(`${hiveId}-w`)]);
        q.clock.advance(1_000);
        const ack = await stream.send(tickPayload(hiveId, 2));
        expect(ackSummary(ack)).toEqual(accepted(2));
        lastReceivedMs.set(hiveId, receivedMs(ack));
      }

      // While it runs, the heartbeats live in memory only: the file has the registered hive, never seen.
      expect(readHiveRows(path).map((r) => [r.hive_id, r.last_seen, r.last_peer])).toEqual([['hive-reg', null, '']]);

      await q.stop();
      stopped = true;

      const rows = readHiveRows(path);
      expect(rows.map((r) => r.hive_id)).toEqual(hiveIds);
      for (const row of rows) {
        expect({ hiveId: row.hive_id, lastSeen: row.last_seen, lastPeer: row.last_peer }).toEqual({
          hiveId: row.hive_id,
          lastSeen: lastReceivedMs.get(row.hive_id),
          lastPeer: expect.stringMatching(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d{1,5}$/),
        });
      }
      const registered = rows.find((r) => r.hive_id === 'hive-reg');
      expect({
        labels: registered?.labels,
        description: registered?.description,
        createdAt: registered?.created_at,
        updatedAt: registered?.updated_at,
      }).toEqual({
        labels: '{"gpu":"a100"}',
        description: 'registered',
        createdAt: registeredAtMs,
        updatedAt: registeredAtMs,
      });
      // A hive that joined by heartbeat was created at its first heartbeat (5 s after the register, for hive-a).
      expect(rows.find((r) => r.hive_id === 'hive-a')?.created_at).toBe(registeredAtMs + 5_000);
    } finally {
      if (!stopped) await q.stop();
    }
  });

  it('a queen restarted on the same file lists every hive offline with its stored last_seen', async () => {
    const path = join(dir, 'catalog.db');
    const first = await TestQueen.start({ ...NO_PERIODIC_FLUSH, db: path });
    let seenMs: number;
    try {
      first.clock.advance(3_000);
      await first.connectHive('hive-a');
      seenMs = first.clock.wallNow();
    } finally {
      await first.stop();
    }

    const second = await TestQueen.start({ ...NO_PERIODIC_FLUSH, db: path });
    try {
      const { hives } = await second.catalog.listCatalogHives({});
      expect(hives.map((h) => ({ hiveId: h.hiveId, online: h.online, lastSeen: h.lastSeen && timestampMs(h.lastSeen) }))).toEqual([
        { hiveId: 'hive-a', online: false, lastSeen: seenMs },
      ]);
      await expectRpcError(second.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
    } finally {
      await second.stop();
    }
  });
});
