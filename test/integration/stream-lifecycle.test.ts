import { status } from '@grpc/grpc-js';
import { eventually, expectRpcError, expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

describe('Heartbeat stream life cycle', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  const isOnline = async (hiveId: string) => (await q.rpc.isHiveOnline({ hiveId })).online;

  it('client half-close: the call ends with OK and the hive is offline at once, snapshot kept', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    expect(await isOnline('hive-a')).toBe(true);

    stream.end();

    expectStatus(await stream.status, status.OK);
    expect(await isOnline('hive-a')).toBe(false);
    expect((await q.rpc.listActiveHives()).hiveIds).toEqual([]);
    expect((await q.rpc.getWorkersOnHive({ hiveId: 'hive-a' })).workers.map((w) => w.workerId)).toEqual(['w-1']);
    expect((await q.rpc.getWorker({ workerId: 'w-1' })).entry?.hiveOnline).toBe(false);
  });

  it('half-close right after a payload: the payload is still applied and acked before the OK', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    stream.write(snapshotPayload('hive-a', 2, [wireWorker('w-2')]));
    stream.end();
    const ack = await stream.nextAck();
    expect({ sequence: ack.sequence, accepted: ack.accepted }).toEqual({ sequence: 2n, accepted: true });
    expectStatus(await stream.status, status.OK);
    const { hive } = await q.rpc.getHiveState({ hiveId: 'hive-a' });
    expect({ online: hive?.online, sequence: hive?.sequence, workers: hive?.workers.map((w) => w.workerId) }).toEqual({
      online: false,
      sequence: 2n,
      workers: ['w-2'],
    });
  });

  it('half-close of a stream that never had an accepted payload also ends with OK', async () => {
    const stream = q.client.heartbeat();
    await stream.send(tickPayload('hive-a', 1)); // rejected: a tick first
    stream.end();
    expectStatus(await stream.status, status.OK);
    expect((await q.rpc.hiveCount()).count).toBe(0);
  });

  it('client cancel: the hive goes offline at once (as soon as the cancel reaches the server)', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    stream.cancel();
    expectStatus(await stream.status, status.CANCELLED);
    // The cancel reaches the server asynchronously: poll, bounded to 2 s. The clock does not move.
    expect(await eventually(async () => !(await isOnline('hive-a')))).toBe(true);
    expect((await q.rpc.hiveCount()).count).toBe(1);
  });

  it('reconnect after cancel: a new stream starting again at sequence 1 is accepted and the hive is online', async () => {
    const first = await q.connectHive('hive-a', [wireWorker('w-1')]);
    await first.send(snapshotPayload('hive-a', 50, [wireWorker('w-1')]));
    first.cancel();
    expect(await eventually(async () => !(await isOnline('hive-a')))).toBe(true);

    const second = q.client.heartbeat();
    expect((await second.send(snapshotPayload('hive-a', 1, [wireWorker('w-1'), wireWorker('w-2')]))).accepted).toBe(
      true,
    );

    expect(await isOnline('hive-a')).toBe(true);
    const { hive } = await q.rpc.getHiveState({ hiveId: 'hive-a' });
    expect({ sequence: hive?.sequence, workers: hive?.workers.map((w) => w.workerId) }).toEqual({
      sequence: 1n,
      workers: ['w-1', 'w-2'],
    });
    // Its worker id came back with it: no "held by another hive" conflict with its own old snapshot.
    expect((await q.rpc.getWorker({ workerId: 'w-1' })).entry?.hiveOnline).toBe(true);
  });

  it('supersede: a new stream first accepted payload ends the old stream with ABORTED; the hive stays online', async () => {
    const oldClient = q.newClient(); // another connection, as a restarted agent would have
    const old = oldClient.heartbeat();
    expect((await old.send(snapshotPayload('hive-a', 100, [wireWorker('w-1')]))).accepted).toBe(true);

    const fresh = q.client.heartbeat();
    const ack = await fresh.send(snapshotPayload('hive-a', 1, [wireWorker('w-1'), wireWorker('w-2')]));
    expect({ accepted: ack.accepted, error: ack.error }).toEqual({ accepted: true, error: '' });

    expectStatus(await old.status, status.ABORTED, /superseded by a newer heartbeat stream for hive "hive-a"/);
    expect(await isOnline('hive-a')).toBe(true);
    expect((await fresh.send(tickPayload('hive-a', 2))).accepted).toBe(true);
    expect(fresh.ended).toBe(false);
    expect((await q.rpc.getHiveState({ hiveId: 'hive-a' })).hive?.sequence).toBe(2n);
  });

  it('supersede also works on the same connection, and the ended stream gets no more acks', async () => {
    const old = await q.connectHive('hive-a', [wireWorker('w-1')]);
    await q.connectHive('hive-a', [wireWorker('w-1')]);
    expectStatus(await old.status, status.ABORTED, /superseded/);
    await expect(old.send(tickPayload('hive-a', 2))).rejects.toThrow(/ended/);
    expect(await isOnline('hive-a')).toBe(true);
  });

  it('a stream that is not the hive current one ending does not take the hive offline', async () => {
    const old = await q.connectHive('hive-a');
    await q.connectHive('hive-a');
    expectStatus(await old.status, status.ABORTED);
    // A third, unbound stream going away changes nothing either.
    const unbound = q.client.heartbeat();
    unbound.end();
    expectStatus(await unbound.status, status.OK);
    expect(await isOnline('hive-a')).toBe(true);
  });

  it('RemoveHive ends the open stream with ABORTED and a message saying it was removed', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);
    const ended = await stream.status;
    expectStatus(ended, status.ABORTED, /removed/);
    expect(ended.details).toContain('hive-a');
    expect(await isOnline('hive-a')).toBe(false);
    await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
  });

  it('eviction ends a still-open stream with ABORTED and the hive disappears', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    // Its payloads keep being rejected, so nothing renews it while the stream stays open.
    q.clock.advance(300_000);
    expect((await stream.send(snapshotPayload('hive-a', 1))).accepted).toBe(false);
    q.clock.advance(299_999);
    q.queen.evictExpired();
    expect((await q.rpc.hiveCount()).count).toBe(1);
    expect(stream.ended).toBe(false);

    q.clock.advance(1);
    q.queen.evictExpired();

    expectStatus(await stream.status, status.ABORTED, /hive "hive-a" was evicted/);
    await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
    await expectRpcError(q.rpc.getWorker({ workerId: 'w-1' }), status.NOT_FOUND, /w-1/);
    expect((await q.rpc.listAllHives()).hiveIds).toEqual([]);
  });

  it('eviction removes an offline hive (stream ended) at the threshold after its last accepted payload', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(1_000);
    stream.end();
    expectStatus(await stream.status, status.OK);
    q.clock.advance(598_999);
    q.queen.evictExpired();
    expect((await q.rpc.listAllHives()).hiveIds).toEqual(['hive-a']);
    q.clock.advance(1);
    q.queen.evictExpired();
    expect((await q.rpc.listAllHives()).hiveIds).toEqual([]);
    expect((await q.rpc.totalWorkerCount()).count).toBe(0);
  });

  it('an evicted hive may come back on a new stream', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(600_000);
    q.queen.evictExpired();
    expectStatus(await stream.status, status.ABORTED, /evicted/);
    await q.connectHive('hive-a', [wireWorker('w-1')]);
    expect(await isOnline('hive-a')).toBe(true);
  });

  it('server stop ends open streams with UNAVAILABLE', async () => {
    const a = await q.connectHive('hive-a');
    const b = await q.connectHive('hive-b');
    const unbound = q.client.heartbeat();
    await unbound.send(tickPayload('hive-c', 1));

    const stopped = q.queen.stop();

    expectStatus(await a.status, status.UNAVAILABLE, /shutting down/);
    expectStatus(await b.status, status.UNAVAILABLE, /shutting down/);
    expectStatus(await unbound.status, status.UNAVAILABLE, /shutting down/);
    await stopped;
  });
});
