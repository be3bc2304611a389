import { status } from '@grpc/grpc-js';
import type { HeartbeatAck } from '../../gen/hive/v1/registry_pb';
import { accepted, ackSummary, rejected } from '../helpers/acks';
import { expectRpcError, expectStatus, type HeartbeatStream } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

const NOT_REGISTERED = /^hive_id: hive "hive-x" is not registered in the catalog/;

describe('Heartbeat admission with registration: required', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start({ registration: 'required', maxStreams: 400, maxStreamsPerAddress: 400, catalogFlushIntervalMs: 3_600_000 });
  });

  afterEach(async () => {
    await q.stop();
  });

  it('refuses an unregistered hive: ack accepted=false saying not registered, then PERMISSION_DENIED naming the hive', async () => {
    const stream = q.client.heartbeat();
    const ack = await stream.send(snapshotPayload('hive-x', 1, [wireWorker('w-1')]));

    expect(ackSummary(ack)).toEqual(rejected(1, NOT_REGISTERED));
    expect(ack.error).toMatch(/not registered/);
    const ended = await stream.status;
    expectStatus(ended, status.PERMISSION_DENIED, /not registered/);
    expect(ended.details).toContain('"hive-x"');

    await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-x' }), status.NOT_FOUND, /hive-x/);
    await expectRpcError(q.rpc.getWorker({ workerId: 'w-1' }), status.NOT_FOUND, /w-1/);
    expect((await q.rpc.listAllHives()).hiveIds).toEqual([]);
    expect((await q.catalog.listCatalogHives({})).hives).toEqual([]);
    await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-x' }), status.NOT_FOUND, /hive-x/);
    expect(q.queen.catalog.pendingWrites).toBe(0);
  });

  it('accepts a registered hive, which is then online in the registry and the catalog', async () => {
    await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
    const stream = q.client.heartbeat();
    const first = await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w-1')]));
    expect(ackSummary(first)).toEqual(accepted(1));
    expect(ackSummary(await stream.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));

    expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(true);
    expect((await q.rpc.listActiveHives()).hiveIds).toEqual(['hive-a']);
    const { hive } = await q.catalog.getCatalogHive({ hiveId: 'hive-a' });
    expect({ online: hive?.online, labels: hive?.labels, lastPeer: hive?.lastPeer }).toEqual({
      online: true,
      labels: { gpu: 'a100' },
      lastPeer: expect.stringMatching(/:\d+$/),
    });
    expect(stream.ended).toBe(false);
  });

  it('an unregistered hive payload with an invalid field gets the field error first; the stream stays open until a valid payload is refused', async () => {
    const stream = q.client.heartbeat();

    // Validation comes before admission: the answer is the field error, and the stream is not ended for it.
    const invalid = await stream.send(snapshotPayload('hive-x', 1, [wireWorker('w-1', { url: 'localhost:9300' })]));
    expect(ackSummary(invalid)).toEqual(rejected(1, /^workers\[0\]\.url: must be an absolute http\(s\) URL/));
    expect(invalid.error).not.toMatch(/not registered/);

    const badId = await stream.send(snapshotPayload('', 2));
    expect(ackSummary(badId)).toEqual(rejected(2, /^hive_id: must not be empty/));
    expect(stream.ended).toBe(false);

    // The first valid payload is the one that meets admission.
    const valid = await stream.send(snapshotPayload('hive-x', 3));
    expect(ackSummary(valid)).toEqual(rejected(3, NOT_REGISTERED));
    expectStatus(await stream.status, status.PERMISSION_DENIED, /"hive-x" is not registered/);
    expect((await q.rpc.hiveCount()).count).toBe(0);
  });

  it('a bound stream whose later payload names another hive gets the usual hive_id mismatch rejection and stays open', async () => {
    await q.catalog.registerHive({ hiveId: 'hive-a' });
    await q.catalog.registerHive({ hiveId: 'hive-b' });
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);

    const registeredOther = await stream.send(snapshotPayload('hive-b', 2));
    expect(ackSummary(registeredOther)).toEqual(rejected(2, /^hive_id: this stream belongs to hive "hive-a", got "hive-b"/));
    const unregisteredOther = await stream.send(snapshotPayload('hive-x', 3));
    expect(ackSummary(unregisteredOther)).toEqual(
      rejected(3, /^hive_id: this stream belongs to hive "hive-a", got "hive-x"/),
    );

    expect(stream.ended).toBe(false);
    expect(ackSummary(await stream.send(tickPayload('hive-a', 4)))).toEqual(accepted(4));
    expect((await q.rpc.listAllHives()).hiveIds).toEqual(['hive-a']);
    expect((await q.rpc.getHiveState({ hiveId: 'hive-a' })).hive?.sequence).toBe(4n);
  });

  it('a deregistered hive is refused when it reconnects', async () => {
    await q.catalog.registerHive({ hiveId: 'hive-x' });
    const first = await q.connectHive('hive-x');
    expect((await q.catalog.deregisterHive({ hiveId: 'hive-x' })).removed).toBe(true);
    expectStatus(await first.status, status.ABORTED, /deregistered/);

    const again = q.client.heartbeat();
    expect(ackSummary(await again.send(snapshotPayload('hive-x', 1)))).toEqual(rejected(1, NOT_REGISTERED));
    expectStatus(await again.status, status.PERMISSION_DENIED, /not registered/);
    await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-x' }), status.NOT_FOUND, /hive-x/);
  });

  it('restart-style burst: 300 registered hives open 300 streams at once and are all accepted and online', async () => {
    const hiveIds = Array.from({ length: 300 }, (_, i) => `hive-${String(i).padStart(3, '0')}`);
    for (const hiveId of hiveIds) await q.catalog.registerHive({ hiveId, labels: { fleet: 'burst' } });

    const clients = Array.from({ length: 10 }, () => q.newClient());
    const streams: HeartbeatStream[] = hiveIds.map((_, i) => (clients[i % clients.length] ?? q.client).heartbeat());
    // Every first snapshot is written before any ack is awaited.
    streams.forEach((stream, i) => stream.write(snapshotPayload(hiveIds[i] ?? '', 1, [wireWorker(`w-${i}`)])));
    const acks: HeartbeatAck[] = await Promise.all(streams.map((stream) => stream.nextAck()));

    const notAccepted = acks.filter((ack) => !ack.accepted || ack.error !== '').map((ack) => ack.error);
    expect(notAccepted).toEqual([]);
    expect(streams.filter((s) => s.ended).length).toBe(0);

    expect((await q.rpc.listActiveHives()).hiveIds).toEqual(hiveIds);
    const { hives } = await q.catalog.listCatalogHives({ selector: { fleet: 'burst' } });
    expect(hives.map((h) => h.hiveId)).toEqual(hiveIds);
    expect(hives.filter((h) => !h.online).map((h) => h.hiveId)).toEqual([]);
    expect(hives.filter((h) => h.lastSeen === undefined).map((h) => h.hiveId)).toEqual([]);
    expect(q.queen.catalog.pendingWrites).toBe(300);
  });
});
