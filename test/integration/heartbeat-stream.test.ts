import { create } from '@bufbuild/protobuf';
import { DurationSchema, TimestampSchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { Backend, HealthStatus, WorkerStatus, type HeartbeatAck } from '../../gen/hive/v1/registry_pb';
import { accepted, ackSummary, rejected, snapshotOf } from '../helpers/acks';
import { expectRpcError, type PayloadInit } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireDevice, wireWorker } from '../helpers/wire-builders';

describe('Heartbeat stream', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  describe('acks', () => {
    it('answers each payload with its sequence, accepted, heartbeat_interval 5 s and the queen received_at', async () => {
      const stream = q.client.heartbeat();
      q.clock.advance(1_234);
      const first = await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w-1')]));
      expect(ackSummary(first)).toEqual(accepted(1));
      expect(first.heartbeatInterval).toEqual(create(DurationSchema, { seconds: 5n, nanos: 0 }));
      expect(first.receivedAt).toEqual(timestampFromMs(q.clock.wallNow()));

      q.clock.advance(5_000);
      const second = await stream.send(tickPayload('hive-a', 2));
      expect(ackSummary(second)).toEqual(accepted(2));
      expect(second.receivedAt).toEqual(timestampFromMs(q.clock.wallNow()));
      expect(second.heartbeatInterval).toEqual(create(DurationSchema, { seconds: 5n }));
    });

    it('gives rejected payloads an ack too (with heartbeat_interval and received_at)', async () => {
      const stream = q.client.heartbeat();
      const ack = await stream.send(snapshotPayload('hive-a', 3, [wireWorker('w-1', { url: 'localhost:9300' })]));
      expect(ackSummary(ack)).toEqual(rejected(3, /url/));
      expect(ack.heartbeatInterval).toEqual(create(DurationSchema, { seconds: 5n }));
      expect(ack.receivedAt).toEqual(timestampFromMs(q.clock.wallNow()));
    });

    it('acks pipelined payloads one for one, in payload order', async () => {
      const stream = q.client.heartbeat();
      const payloads: PayloadInit[] = [
        snapshotPayload('hive-a', 1, [wireWorker('w-1')]),
        tickPayload('hive-a', 2),
        snapshotPayload('hive-a', 3, [wireWorker('w-1'), wireWorker('w-2')]),
        tickPayload('hive-a', 3), // not above the last accepted
        snapshotPayload('hive-a', 4, [wireWorker('w-1', { url: 'localhost:9300' })]), // bad field
        tickPayload('hive-a', 10),
      ];
      for (const payload of payloads) stream.write(payload);
      const acks: HeartbeatAck[] = [];
      for (let i = 0; i < payloads.length; i++) acks.push(await stream.nextAck());
      expect(acks.map(ackSummary)).toEqual([
        accepted(1),
        accepted(2),
        accepted(3),
        rejected(3, /^sequence: /),
        rejected(4, /^workers\[0\]\.url: /),
        accepted(10),
      ]);
      expect(await snapshotOf(q.rpc, 'hive-a')).toEqual({
        workers: ['w-1', 'w-2'],
        devices: [],
        sequence: 10n,
        online: true,
      });
    });

    it('accepts any sequence on a stream first payload, then requires it to increase', async () => {
      const stream = q.client.heartbeat();
      expect(ackSummary(await stream.send(snapshotPayload('hive-a', 1_000)))).toEqual(accepted(1_000));
      expect(ackSummary(await stream.send(tickPayload('hive-a', 1_001)))).toEqual(accepted(1_001));
      const zero = q.client.heartbeat();
      expect(ackSummary(await zero.send(snapshotPayload('hive-b', 0)))).toEqual(accepted(0));
    });

    it('compares sequences with the last accepted one: a rejected payload sequence does not count', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      const bad = snapshotPayload('hive-a', 5, [wireWorker('w-1', { url: 'localhost:9300' })]);
      expect(ackSummary(await stream.send(bad))).toEqual(rejected(5, /url/));
      expect(ackSummary(await stream.send(tickPayload('hive-a', 3)))).toEqual(accepted(3));
      expect(ackSummary(await stream.send(tickPayload('hive-a', 3)))).toEqual(
        rejected(3, /^sequence: must be greater than 3/),
      );
    });
  });

  describe('snapshots and ticks', () => {
    it('replaces the snapshot with each accepted full payload', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1'), wireWorker('w-2')], {
        devices: [wireDevice(0, 1n << 30n)],
      });
      await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w-3')]));
      expect(await snapshotOf(q.rpc, 'hive-a')).toEqual({ workers: ['w-3'], devices: [], sequence: 2n, online: true });
    });

    it('a tick keeps the last snapshot and moves sequence, last_heartbeat and sender_timestamp', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')], {
        devices: [wireDevice(0, 1n << 30n)],
        ramTotalBytes: 1n << 34n,
      });
      q.clock.advance(5_000);
      const senderTimestamp = create(TimestampSchema, { seconds: 1_767_225_605n, nanos: 7 });
      expect(ackSummary(await stream.send(tickPayload('hive-a', 2, { timestamp: senderTimestamp })))).toEqual(
        accepted(2),
      );
      const { hive } = await q.rpc.getHiveState({ hiveId: 'hive-a' });
      expect(hive?.workers.map((w) => w.workerId)).toEqual(['w-1']);
      expect(hive?.devices.map((d) => d.deviceId)).toEqual([0]);
      expect(hive?.resources?.ramTotalBytes).toBe(1n << 34n);
      expect(hive?.sequence).toBe(2n);
      expect(hive?.lastHeartbeat).toEqual(timestampFromMs(q.clock.wallNow()));
      expect(hive?.senderTimestamp).toEqual(senderTimestamp);
    });

    it('accepts UNSPECIFIED enum values in a worker', async () => {
      await q.connectHive('hive-a', [
        wireWorker('w-1', {
          state: WorkerStatus.UNSPECIFIED,
          backend: Backend.UNSPECIFIED,
          health: HealthStatus.UNSPECIFIED,
        }),
      ]);
      const { workers } = await q.rpc.getWorkersOnHive({ hiveId: 'hive-a' });
      expect(workers[0]).toMatchObject({
        state: WorkerStatus.UNSPECIFIED,
        backend: Backend.UNSPECIFIED,
        health: HealthStatus.UNSPECIFIED,
      });
    });

    it('accepts ids using every allowed punctuation character ([A-Za-z0-9._:-])', async () => {
      await q.connectHive('Rack-1.zone_B:node-07', [wireWorker('W.0_a:b-9', { modelId: 'org/Model-3.1_instruct:q4' })]);
      expect((await q.rpc.getWorkerUrl({ workerId: 'W.0_a:b-9' })).hiveId).toBe('Rack-1.zone_B:node-07');
    });
  });

  describe('stream ownership', () => {
    it('rejects a tick as the first payload of a stream, then accepts a snapshot on it', async () => {
      const stream = q.client.heartbeat();
      expect(ackSummary(await stream.send(tickPayload('hive-a', 1)))).toEqual(
        rejected(1, /^unchanged: the first payload of a stream must be a full snapshot/),
      );
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
      expect(ackSummary(await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w-1')])))).toEqual(accepted(1));
      expect(await snapshotOf(q.rpc, 'hive-a')).toEqual({ workers: ['w-1'], devices: [], sequence: 1n, online: true });
    });

    it('rejects a tick first on a new stream even when the hive is known from an earlier stream', async () => {
      const old = await q.connectHive('hive-a', [wireWorker('w-1')]);
      const fresh = q.client.heartbeat();
      expect(ackSummary(await fresh.send(tickPayload('hive-a', 2)))).toEqual(rejected(2, /^unchanged: /));
      // The rejected tick did not take the hive over: the old stream is still its owner.
      expect(ackSummary(await old.send(tickPayload('hive-a', 2)))).toEqual(accepted(2));
      expect(old.ended).toBe(false);
    });

    it('a rejected first payload does not bind the stream: it may then serve another hive', async () => {
      const stream = q.client.heartbeat();
      expect(
        ackSummary(await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w-1', { url: 'localhost:9300' })]))),
      ).toEqual(rejected(1, /^workers\[0\]\.url: /));
      expect(ackSummary(await stream.send(snapshotPayload('hive-b', 1, [wireWorker('w-1')])))).toEqual(accepted(1));
      expect((await q.rpc.listAllHives()).hiveIds).toEqual(['hive-b']);
    });

    it('a rejected payload on a new stream does not supersede the hive current stream', async () => {
      const owner = await q.connectHive('hive-a', [wireWorker('w-1')]);
      const intruder = q.client.heartbeat();
      expect(
        ackSummary(await intruder.send(snapshotPayload('hive-a', 9, [wireWorker('w-1'), wireWorker('w-1')]))),
      ).toEqual(rejected(9, /duplicates/));
      expect(ackSummary(await owner.send(snapshotPayload('hive-a', 2, [wireWorker('w-2')])))).toEqual(accepted(2));
      expect(owner.ended).toBe(false);
      expect(await snapshotOf(q.rpc, 'hive-a')).toEqual({ workers: ['w-2'], devices: [], sequence: 2n, online: true });
    });
  });
});
