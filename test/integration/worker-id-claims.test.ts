import { status } from '@grpc/grpc-js';
import { accepted, ackSummary, rejected } from '../helpers/acks';
import { expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

describe('worker id claims across hives', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  it('a worker_id held by an offline hive may be claimed; not while the holder is online', async () => {
    const holder = await q.connectHive('hive-a', [wireWorker('w-1')]);
    const claimer = q.client.heartbeat();
    expect(ackSummary(await claimer.send(snapshotPayload('hive-b', 1, [wireWorker('w-1')])))).toEqual(
      rejected(1, /^workers\[0\]\.worker_id: "w-1" is held by online hive "hive-a"/),
    );
    holder.end();
    expectStatus(await holder.status, status.OK);
    expect(ackSummary(await claimer.send(snapshotPayload('hive-b', 2, [wireWorker('w-1')])))).toEqual(accepted(2));
    expect((await q.rpc.getWorkerUrl({ workerId: 'w-1' })).hiveId).toBe('hive-b');
  });

  it('a hive that went offline by the threshold loses its worker ids to a claimer', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(15_000);
    const claimer = q.client.heartbeat();
    expect(ackSummary(await claimer.send(snapshotPayload('hive-b', 1, [wireWorker('w-1')])))).toEqual(accepted(1));
    const { entry } = await q.rpc.getWorker({ workerId: 'w-1' });
    expect({ hiveId: entry?.hiveId, online: entry?.hiveOnline }).toEqual({ hiveId: 'hive-b', online: true });
  });

  it('a tick cannot bring back a worker id another online hive claimed meanwhile (ids unique fleet-wide)', async () => {
    // CONTRACT: worker_id is "unique across the whole fleet"; a payload is rejected when a worker_id is "already
    // held by another online hive"; a tick means "the last snapshot stands", and hive-a's last snapshot lists w-1.
    const first = await q.connectHive('hive-a', [wireWorker('w-1', { url: 'http://10.0.0.1:9300/' })]);
    q.clock.advance(15_000); // hive-a offline by the threshold; its stream is still open
    await q.connectHive('hive-b', [wireWorker('w-1', { url: 'http://10.0.0.2:9300/' })]);

    await first.send(tickPayload('hive-a', 2));

    // However the server resolves it (reject the tick, or drop w-1 from hive-a), w-1 must not end up with two
    // online holders handing out two different URLs.
    const { workers } = await q.rpc.listAllWorkers();
    const onlineHolders = workers
      .filter((e) => e.worker?.workerId === 'w-1' && e.hiveOnline)
      .map((e) => e.hiveId);
    expect(onlineHolders).toEqual(['hive-b']);
    expect((await q.rpc.getWorkerUrl({ workerId: 'w-1' })).url).toBe('http://10.0.0.2:9300/');
  });

  it('a snapshot re-listing a claimed id is rejected while the claimer is online', async () => {
    const first = await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(15_000); // hive-a offline by the threshold; its stream is still open
    await q.connectHive('hive-b', [wireWorker('w-1')]);
    expect(ackSummary(await first.send(snapshotPayload('hive-a', 2, [wireWorker('w-1')])))).toEqual(
      rejected(2, /^workers\[0\]\.worker_id: "w-1" is held by online hive "hive-b"/),
    );
    expect(ackSummary(await first.send(snapshotPayload('hive-a', 3, [wireWorker('w-9')])))).toEqual(accepted(3));
  });
});
