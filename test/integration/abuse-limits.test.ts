// The limits against abuse, over a real server: each answers with a clear reason and changes nothing else.
import { status } from '@grpc/grpc-js';
import { accepted, ackSummary, rejected, snapshotOf } from '../helpers/acks';
import { expectRpcError, expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

let q: TestQueen | undefined;

afterEach(async () => {
  await q?.stop();
  q = undefined;
});

describe('streams per remote address', () => {
  test('one stream beyond the limit from an address is RESOURCE_EXHAUSTED naming it; a freed slot is reused', async () => {
    q = await TestQueen.start({ maxStreamsPerAddress: 2 });
    const a = await q.connectHive('hive-a', [wireWorker('wa')]);
    const b = await q.connectHive('hive-b');
    const third = q.client.heartbeat();
    third.write(snapshotPayload('hive-c', 1, []));
    expectStatus(await third.status, status.RESOURCE_EXHAUSTED, /at most 2 streams may be open from one address \(127\.0\.0\.1\) at once/);
    // Nothing else changed: the two hives stream on.
    expect(ackSummary(await a.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));
    expect(ackSummary(await b.send(tickPayload('hive-b', 2)))).toEqual(accepted(2));
    expect((await q.rpc.listAllHives({})).hiveIds).toEqual(['hive-a', 'hive-b']);

    b.end();
    await b.status;
    await q.connectHive('hive-c');
  });
});

describe('a hive sending much faster than the interval', () => {
  test('is throttled, not disconnected: payloads beyond the rate are refused unread, and the allowance refills', async () => {
    // 3 payloads per 6 s interval: one more every 2 s.
    q = await TestQueen.start({ heartbeatRateLimit: 3, heartbeatIntervalMs: 6_000, offlineAfterMs: 18_000 });
    const stream = await q.connectHive('hive-a', [wireWorker('w1')]);
    expect(ackSummary(await stream.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));
    expect(ackSummary(await stream.send(tickPayload('hive-a', 3)))).toEqual(accepted(3));
    const before = await q.rpc.getHiveState({ hiveId: 'hive-a' });

    const throttled = await stream.send(snapshotPayload('hive-a', 4, [wireWorker('w1'), wireWorker('w2')]));
    expect(ackSummary(throttled)).toEqual(
      rejected(4, /^throttled: this stream sent more than 3 payloads in one heartbeat interval \(6000 ms\); this one was dropped and changed nothing$/),
    );
    expect(await q.rpc.getHiveState({ hiveId: 'hive-a' })).toEqual(before);
    expect(stream.ended).toBe(false);

    q.clock.advance(1_999);
    expect(ackSummary(await stream.send(tickPayload('hive-a', 5)))).toEqual(rejected(5, /^throttled/));
    q.clock.advance(1);
    expect(ackSummary(await stream.send(snapshotPayload('hive-a', 6, [wireWorker('w1'), wireWorker('w2')])))).toEqual(accepted(6));
    expect(await snapshotOf(q.rpc, 'hive-a')).toMatchObject({ workers: ['w1', 'w2'], sequence: 6n, online: true });
  });

  test('the allowance is per stream: another hive is not slowed by a noisy one', async () => {
    q = await TestQueen.start({ heartbeatRateLimit: 2 });
    const noisy = await q.connectHive('hive-noisy');
    const quiet = await q.connectHive('hive-quiet');
    expect(ackSummary(await noisy.send(tickPayload('hive-noisy', 2)))).toEqual(accepted(2));
    expect(ackSummary(await noisy.send(tickPayload('hive-noisy', 3)))).toEqual(rejected(3, /^throttled/));
    expect(ackSummary(await quiet.send(tickPayload('hive-quiet', 2)))).toEqual(accepted(2));
  });
});

describe('streams that never send an accepted payload', () => {
  test('are ended with DEADLINE_EXCEEDED after the unbound timeout; bound streams are not', async () => {
    q = await TestQueen.start({ unboundStreamTimeoutMs: 10_000 });
    const bound = await q.connectHive('hive-a');
    const silent = q.client.heartbeat();
    const refusedOnly = q.client.heartbeat();
    expect(ackSummary(await refusedOnly.send(tickPayload('hive-b', 1)))).toEqual(rejected(1, /first payload of a stream must be a full snapshot/));

    q.clock.advance(9_999);
    q.queen.sweep();
    expect([silent.ended, refusedOnly.ended]).toEqual([false, false]);

    q.clock.advance(1);
    expect(ackSummary(await bound.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));
    q.queen.sweep();
    const timeout = /^Heartbeat: no payload accepted within 10000 ms of opening the stream; send a valid full snapshot first$/;
    expectStatus(await silent.status, status.DEADLINE_EXCEEDED, timeout);
    expectStatus(await refusedOnly.status, status.DEADLINE_EXCEEDED, timeout);
    expect(bound.ended).toBe(false);
    expect((await q.rpc.listAllHives({})).hiveIds).toEqual(['hive-a']);
  });

  test('a stream that binds in time stays, however long it then lives', async () => {
    q = await TestQueen.start({ unboundStreamTimeoutMs: 10_000 });
    const stream = q.client.heartbeat();
    q.clock.advance(9_000);
    expect(ackSummary(await stream.send(snapshotPayload('hive-a', 1, [])))).toEqual(accepted(1));
    q.clock.advance(5_000);
    q.queen.sweep();
    expect(ackSummary(await stream.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));
  });
});

describe('the cap on hives known at once', () => {
  test('a new hive beyond --max-hives is refused with RESOURCE_EXHAUSTED; known hives go on', async () => {
    q = await TestQueen.start({ maxHives: 2 });
    const a = await q.connectHive('hive-a');
    await q.connectHive('hive-b');
    const flood = q.client.heartbeat();
    const ack = await flood.send(snapshotPayload('bogus-1', 1, [wireWorker('wx')]));
    expect(ackSummary(ack)).toEqual(rejected(1, /the catalog holds its maximum of 2 hives \(--max-hives\); hive "bogus-1" cannot join/));
    expectStatus(await flood.status, status.RESOURCE_EXHAUSTED, /maximum of 2 hives/);
    expect((await q.rpc.listAllHives({})).hiveIds).toEqual(['hive-a', 'hive-b']);
    expect((await q.catalog.listCatalogHives({})).hives.map((h) => h.hiveId)).toEqual(['hive-a', 'hive-b']);
    await expectRpcError(q.rpc.getWorker({ workerId: 'wx' }), status.NOT_FOUND, /no worker "wx"/);
    await expectRpcError(q.catalog.registerHive({ hiveId: 'hive-c' }), status.RESOURCE_EXHAUSTED, /^hive_id: the catalog holds its maximum of 2 hives/);
    expect(ackSummary(await a.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));

    await q.catalog.deregisterHive({ hiveId: 'hive-b' });
    await q.connectHive('hive-c');
  });
});
