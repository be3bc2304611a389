import { create } from '@bufbuild/protobuf';
import { DurationSchema, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

const ms = (value: number) =>
  create(DurationSchema, { seconds: BigInt(Math.floor(value / 1000)), nanos: (value % 1000) * 1_000_000 });

/** Liveness is driven by the ManualClock: the test moves time, then asks. Nothing sleeps. */
describe('liveness', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start();
  });

  afterEach(async () => {
    await q.stop();
  });

  /** Every read that reflects hive-a's liveness, so one assertion checks they agree. */
  async function livenessOf(hiveId: string) {
    const [online, active, state, entry, idle] = await Promise.all([
      q.rpc.isHiveOnline({ hiveId }),
      q.rpc.listActiveHives(),
      q.rpc.getHiveState({ hiveId }),
      q.rpc.getWorker({ workerId: 'w-1' }),
      q.rpc.findIdleWorkers(),
    ]);
    return {
      isHiveOnline: online.online,
      listed: active.hiveIds.includes(hiveId),
      stateOnline: state.hive?.online,
      entryOnline: entry.entry?.hiveOnline,
      idleListed: idle.workers.some((e) => e.hiveId === hiveId),
    };
  }
  const ONLINE = { isHiveOnline: true, listed: true, stateOnline: true, entryOnline: true, idleListed: true };
  const OFFLINE = { isHiveOnline: false, listed: false, stateOnline: false, entryOnline: false, idleListed: false };

  it('a hive is online just before the offline threshold and offline exactly at it', async () => {
    await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(14_999);
    expect(await livenessOf('hive-a')).toEqual(ONLINE);
    q.clock.advance(1);
    expect(await livenessOf('hive-a')).toEqual(OFFLINE);
  });

  it('each accepted payload, tick or snapshot, restarts the threshold', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(10_000);
    expect((await stream.send(tickPayload('hive-a', 2))).accepted).toBe(true);
    q.clock.advance(10_000); // 20 s after the first payload, 10 s after the tick
    expect(await livenessOf('hive-a')).toEqual(ONLINE);
    expect((await stream.send(snapshotPayload('hive-a', 3, [wireWorker('w-1')]))).accepted).toBe(true);
    q.clock.advance(14_999);
    expect(await livenessOf('hive-a')).toEqual(ONLINE);
    q.clock.advance(1);
    expect(await livenessOf('hive-a')).toEqual(OFFLINE);
  });

  it('an offline hive comes back online with its next accepted payload on the same stream', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    q.clock.advance(20_000);
    expect(await livenessOf('hive-a')).toEqual(OFFLINE);
    expect((await stream.send(tickPayload('hive-a', 2))).accepted).toBe(true);
    expect(await livenessOf('hive-a')).toEqual(ONLINE);
  });

  it('only accepted payloads refresh liveness: a hive whose payloads are rejected goes offline, stream open', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    for (let i = 0; i < 3; i++) {
      q.clock.advance(5_000);
      const ack = await stream.send(snapshotPayload('hive-a', 2 + i, [wireWorker('w-1', { url: 'localhost:9300' })]));
      expect(ack.accepted).toBe(false);
    }
    // 15 s after the last accepted payload, with a rejected one just now.
    expect(await livenessOf('hive-a')).toEqual(OFFLINE);
    expect(stream.ended).toBe(false);
  });

  it('a hive whose stream ended is offline at once, whatever the clock says', async () => {
    const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
    stream.end();
    expectStatus(await stream.status, status.OK);
    expect(await livenessOf('hive-a')).toEqual(OFFLINE);
  });

  it('the sender timestamp never affects liveness', async () => {
    // A sender clock stuck in 1970 does not matter: the queen's receive time decides.
    await q.connectHive('hive-a', [wireWorker('w-1')], {
      timestamp: create(TimestampSchema, { seconds: 86_400n }),
    });
    expect(await livenessOf('hive-a')).toEqual(ONLINE);
  });

  describe('max_age', () => {
    it('replaces the offline threshold on IsHiveOnline, both shorter and longer', async () => {
      await q.connectHive('hive-a', [wireWorker('w-1')]);
      q.clock.advance(2_000);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: ms(2_000) })).online).toBe(false);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: ms(2_001) })).online).toBe(true);
      q.clock.advance(58_000); // 60 s: far past the 15 s threshold
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(false);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: ms(60_001) })).online).toBe(true);
    });

    it('replaces the offline threshold on ListActiveHives', async () => {
      await q.connectHive('hive-a', [wireWorker('w-1')]);
      q.clock.advance(30_000);
      await q.connectHive('hive-b', [wireWorker('w-2')]);
      q.clock.advance(1_000);
      expect((await q.rpc.listActiveHives()).hiveIds).toEqual(['hive-b']);
      expect((await q.rpc.listActiveHives({ maxAge: ms(31_001) })).hiveIds).toEqual(['hive-a', 'hive-b']);
      expect((await q.rpc.listActiveHives({ maxAge: ms(1_000) })).hiveIds).toEqual([]);
      expect((await q.rpc.listActiveHives({ maxAge: ms(1_001) })).hiveIds).toEqual(['hive-b']);
    });

    it('does not revive a hive whose stream ended', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      stream.end();
      expectStatus(await stream.status, status.OK);
      expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a', maxAge: ms(3_600_000) })).online).toBe(false);
      expect((await q.rpc.listActiveHives({ maxAge: ms(3_600_000) })).hiveIds).toEqual([]);
    });
  });

  describe('counts and "all" lists include offline hives not yet evicted', () => {
    it('HiveCount, TotalWorkerCount, ListAllHives and ListAllWorkers keep offline hives until eviction', async () => {
      await q.connectHive('hive-a', [wireWorker('w-1'), wireWorker('w-2')]);
      q.clock.advance(100_000);
      const b = await q.connectHive('hive-b', [wireWorker('w-3')]);
      b.end();
      expectStatus(await b.status, status.OK);

      const read = async () => ({
        hiveCount: (await q.rpc.hiveCount()).count,
        totalWorkers: (await q.rpc.totalWorkerCount()).count,
        allHives: (await q.rpc.listAllHives()).hiveIds,
        allWorkers: (await q.rpc.listAllWorkers()).workers.map(
          (e) => `${e.hiveId}/${e.worker?.workerId}:${e.hiveOnline}`,
        ),
        active: (await q.rpc.listActiveHives()).hiveIds,
      });

      expect(await read()).toEqual({
        hiveCount: 2,
        totalWorkers: 3,
        allHives: ['hive-a', 'hive-b'],
        allWorkers: ['hive-a/w-1:false', 'hive-a/w-2:false', 'hive-b/w-3:false'],
        active: [],
      });

      q.clock.advance(500_000); // hive-a's last payload is 600 s old: evicted; hive-b's is 500 s old
      q.queen.evictExpired();
      expect(await read()).toEqual({
        hiveCount: 1,
        totalWorkers: 1,
        allHives: ['hive-b'],
        allWorkers: ['hive-b/w-3:false'],
        active: [],
      });
    });
  });

  it('the sweep warns once when a hive goes silent with its stream open', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const loud = await TestQueen.start({}, pino({ level: 'info' }, sink));
    try {
      await loud.connectHive('hive-quiet', [wireWorker('w-9')]);
      const warnings = () => lines.filter((l) => l.hiveId === 'hive-quiet' && String(l.msg).startsWith('hive offline'));
      loud.clock.advance(14_999);
      loud.queen.sweep();
      expect(warnings()).toHaveLength(0);
      loud.clock.advance(1);
      loud.queen.sweep();
      loud.queen.sweep();
      expect(warnings()).toMatchObject([{ level: 40, component: 'liveness', offlineAfterMs: 15_000 }]);
    } finally {
      await loud.stop();
    }
  });
});
