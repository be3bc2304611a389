// The publisher's pacing, on jest's fake timers and a clock that reads them: a hive is written on change at once
// when it was not written in the last second, never twice within a second, and its last change is never lost;
// hives that keep changing are written in batches, not one timer per hive.
import pino from 'pino';
import type { Clock } from '../../src/common/clock';
import type { EtcdCompare, EtcdOp, EtcdStore, EtcdTxnResult } from '../../src/federation/etcd-store';
import { HivePublisher, type PublisherMirror, type PublisherRegistry } from '../../src/federation/hive-publisher';
import type { PublishedHive } from '../../src/registry/types';
import { makeWorker } from '../helpers/domain-builders';

const PREFIX = '/p/hives/';
const SELF = 'queen-a';

interface Write {
  readonly hiveId: string;
  readonly atMs: number;
}

/** An etcd that accepts every publication after `latencyMs` of fake time, noting when each was asked. */
function fakeStore(writes: Write[], latencyMs = 0): EtcdStore {
  let revision = 1n;
  const unused = (): never => {
    throw new Error('not used by the publisher in these tests');
  };
  return {
    endpoints: ['fake'],
    timeoutMs: 1_000,
    txn: async (_compare: readonly EtcdCompare[], success: readonly EtcdOp[]): Promise<EtcdTxnResult> => {
      const op = success[0];
      if (op === undefined || !('put' in op)) throw new Error('a publication puts one key');
      writes.push({ hiveId: op.put.slice(PREFIX.length), atMs: Date.now() });
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      revision += 1n;
      return { succeeded: true, revision, gets: [] };
    },
    get: unused,
    list: unused,
    put: unused,
    delete: unused,
    grantLease: unused,
    revokeLease: unused,
    keepAlive: unused,
    watch: unused,
    close: () => undefined,
  };
}

function publisherOver(store: EtcdStore, hiveIds: readonly string[]): HivePublisher {
  const sequence = new Map<string, bigint>();
  const registry: PublisherRegistry = {
    allHiveIds: () => hiveIds,
    hasHive: (hiveId) => hiveIds.includes(hiveId),
    ownsHive: (hiveId) => hiveIds.includes(hiveId),
    publication: (hiveId, owner): PublishedHive => {
      const next = (sequence.get(hiveId) ?? 0n) + 1n;
      sequence.set(hiveId, next);
      return { hiveId, owner, online: true, workers: [makeWorker('w1')], devices: [], sequence: next, lastHeartbeatWallMs: Date.now() };
    },
  };
  const mirror: PublisherMirror = {
    keyOf: (hiveId) => PREFIX + hiveId,
    stateOf: () => undefined,
    noteOwn: () => undefined,
    claimSettled: () => undefined,
    applyRemote: () => undefined,
  };
  const clock: Clock = { now: () => Date.now(), wallNow: () => Date.now() };
  return new HivePublisher(store, SELF, registry, mirror, clock, { lostClaim: () => undefined }, pino({ level: 'silent' }));
}

function writesOf(writes: readonly Write[], hiveId: string): number[] {
  return writes.filter((w) => w.hiveId === hiveId).map((w) => w.atMs);
}

const START_MS = 1_700_000_000_000;
let publisher: HivePublisher | undefined;

beforeEach(() => {
  jest.useFakeTimers({ now: START_MS });
});
afterEach(() => {
  publisher?.stop();
  publisher = undefined;
  jest.useRealTimers();
});

describe('the hive publisher paces writes to etcd', () => {
  test('100 hives changing every 10 ms for 3 s: each written at most once a second, in batches, the last change written', async () => {
    const hiveIds = Array.from({ length: 100 }, (_, i) => `hive-${i}`);
    const writes: Write[] = [];
    publisher = publisherOver(fakeStore(writes), hiveIds);
    publisher.leaseGranted('7', false);
    const lastChange = new Map<string, number>();
    for (let elapsedMs = 0; elapsedMs < 3_000; elapsedMs += 10) {
      for (const [i, hiveId] of hiveIds.entries()) {
        // Hives start changing at different times, so their seconds do not line up.
        if (elapsedMs < i * 7) continue;
        publisher.changed(hiveId);
        lastChange.set(hiveId, Date.now());
      }
      await jest.advanceTimersByTimeAsync(10);
    }
    await jest.advanceTimersByTimeAsync(2_000);

    for (const hiveId of hiveIds) {
      const times = writesOf(writes, hiveId);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expect({ hiveId, short: gaps.filter((gap) => gap < 1_000) }).toEqual({ hiveId, short: [] });
      // Written at once on its first change, then about once a second, and its last change is in etcd.
      expect(times[0]).toBe(START_MS + Math.ceil((hiveIds.indexOf(hiveId) * 7) / 10) * 10);
      expect(times.length).toBeGreaterThanOrEqual(3);
      expect(times[times.length - 1]).toBeGreaterThanOrEqual(lastChange.get(hiveId)!);
    }
    // Once every hive waits for its second, one timer run writes every hive due within 50 ms.
    const runs = new Set(writes.filter((w) => w.atMs >= START_MS + 1_000).map((w) => w.atMs));
    expect(runs.size).toBeLessThanOrEqual(3_000 / 50 + 1);
  });

  test('a change while a write is in flight is written a second after that write, not lost', async () => {
    const writes: Write[] = [];
    publisher = publisherOver(fakeStore(writes, 300), ['h1']);
    publisher.leaseGranted('7', false);
    publisher.changed('h1');
    await jest.advanceTimersByTimeAsync(100);
    publisher.changed('h1');
    await jest.advanceTimersByTimeAsync(3_000);
    expect(writesOf(writes, 'h1').map((t) => t - START_MS)).toEqual([0, 1_000]);
  });

  test('nothing is written without a lease; what changed meanwhile is written once one is granted', async () => {
    const writes: Write[] = [];
    publisher = publisherOver(fakeStore(writes), ['h1', 'h2']);
    publisher.changed('h1');
    publisher.changed('h2');
    await jest.advanceTimersByTimeAsync(1_000);
    expect(writes).toEqual([]);
    publisher.leaseGranted('7', false);
    await jest.advanceTimersByTimeAsync(0);
    expect(writes.map((w) => [w.hiveId, w.atMs - START_MS])).toEqual([
      ['h1', 1_000],
      ['h2', 1_000],
    ]);
  });
});
