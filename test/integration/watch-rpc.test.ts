// hive.v1.HiveRegistry/Watch over a real grpc-js server, through a raw grpc-js client: snapshot, live events,
// resume, filters, bad input, cancel, drain and the slow-consumer limit. Liveness is driven by the ManualClock and
// `queen.sweep()`; nothing sleeps.
import { status } from '@grpc/grpc-js';
import { WatchEventType, WorkerStatus, type WatchEvent } from '../../gen/hive/v1/registry_pb';
import { createRegistryClient } from '../../src/client/registry-client';
import { ClientError } from '../../src/client/client-error';
import { eventually, expectStatus, type HeartbeatStream } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker, type WorkerInit } from '../helpers/wire-builders';
import { openWatchCount, RawWatches, summaries, summary, within, type RawWatch } from '../helpers/watch-events';

describe('Watch', () => {
  let q: TestQueen;
  let watches: RawWatches;

  async function start(overrides: Parameters<typeof TestQueen.start>[0] = {}): Promise<void> {
    q = await TestQueen.start(overrides);
    watches = new RawWatches(() => q.address);
  }

  afterEach(async () => {
    watches.closeAll();
    await q.stop();
  });

  const revision = (): number => q.queen.registry.revision;
  /** Whether the registry has announced `hiveId` online (what a watcher's snapshot says). */
  const announcedOnline = (hiveId: string): boolean | undefined => q.queen.registry.watchSnapshot(hiveId).hives[0]?.online;

  /** Opens a watch and returns it with its snapshot (through SYNCED). */
  async function synced(request: Parameters<RawWatches['watch']>[0] = {}): Promise<{ w: RawWatch; snapshot: WatchEvent[] }> {
    const w = watches.watch(request);
    const snapshot = await w.takeSynced();
    return { w, snapshot };
  }

  describe('snapshot and live events', () => {
    beforeEach(() => start());

    it('an empty registry: SYNCED at revision 0; a hive connecting makes HIVE_ONLINE then WORKER_UPSERTED per worker', async () => {
      const { w, snapshot } = await synced();
      expect(summaries(snapshot)).toEqual(['SYNCED @0']);
      const epoch = snapshot[0]?.epoch ?? '';
      expect(epoch).not.toBe('');

      await q.connectHive('hive-a', [wireWorker('w-2'), wireWorker('w-1', { gpuPercent: 30 }), wireWorker('w-3')]);
      const events = await w.take(4);
      expect(summaries(events)).toEqual([
        'HIVE_ONLINE hive-a online @1',
        'WORKER_UPSERTED hive-a/w-1 online @2',
        'WORKER_UPSERTED hive-a/w-2 online @3',
        'WORKER_UPSERTED hive-a/w-3 online @4',
      ]);
      expect(events.map((e) => e.epoch)).toEqual([epoch, epoch, epoch, epoch]);
      // The worker carries its full state, not only its id.
      expect({ url: events[1]?.worker?.url, gpu: events[1]?.worker?.gpuPercent, state: events[1]?.worker?.state }).toEqual({
        url: 'http://10.0.0.1:9300/w-1',
        gpu: 30,
        state: WorkerStatus.IDLE,
      });
      expect(events[0]?.worker).toBeUndefined();
      expect(revision()).toBe(4);
    });

    it('a snapshot of an existing fleet: one hive event per hive, one WORKER_UPSERTED per worker, all at the current revision, then SYNCED', async () => {
      await q.connectHive('hive-a', [wireWorker('a-1'), wireWorker('a-2', { modelId: 'llama' })]); // revisions 1-3
      const b = await q.connectHive('hive-b', [wireWorker('b-1')]); // 4-5
      b.end(); // 6: HIVE_OFFLINE
      expectStatus(await b.status, status.OK);
      await q.connectHive('hive-c'); // 7
      expect(revision()).toBe(7);

      const { snapshot } = await synced();
      const epoch = snapshot[0]?.epoch;
      expect(snapshot.map((e) => e.epoch)).toEqual(snapshot.map(() => epoch));
      expect(summaries(snapshot).at(-1)).toBe('SYNCED @7');
      expect(summaries(snapshot.slice(0, -1)).sort()).toEqual([
        'HIVE_OFFLINE hive-b offline @7',
        'HIVE_ONLINE hive-a online @7',
        'HIVE_ONLINE hive-c online @7',
        'WORKER_UPSERTED hive-a/a-1 online @7',
        'WORKER_UPSERTED hive-a/a-2 online @7',
        'WORKER_UPSERTED hive-b/b-1 offline @7',
      ]);
      const a2 = snapshot.find((e) => e.worker?.workerId === 'a-2');
      expect(a2?.worker?.modelId).toBe('llama');
      expect(revision()).toBe(7); // a snapshot is not an event
    });

    it('the same snapshot sent again (and a tick) makes no event; one changed worker makes exactly one', async () => {
      const workers: WorkerInit[] = [wireWorker('w-1'), wireWorker('w-2'), wireWorker('w-3')];
      const stream = await q.connectHive('hive-a', workers); // 1-4
      const { w } = await synced();

      expect((await stream.send(snapshotPayload('hive-a', 2, workers))).accepted).toBe(true);
      expect((await stream.send(tickPayload('hive-a', 3))).accepted).toBe(true);
      expect(revision()).toBe(4);
      const changed = [workers[0] as WorkerInit, wireWorker('w-2', { state: WorkerStatus.BUSY }), workers[2] as WorkerInit];
      expect((await stream.send(snapshotPayload('hive-a', 4, changed))).accepted).toBe(true);
      // A marker after it: had the resend or the tick made events, they would come before it.
      await q.connectHive('hive-z');

      const events = await w.take(2);
      expect(summaries(events)).toEqual(['WORKER_UPSERTED hive-a/w-2 online @5', 'HIVE_ONLINE hive-z online @6']);
      expect(events[0]?.worker?.state).toBe(WorkerStatus.BUSY);
      expect(w.untaken).toBe(0);
    });

    it('a worker removed and one added in one heartbeat: WORKER_REMOVED (id only) and WORKER_UPSERTED in worker-id order', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1'), wireWorker('w-3')]); // 1-3
      const { w } = await synced();
      expect((await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w-2'), wireWorker('w-3')]))).accepted).toBe(true);
      const events = await w.take(2);
      expect(summaries(events)).toEqual(['WORKER_REMOVED hive-a/w-1 online @4', 'WORKER_UPSERTED hive-a/w-2 online @5']);
      expect({ id: events[0]?.worker?.workerId, url: events[0]?.worker?.url }).toEqual({ id: 'w-1', url: '' });
    });
  });

  describe('liveness events', () => {
    beforeEach(() => start());

    it('a half-closed heartbeat stream: HIVE_OFFLINE at once, without the clock moving', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]); // 1-2
      const { w } = await synced();
      stream.end();
      expect(summaries(await w.take(1))).toEqual(['HIVE_OFFLINE hive-a offline @3']);
      // Back on a new stream: HIVE_ONLINE; its unchanged worker makes no event.
      await q.connectHive('hive-a', [wireWorker('w-1')]);
      await q.connectHive('hive-z');
      expect(summaries(await w.take(2))).toEqual(['HIVE_ONLINE hive-a online @4', 'HIVE_ONLINE hive-z online @5']);
    });

    it('a cancelled heartbeat stream: HIVE_OFFLINE as soon as the cancel reaches the server', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]); // 1-2
      const { w } = await synced();
      stream.cancel();
      expect(summaries(await w.take(1))).toEqual(['HIVE_OFFLINE hive-a offline @3']);
    });

    it('silence: HIVE_OFFLINE once, at the first sweep past offlineAfterMs; the next tick brings HIVE_ONLINE', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]); // 1-2
      const { w } = await synced();

      q.clock.advance(q.config.offlineAfterMs - 1);
      q.queen.sweep();
      expect(revision()).toBe(2);
      q.clock.advance(1);
      q.queen.sweep();
      q.queen.sweep();
      expect(revision()).toBe(3);
      const marker = await q.connectHive('hive-z'); // 4
      expect(summaries(await w.take(2))).toEqual(['HIVE_OFFLINE hive-a offline @3', 'HIVE_ONLINE hive-z online @4']);

      expect((await stream.send(tickPayload('hive-a', 2))).accepted).toBe(true);
      expect(summaries(await w.take(1))).toEqual(['HIVE_ONLINE hive-a online @5']);
      marker.end();
      expect(summaries(await w.take(1))).toEqual(['HIVE_OFFLINE hive-z offline @6']);
    });

    it("silence is announced within 1 s by the queen's own sweep (no sweep() by hand)", async () => {
      await q.connectHive('hive-a', [wireWorker('w-1')]); // 1-2
      const { w } = await synced();
      q.clock.advance(q.config.offlineAfterMs);
      const announced = Date.now();
      expect(summaries(await w.take(1, 1_000))).toEqual(['HIVE_OFFLINE hive-a offline @3']);
      expect(Date.now() - announced).toBeLessThan(1_000);
    });

    it('RemoveHive: HIVE_REMOVED, for an online and for an offline hive; eviction too', async () => {
      await q.connectHive('hive-a', [wireWorker('a-1')]); // 1-2
      const b = await q.connectHive('hive-b', [wireWorker('b-1')]); // 3-4
      b.end(); // 5
      expectStatus(await b.status, status.OK);
      const { w } = await synced();
      expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);
      expect((await q.rpc.removeHive({ hiveId: 'hive-b' })).removed).toBe(true);
      expect((await q.rpc.removeHive({ hiveId: 'hive-b' })).removed).toBe(false); // no event for an unknown hive
      expect(summaries(await w.take(2))).toEqual(['HIVE_REMOVED hive-a offline @6', 'HIVE_REMOVED hive-b offline @7']);

      await q.connectHive('hive-c'); // 8
      expect(summaries(await w.take(1))).toEqual(['HIVE_ONLINE hive-c online @8']);
      q.clock.advance(q.config.evictAfterMs);
      q.queen.sweep(); // 9: offline by silence, 10: evicted
      expect(summaries(await w.take(2))).toEqual(['HIVE_OFFLINE hive-c offline @9', 'HIVE_REMOVED hive-c offline @10']);
    });
  });

  describe('resume', () => {
    /** Ten events: hive-a (1-3), hive-b (4-5), w-a2 busy (6), hive-b offline (7), hive-c (8), hive-a offline (9), hive-c worker (10). */
    async function tenEvents(): Promise<void> {
      const a = await q.connectHive('hive-a', [wireWorker('a-1'), wireWorker('a-2')]);
      const b = await q.connectHive('hive-b', [wireWorker('b-1')]);
      expect((await a.send(snapshotPayload('hive-a', 2, [wireWorker('a-1'), wireWorker('a-2', { state: WorkerStatus.BUSY })]))).accepted).toBe(true);
      b.end();
      expectStatus(await b.status, status.OK);
      const c = await q.connectHive('hive-c');
      a.end();
      expectStatus(await a.status, status.OK);
      expect((await c.send(snapshotPayload('hive-c', 2, [wireWorker('c-1')]))).accepted).toBe(true);
      expect(revision()).toBe(10);
    }

    describe('with the default history', () => {
      beforeEach(() => start());

      it('start_revision N with the right epoch: exactly the events after N, then SYNCED at the current revision', async () => {
        const { w: first, snapshot } = await synced();
        const epoch = snapshot[0]?.epoch ?? '';
        await tenEvents();
        const all = await first.take(10);

        const resumed = watches.watch({ startRevision: 4n, epoch });
        const replay = await resumed.takeSynced();
        expect(summaries(replay)).toEqual([...summaries(all.slice(4)), 'SYNCED @10']);
        expect(replay.map((e) => e.epoch)).toEqual(replay.map(() => epoch));
        // Live events follow.
        await q.connectHive('hive-d');
        expect(summaries(await resumed.take(1))).toEqual(['HIVE_ONLINE hive-d online @11']);

        // From the current revision: nothing to replay, SYNCED at once.
        const current = watches.watch({ startRevision: 11n, epoch });
        expect(summaries(await current.takeSynced())).toEqual(['SYNCED @11']);
      });

      it('start_revision with another epoch: RESYNC, then a snapshot, then SYNCED', async () => {
        await tenEvents();
        for (const epoch of ['another-epoch', '']) {
          const w = watches.watch({ startRevision: 4n, epoch });
          const events = await w.takeSynced();
          expect(summary(events[0] as WatchEvent)).toBe('RESYNC @10');
          expect(summaries(events.slice(1, -1)).sort()).toEqual([
            'HIVE_OFFLINE hive-a offline @10',
            'HIVE_OFFLINE hive-b offline @10',
            'HIVE_ONLINE hive-c online @10',
            'WORKER_UPSERTED hive-a/a-1 offline @10',
            'WORKER_UPSERTED hive-a/a-2 offline @10',
            'WORKER_UPSERTED hive-b/b-1 offline @10',
            'WORKER_UPSERTED hive-c/c-1 online @10',
          ]);
          expect(summary(events.at(-1) as WatchEvent)).toBe('SYNCED @10');
          expect(events[0]?.epoch).not.toBe(epoch);
        }
      });

      it('a start_revision beyond the current one: RESYNC and a snapshot', async () => {
        const { snapshot } = await synced();
        const epoch = snapshot[0]?.epoch ?? '';
        await tenEvents();
        for (const startRevision of [11n, 2n ** 63n]) {
          const events = await watches.watch({ startRevision, epoch }).takeSynced();
          expect(summary(events[0] as WatchEvent)).toBe('RESYNC @10');
          expect(events.length).toBe(1 + 7 + 1);
          expect(summary(events.at(-1) as WatchEvent)).toBe('SYNCED @10');
        }
      });
    });

    describe('with a history of 5 events', () => {
      beforeEach(() => start({ watchHistoryEvents: 5 }));

      it('the oldest resumable revision replays; one older gets RESYNC and a snapshot', async () => {
        const { snapshot } = await synced();
        const epoch = snapshot[0]?.epoch ?? '';
        await tenEvents();

        // Events 6-10 are kept: from 5, a replay.
        const replay = await watches.watch({ startRevision: 5n, epoch }).takeSynced();
        expect(summaries(replay).map((s) => s.replace(/.* @/, '@'))).toEqual(['@6', '@7', '@8', '@9', '@10', '@10']);
        expect(replay.at(-1)?.type).toBe(WatchEventType.SYNCED);

        // Event 5 is gone: from 4 (or 1), RESYNC + snapshot.
        for (const startRevision of [4n, 1n]) {
          const events = await watches.watch({ startRevision, epoch }).takeSynced();
          expect(summary(events[0] as WatchEvent)).toBe('RESYNC @10');
          expect(summaries(events.slice(1, -1)).sort()).toEqual([
            'HIVE_OFFLINE hive-a offline @10',
            'HIVE_OFFLINE hive-b offline @10',
            'HIVE_ONLINE hive-c online @10',
            'WORKER_UPSERTED hive-a/a-1 offline @10',
            'WORKER_UPSERTED hive-a/a-2 offline @10',
            'WORKER_UPSERTED hive-b/b-1 offline @10',
            'WORKER_UPSERTED hive-c/c-1 online @10',
          ]);
          expect(summary(events.at(-1) as WatchEvent)).toBe('SYNCED @10');
        }
      });
    });
  });

  describe('filters', () => {
    beforeEach(() => start());

    it("hive_id: only that hive's events, its snapshot included", async () => {
      const a = await q.connectHive('hive-a', [wireWorker('a-1')]); // 1-2
      const b = await q.connectHive('hive-b', [wireWorker('b-1'), wireWorker('b-2')]); // 3-5
      const { w, snapshot } = await synced({ hiveId: 'hive-b' });
      expect(summaries(snapshot)).toEqual([
        'HIVE_ONLINE hive-b online @5',
        'WORKER_UPSERTED hive-b/b-1 online @5',
        'WORKER_UPSERTED hive-b/b-2 online @5',
        'SYNCED @5',
      ]);
      expect((await a.send(snapshotPayload('hive-a', 2, [wireWorker('a-1', { gpuPercent: 50 })]))).accepted).toBe(true); // 6
      a.end(); // 7
      expectStatus(await a.status, status.OK);
      expect((await b.send(snapshotPayload('hive-b', 2, [wireWorker('b-1')]))).accepted).toBe(true); // 8: b-2 removed
      b.end(); // 9
      expect(summaries(await w.take(2))).toEqual(['WORKER_REMOVED hive-b/b-2 online @8', 'HIVE_OFFLINE hive-b offline @9']);
      expect(w.untaken).toBe(0);

      // A hive not in the registry: an empty snapshot, then its events once it connects.
      const { w: later, snapshot: empty } = await synced({ hiveId: 'hive-c' });
      expect(summaries(empty)).toEqual(['SYNCED @9']);
      await q.connectHive('hive-c', [wireWorker('c-1')]);
      expect(summaries(await later.take(2))).toEqual(['HIVE_ONLINE hive-c online @10', 'WORKER_UPSERTED hive-c/c-1 online @11']);
    });

    it('hives_only: no worker events, in the snapshot or live', async () => {
      const a = await q.connectHive('hive-a', [wireWorker('a-1'), wireWorker('a-2')]); // 1-3
      const { w, snapshot } = await synced({ hivesOnly: true });
      expect(summaries(snapshot)).toEqual(['HIVE_ONLINE hive-a online @3', 'SYNCED @3']);
      expect((await a.send(snapshotPayload('hive-a', 2, [wireWorker('a-1', { state: WorkerStatus.BUSY })]))).accepted).toBe(true); // 4, 5
      await q.connectHive('hive-b', [wireWorker('b-1')]); // 6, 7
      a.end(); // 8
      expect(summaries(await w.take(2))).toEqual(['HIVE_ONLINE hive-b online @6', 'HIVE_OFFLINE hive-a offline @8']);
      expect(w.untaken).toBe(0);
    });

    it('load_change_threshold 10: a 5-point gpu change is not sent, a 20-point one is, a state change always is', async () => {
      const worker = (gpuPercent: number, state = WorkerStatus.IDLE) => [wireWorker('w-1', { gpuPercent, cpuPercent: 10, state })];
      const stream = await q.connectHive('hive-a', worker(50)); // 1-2
      const { w: thresholded } = await synced({ loadChangeThreshold: 10 });
      const { w: everything } = await synced();

      let sequence = 1;
      const send = async (workers: WorkerInit[]) => expect((await stream.send(snapshotPayload('hive-a', ++sequence, workers))).accepted).toBe(true);
      await send(worker(55)); // 3: 5 points
      await send(worker(75)); // 4: 20 points
      await send(worker(76, WorkerStatus.BUSY)); // 5: 1 point, but the state changed
      await send(worker(66)); // 6: 10 points: not smaller than the threshold, sent (also the state changed back)
      await send([wireWorker('w-1', { gpuPercent: 67, cpuPercent: 40 })]); // 7: cpu moved 30 points
      await q.connectHive('hive-z'); // 8: marker

      expect(summaries(await everything.take(6)).map((s) => s.replace(/.* @/, '@'))).toEqual(['@3', '@4', '@5', '@6', '@7', '@8']);
      const events = await thresholded.take(5);
      expect(events.map((e) => [Number(e.revision), e.worker?.gpuPercent, e.worker?.state])).toEqual([
        [4, 75, WorkerStatus.IDLE],
        [5, 76, WorkerStatus.BUSY],
        [6, 66, WorkerStatus.IDLE],
        [7, 67, WorkerStatus.IDLE],
        [8, undefined, undefined],
      ]);
    });

    it('load_change_threshold exactly 10: a change of exactly 10 points is sent (only smaller ones are dropped)', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1', { gpuPercent: 50 })]);
      const { w } = await synced({ loadChangeThreshold: 10 });
      expect((await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w-1', { gpuPercent: 59.5 })]))).accepted).toBe(true); // 3
      expect((await stream.send(snapshotPayload('hive-a', 3, [wireWorker('w-1', { gpuPercent: 69.5 })]))).accepted).toBe(true); // 4
      expect(summaries(await w.take(1))).toEqual(['WORKER_UPSERTED hive-a/w-1 online @4']);
    });
  });

  describe('bad input', () => {
    beforeEach(() => start());

    it.each([
      ['hive_id "bad id"', { hiveId: 'bad id' }, /hive_id/],
      ['hive_id of 129 characters', { hiveId: 'x'.repeat(129) }, /hive_id/],
      ['load_change_threshold 150', { loadChangeThreshold: 150 }, /load_change_threshold/],
      ['load_change_threshold -1', { loadChangeThreshold: -1 }, /load_change_threshold/],
      ['load_change_threshold NaN', { loadChangeThreshold: Number.NaN }, /load_change_threshold/],
    ])('%s: INVALID_ARGUMENT naming the field, no event', async (_name, request, details) => {
      const w = watches.watch(request);
      expectStatus(await w.ends(), status.INVALID_ARGUMENT, details);
      expect(w.events).toEqual([]);
      expect(openWatchCount(q.queen)).toBe(0);
    });

    it('the typed client throws ClientError(INVALID_ARGUMENT) instead of retrying a refused request', async () => {
      const client = createRegistryClient(q.address);
      try {
        const iterate = async () => {
          for await (const update of client.watch({ loadChangeThreshold: 150 })) throw new Error(`unexpected ${update.type}`);
        };
        const error = await within(iterate().then(() => undefined, (e: unknown) => e), 5_000, 'the refused watch');
        expect(error).toBeInstanceOf(ClientError);
        expect({ code: status[(error as ClientError).code], details: (error as ClientError).details }).toEqual({
          code: 'INVALID_ARGUMENT',
          details: expect.stringMatching(/load_change_threshold/),
        });
      } finally {
        client.close();
      }
    });
  });

  describe('stream life cycle', () => {
    it('client cancel: the server forgets the watcher; heartbeats and other watchers go on', async () => {
      await start();
      const { w: leaving } = await synced();
      const { w: staying } = await synced();
      expect(openWatchCount(q.queen)).toBe(2);
      leaving.cancel();
      expectStatus(await leaving.ends(), status.CANCELLED);
      expect(await eventually(async () => openWatchCount(q.queen) === 1)).toBe(true);

      await q.connectHive('hive-a', [wireWorker('w-1')]);
      expect(summaries(await staying.take(2))).toEqual(['HIVE_ONLINE hive-a online @1', 'WORKER_UPSERTED hive-a/w-1 online @2']);
      expect(leaving.events.length).toBe(1); // its SYNCED only
    });

    it('the typed client: aborting the signal cancels the call and the server forgets the watcher', async () => {
      await start();
      const client = createRegistryClient(q.address);
      const controller = new AbortController();
      try {
        const received: string[] = [];
        const done = (async () => {
          for await (const update of client.watch({ signal: controller.signal })) {
            received.push(`${update.type}@${update.revision}`);
            if (update.type === 'synced') controller.abort();
          }
        })();
        await within(done, 5_000, 'the aborted watch to end');
        expect(received).toEqual(['synced@0']);
        expect(await eventually(async () => openWatchCount(q.queen) === 0)).toBe(true);
      } finally {
        client.close();
      }
    });

    it('drain: stopping the queen ends an open watch with UNAVAILABLE', async () => {
      await start();
      await q.connectHive('hive-a');
      const { w } = await synced();
      await q.queen.stop();
      expectStatus(await w.ends(), status.UNAVAILABLE, /shutting down/);
      // Draining ends the watches before the heartbeat streams: watchers resume on the next queen and are not told
      // that every hive went offline only because this one is stopping.
      expect(summaries(w.events)).toEqual(['HIVE_ONLINE hive-a online @1', 'SYNCED @1']);
      expect(openWatchCount(q.queen)).toBe(0);
    });
  });

  describe('a slow consumer', () => {
    beforeEach(() => start({ watchQueueEvents: 50 }));

    it('a watcher that stops reading is ended with RESOURCE_EXHAUSTED; others and heartbeats are unaffected; it resumes', async () => {
      const hives = ['hive-a', 'hive-b', 'hive-c', 'hive-d', 'hive-e'];
      const workersPerHive = 10; // one heartbeat makes at most 10 events: well inside the reader's queue of 50
      const streams = new Map<string, HeartbeatStream>();
      const { w: stalled, snapshot } = await synced();
      const epoch = snapshot[0]?.epoch ?? '';
      const { w: reader } = await synced();
      stalled.pause();

      const workers = (hiveId: string, round: number) =>
        Array.from({ length: workersPerHive }, (_, i) => wireWorker(`${hiveId}-w${i}`, { gpuPercent: (round * 7 + i) % 100 }));
      let round = 0;
      let accepted = 0;
      // Change every worker each round until the stalled watcher is ended: its unread events back up once HTTP/2
      // flow control stops the queen's writes. Bounded by the round count.
      while (openWatchCount(q.queen) === 2 && round < 1_000) {
        round += 1;
        for (const hiveId of hives) {
          let stream = streams.get(hiveId);
          if (stream === undefined) {
            stream = q.client.heartbeat();
            streams.set(hiveId, stream);
          }
          const ack = await stream.send(snapshotPayload(hiveId, round, workers(hiveId, round)));
          if (ack.accepted) accepted += 1;
          // Pace the changes on the reader, so only the stalled watcher falls behind (the queen writes a watch's
          // events one at a time; a burst of heartbeats can outrun even a reading watcher's queue of 50).
          const target = revision() + 1;
          await reader.until(() => reader.events.length >= target, `the reader at revision ${target - 1}`);
        }
      }
      expect(openWatchCount(q.queen)).toBe(1);
      expect(accepted).toBe(round * hives.length);
      const last = revision();

      // The reader got every event, in order, with no gap.
      await reader.until(() => reader.events.length === last + 1, `the reader's events up to ${last}`);
      expect(reader.events.slice(1).map((e) => Number(e.revision))).toEqual(Array.from({ length: last }, (_, i) => i + 1));

      // The stalled watcher, read again: what it was sent (a gap-free prefix), then RESOURCE_EXHAUSTED.
      stalled.resume();
      expectStatus(await stalled.ends(), status.RESOURCE_EXHAUSTED, /start_revision/);
      const got = stalled.events.slice(1).map((e) => Number(e.revision));
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
      expect(got.length).toBeGreaterThan(50);
      expect(got.length).toBeLessThan(last);

      // It resumes from its last revision: the rest, then SYNCED.
      const resumed = watches.watch({ startRevision: BigInt(got.length), epoch });
      const rest = await resumed.takeSynced();
      expect(rest.map((e) => Number(e.revision))).toEqual([
        ...Array.from({ length: last - got.length }, (_, i) => got.length + i + 1),
        last,
      ]);
    });
  });
});
