import { status } from '@grpc/grpc-js';
import { eventually, expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireDevice, wireWorker } from '../helpers/wire-builders';

/** A server with small limits, so each can be reached with a handful of messages. */
describe('limits', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start({ maxWorkersPerHive: 2, maxDevicesPerHive: 1, maxStreams: 2, maxMessageBytes: 16_384 });
  });

  afterEach(async () => {
    await q.stop();
  });

  it('accepts maxWorkersPerHive workers and rejects one more, naming workers and the limit; stream stays open', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1'), wireWorker('w-2')]);
    const three = [wireWorker('w-1'), wireWorker('w-2'), wireWorker('w-3')];
    const ack = await stream.send(snapshotPayload('hive-a', 2, three));
    expect({ accepted: ack.accepted, error: ack.error }).toEqual({
      accepted: false,
      error: expect.stringMatching(/^workers: at most 2 per hive, got 3/),
    });
    expect((await q.rpc.getWorkerCount({ hiveId: 'hive-a' })).count).toBe(2);
    expect((await stream.send(snapshotPayload('hive-a', 3, [wireWorker('w-9')]))).accepted).toBe(true);
  });

  it('rejects more devices than maxDevicesPerHive, naming devices and the limit', async () => {
    const stream = q.client.heartbeat();
    const devices = [wireDevice(0, 1n), wireDevice(1, 1n)];
    const ack = await stream.send(snapshotPayload('hive-a', 1, [], { devices }));
    expect({ accepted: ack.accepted, error: ack.error }).toEqual({
      accepted: false,
      error: expect.stringMatching(/^devices: at most 1 per hive, got 2/),
    });
    expect((await stream.send(snapshotPayload('hive-a', 2, [], { devices: [wireDevice(0, 1n)] }))).accepted).toBe(true);
  });

  it('refuses a stream beyond maxStreams with RESOURCE_EXHAUSTED, and admits one again once a stream ends', async () => {
    const a = await q.connectHive('hive-a');
    await q.connectHive('hive-b');

    const third = q.client.heartbeat();
    third.write(snapshotPayload('hive-c', 1));
    expectStatus(await third.status, status.RESOURCE_EXHAUSTED, /at most 2 streams/);
    expect((await q.rpc.hiveCount()).count).toBe(2);

    a.end();
    expectStatus(await a.status, status.OK);
    await q.connectHive('hive-c');
    expect((await q.rpc.listActiveHives()).hiveIds).toEqual(['hive-b', 'hive-c']);
  });

  it('ends a stream whose message exceeds maxMessageBytes with RESOURCE_EXHAUSTED', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    stream.write(snapshotPayload('hive-a', 2, [], { devices: [wireDevice(0, 1n, { name: 'x'.repeat(20_000) })] }));
    expectStatus(await stream.status, status.RESOURCE_EXHAUSTED);
    expect((await q.rpc.getWorkerCount({ hiveId: 'hive-a' })).count).toBe(1);
    // The stream ended, so the hive is offline (bounded poll: the server may learn of it asynchronously)...
    expect(await eventually(async () => !(await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online)).toBe(true);
    // ...and its slot is free again: maxStreams (2) new streams are admitted.
    await q.connectHive('hive-b');
    await q.connectHive('hive-c');
  });
});
