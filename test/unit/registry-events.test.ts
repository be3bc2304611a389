// HiveRegistry's revisions and change events: what the Watch RPC streams.
import { isDeepStrictEqual } from 'node:util';
import { DomainError } from '../../src/common/domain-error';
import { ManualClock } from '../../src/common/manual-clock';
import type { Worker } from '../../src/common/worker';
import { HiveRegistry } from '../../src/registry/hive-registry';
import type { Heartbeat, RegistryEvent, StreamId, WatchSnapshot } from '../../src/registry/types';
import { makeWorker, snapshot, tick } from '../helpers/domain-builders';
import { seededRandom } from '../helpers/seeded-random';

const OFFLINE_AFTER_MS = 15_000;
const EVICT_AFTER_MS = 600_000;

function setup(historySize?: number): { clock: ManualClock; registry: HiveRegistry; events: RegistryEvent[] } {
  const clock = new ManualClock();
  const registry = new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS, historySize });
  const events: RegistryEvent[] = [];
  registry.onEvent((event) => events.push(event));
  return { clock, registry, events };
}

/** Opens a stream whose first payload is accepted. */
function connect(registry: HiveRegistry, heartbeat: Heartbeat): StreamId {
  const stream = registry.openStream();
  send(registry, stream, heartbeat);
  return stream;
}

function send(registry: HiveRegistry, stream: StreamId, heartbeat: Heartbeat): void {
  const outcome = registry.applyHeartbeat(stream, heartbeat);
  if (!outcome.accepted) throw new Error(`rejected: ${outcome.error}`);
}

/** The events appended since `from` (an index into the recorded list), in a compact form. */
function summary(events: readonly RegistryEvent[], from = 0): string[] {
  return events.slice(from).map((event) => {
    const subject =
      event.type === 'worker_upserted' ? ` ${event.worker.workerId}` : event.type === 'worker_removed' ? ` ${event.workerId}` : '';
    return `${event.revision} ${event.type} ${event.hiveId}${subject} online=${event.hiveOnline}`;
  });
}

const w = (id: string, overrides: Partial<Worker> = {}): Worker => makeWorker(id, overrides);

describe('revisions and worker events', () => {
  test('a new registry is at revision 0 with an empty history and snapshot', () => {
    const { registry, events } = setup();
    expect(registry.revision).toBe(0);
    expect(registry.eventsAfter(0)).toEqual([]);
    expect(registry.eventsAfter(1)).toBeUndefined();
    expect(registry.watchSnapshot()).toEqual({ revision: 0, hives: [] });
    expect(events).toEqual([]);
  });

  test("a hive's first snapshot: hive_online, then one worker_upserted per worker in worker-id order, revisions 1..n", () => {
    const { registry, events } = setup();
    const [a, b, c] = [w('a', { cpuPercent: 5 }), w('b'), w('c')];
    connect(registry, snapshot('h1', 1, [c, a, b]));
    expect(events).toStrictEqual([
      { revision: 1, type: 'hive_online', hiveId: 'h1', hiveOnline: true },
      { revision: 2, type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: a },
      { revision: 3, type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: b },
      { revision: 4, type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: c },
    ]);
    expect(registry.revision).toBe(4);
  });

  test('a hive with no workers makes only hive_online', () => {
    const { registry, events } = setup();
    connect(registry, snapshot('h1', 1));
    expect(summary(events)).toEqual(['1 hive_online h1 online=true']);
  });

  test('the same snapshot again, as new objects, makes no event', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a', { lastHeartbeat: { seconds: 5, nanos: 1 } }), w('b')]));
    send(registry, stream, snapshot('h1', 2, [w('b'), w('a', { lastHeartbeat: { seconds: 5, nanos: 1 } })]));
    expect(events).toHaveLength(3);
    expect(registry.revision).toBe(3);
  });

  test('one changed, one removed and one added worker make three events in worker-id order', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a'), w('b'), w('c')]));
    const changed = w('a', { state: 'busy' });
    const added = w('d');
    send(registry, stream, snapshot('h1', 2, [added, w('c'), changed]));
    expect(events.slice(4)).toStrictEqual([
      { revision: 5, type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: changed },
      { revision: 6, type: 'worker_removed', hiveId: 'h1', hiveOnline: true, workerId: 'b' },
      { revision: 7, type: 'worker_upserted', hiveId: 'h1', hiveOnline: true, worker: added },
    ]);
  });

  test('an empty snapshot removes every worker, one event each', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a'), w('b')]));
    send(registry, stream, snapshot('h1', 2, []));
    expect(summary(events, 3)).toEqual(['4 worker_removed h1 a online=true', '5 worker_removed h1 b online=true']);
  });

  test('a tick of an online hive makes no event', () => {
    const { clock, registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a')]));
    clock.advance(OFFLINE_AFTER_MS - 1);
    send(registry, stream, tick('h1', 2));
    expect(registry.revision).toBe(2);
    expect(events).toHaveLength(2);
  });

  test('rejected payloads make no event', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 5, [w('a')]));
    connect(registry, snapshot('h2', 1, [w('b')]));
    const before = registry.revision;
    expect(registry.applyHeartbeat(stream, snapshot('h1', 5, [w('z')])).accepted).toBe(false); // stale sequence
    expect(registry.applyHeartbeat(stream, snapshot('h1', 6, [w('b')])).accepted).toBe(false); // b held by h2
    expect(registry.applyHeartbeat(registry.openStream(), tick('h3', 1)).accepted).toBe(false);
    expect(registry.revision).toBe(before);
    expect(events).toHaveLength(before);
  });

  test('workers of different hives are independent; events carry their own hive', () => {
    const { registry, events } = setup();
    connect(registry, snapshot('h2', 1, [w('x')]));
    connect(registry, snapshot('h1', 1, [w('y')]));
    expect(summary(events)).toEqual([
      '1 hive_online h2 online=true',
      '2 worker_upserted h2 x online=true',
      '3 hive_online h1 online=true',
      '4 worker_upserted h1 y online=true',
    ]);
  });
});

describe('hive liveness as announced', () => {
  test('closeStream announces hive_offline at once, once', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a')]));
    registry.closeStream(stream);
    expect(summary(events, 2)).toEqual(['3 hive_offline h1 online=false']);
    registry.closeStream(stream);
    expect(registry.revision).toBe(3);
  });

  test('closing a stream that owns no hive, or a superseded one, announces nothing', () => {
    const { registry, events } = setup();
    const first = connect(registry, snapshot('h1', 1, [w('a')]));
    registry.closeStream(registry.openStream());
    const second = connect(registry, snapshot('h1', 1, [w('a')]));
    expect(events).toHaveLength(2); // supersede: nothing
    registry.closeStream(first);
    expect(events).toHaveLength(2);
    expect(registry.watchSnapshot().hives[0]?.online).toBe(true);
    registry.closeStream(second);
    expect(summary(events, 2)).toEqual(['3 hive_offline h1 online=false']);
  });

  test('superseding a stale but open stream of an announced-online hive makes no event', () => {
    const { clock, registry, events } = setup();
    connect(registry, snapshot('h1', 1, [w('a')]));
    clock.advance(OFFLINE_AFTER_MS + 10); // offline by age, not yet swept
    connect(registry, snapshot('h1', 1, [w('a')]));
    expect(events).toHaveLength(2);
    expect(registry.lapsedLeases()).toEqual([]);
    expect(events).toHaveLength(2);
  });

  test('after a stream end, the next accepted snapshot announces hive_online, then only what changed', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a'), w('b')]));
    registry.closeStream(stream);
    connect(registry, snapshot('h1', 1, [w('a'), w('b', { state: 'busy' })]));
    expect(summary(events, 4)).toEqual(['5 hive_online h1 online=true', '6 worker_upserted h1 b online=true']);
  });

  test('lapsedLeases announces hive_offline once per lapse, exactly at the threshold', () => {
    const { clock, registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a')]));
    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(registry.lapsedLeases()).toEqual([]);
    expect(registry.revision).toBe(2);
    clock.advance(1);
    expect(registry.lapsedLeases()).toEqual(['h1']);
    expect(summary(events, 2)).toEqual(['3 hive_offline h1 online=false']);
    clock.advance(1_000);
    expect(registry.lapsedLeases()).toEqual([]);
    expect(registry.revision).toBe(3);

    // Its next accepted payload, a tick, announces it online again: no worker event.
    send(registry, stream, tick('h1', 2));
    expect(summary(events, 3)).toEqual(['4 hive_online h1 online=true']);
    // And the next lapse is announced again.
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.lapsedLeases()).toEqual(['h1']);
    expect(summary(events, 4)).toEqual(['5 hive_offline h1 online=false']);
  });

  test('a tick after the threshold but before the sweep keeps the hive announced online: no event', () => {
    const { clock, registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a')]));
    clock.advance(OFFLINE_AFTER_MS + 50);
    expect(registry.isHiveOnline('h1')).toBe(false);
    expect(registry.watchSnapshot().hives[0]?.online).toBe(true);
    send(registry, stream, tick('h1', 2));
    expect(registry.lapsedLeases()).toEqual([]);
    expect(events).toHaveLength(2);
  });

  test('a lapsed hive whose stream then ends is not announced offline twice', () => {
    const { clock, registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1));
    clock.advance(OFFLINE_AFTER_MS);
    registry.lapsedLeases();
    registry.closeStream(stream);
    expect(summary(events)).toEqual(['1 hive_online h1 online=true', '2 hive_offline h1 online=false']);
  });

  test('a hive that ended its stream is not announced again by lapsedLeases', () => {
    const { clock, registry, events } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.lapsedLeases()).toEqual([]);
    expect(summary(events)).toEqual(['1 hive_online h1 online=true', '2 hive_offline h1 online=false']);
  });

  test('several hives lapse in one sweep: one hive_offline each, oldest first', () => {
    const { clock, registry, events } = setup();
    connect(registry, snapshot('h2', 1));
    clock.advance(10);
    connect(registry, snapshot('h1', 1));
    clock.advance(10);
    connect(registry, snapshot('h3', 1));
    clock.advance(OFFLINE_AFTER_MS - 10);
    expect(registry.lapsedLeases()).toEqual(['h2', 'h1']);
    expect(summary(events, 3)).toEqual(['4 hive_offline h2 online=false', '5 hive_offline h1 online=false']);
  });
});

describe('removal and eviction', () => {
  test('removeHive announces hive_removed with hiveOnline false and no worker events', () => {
    const { registry, events } = setup();
    connect(registry, snapshot('h1', 1, [w('a'), w('b')]));
    registry.removeHive('h1');
    expect(events.slice(3)).toStrictEqual([{ revision: 4, type: 'hive_removed', hiveId: 'h1', hiveOnline: false }]);
    expect(registry.removeHive('h1')).toBeUndefined();
    expect(registry.revision).toBe(4);
  });

  test('removing an offline hive also announces hive_removed', () => {
    const { registry, events } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1, [w('a')])));
    registry.removeHive('h1');
    expect(summary(events, 2)).toEqual(['3 hive_offline h1 online=false', '4 hive_removed h1 online=false']);
  });

  test('a removed hive that comes back is announced afresh, with every worker', () => {
    const { registry, events } = setup();
    connect(registry, snapshot('h1', 1, [w('a')]));
    registry.removeHive('h1');
    connect(registry, snapshot('h1', 1, [w('a')]));
    expect(summary(events, 3)).toEqual(['4 hive_online h1 online=true', '5 worker_upserted h1 a online=true']);
  });

  test('evictExpired announces hive_removed for each evicted hive, oldest first', () => {
    const { clock, registry, events } = setup();
    connect(registry, snapshot('h2', 1, [w('a')]));
    clock.advance(5);
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    clock.advance(EVICT_AFTER_MS - 5);
    registry.lapsedLeases();
    expect(summary(events, 4)).toEqual(['5 hive_offline h2 online=false']);
    clock.advance(5);
    expect(registry.evictExpired().map((d) => d.hiveId)).toEqual(['h2', 'h1']);
    expect(summary(events, 5)).toEqual(['6 hive_removed h2 online=false', '7 hive_removed h1 online=false']);
    expect(registry.evictExpired()).toEqual([]);
    expect(registry.revision).toBe(7);
  });
});

describe('loadDelta', () => {
  const at = (seconds: number): Worker['lastHeartbeat'] => ({ seconds, nanos: 0 });
  test.each<[string, Partial<Worker>, Partial<Worker>, number | undefined]>([
    ['cpu up', { cpuPercent: 10 }, { cpuPercent: 25 }, 15],
    ['cpu down, gpu down more', { cpuPercent: 10, gpuPercent: 50 }, { cpuPercent: 12, gpuPercent: 40 }, 10],
    ['gpu only', { gpuPercent: 0 }, { gpuPercent: 0.5 }, 0.5],
    ['lastHeartbeat only', { lastHeartbeat: at(1) }, { lastHeartbeat: at(2) }, 0],
    ['lastHeartbeat appears', {}, { lastHeartbeat: at(2) }, 0],
    ['lastHeartbeat and cpu', { cpuPercent: 1, lastHeartbeat: at(1) }, { cpuPercent: 4, lastHeartbeat: at(2) }, 3],
    ['cpu appears', {}, { cpuPercent: 1 }, undefined],
    ['gpu disappears', { gpuPercent: 1, cpuPercent: 2 }, { cpuPercent: 3 }, undefined],
    ['cpu and state', { cpuPercent: 1 }, { cpuPercent: 2, state: 'busy' }, undefined],
    ['model only', { modelId: 'm1' }, { modelId: 'm2' }, undefined],
  ])('%s', (_name, before, after, loadDelta) => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a', before)]));
    send(registry, stream, snapshot('h1', 2, [w('a', after)]));
    expect(events).toHaveLength(3);
    const event = events[2];
    expect(event).toMatchObject({ type: 'worker_upserted', worker: w('a', after) });
    if (loadDelta === undefined) expect(event).not.toHaveProperty('loadDelta');
    else expect(event).toHaveProperty('loadDelta', loadDelta);
  });

  test('a new worker carries no loadDelta, even on a hive that had others', () => {
    const { registry, events } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a', { cpuPercent: 1 })]));
    send(registry, stream, snapshot('h1', 2, [w('a', { cpuPercent: 2 }), w('b', { cpuPercent: 2 })]));
    expect(events).toHaveLength(4);
    expect(events[2]).toHaveProperty('loadDelta', 1);
    expect(events[3]).toMatchObject({ type: 'worker_upserted', worker: { workerId: 'b' } });
    expect(events[3]).not.toHaveProperty('loadDelta');
  });
});

describe('history', () => {
  test.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('historySize %s is rejected', (historySize) => {
    expect(
      () => new HiveRegistry(new ManualClock(), { offlineAfterMs: 1, evictAfterMs: 1, historySize }),
    ).toThrow(new RangeError(`historySize must be an integer >= 1, got ${historySize}`));
  });

  test('eventsAfter replays what is still in a small history, and says when it is not', () => {
    const { registry, events } = setup(5);
    const stream = connect(registry, snapshot('h1', 1, [w('a'), w('b'), w('c')])); // revisions 1-4
    send(registry, stream, snapshot('h1', 2, [w('a', { state: 'busy' }), w('b', { state: 'busy' })])); // 5-7
    registry.closeStream(stream); // 8
    expect(registry.revision).toBe(8);
    expect(events).toHaveLength(8);

    expect(registry.eventsAfter(8)).toEqual([]);
    expect(registry.eventsAfter(9)).toBeUndefined();
    expect(registry.eventsAfter(7)).toEqual([events[7]]);
    // Retained: revisions 4-8; so a watcher at 3 can resume, one at 2 cannot.
    const replay = registry.eventsAfter(3);
    expect(replay?.map((e) => e.revision)).toEqual([4, 5, 6, 7, 8]);
    replay?.forEach((event, i) => expect(event).toBe(events[3 + i]));
    expect(registry.eventsAfter(2)).toBeUndefined();
    expect(registry.eventsAfter(0)).toBeUndefined();
    expect(registry.eventsAfter(-1)).toBeUndefined();
    expect(registry.eventsAfter(4.5)).toBeUndefined();
  });

  test('before the ring fills, everything from revision 0 is replayable', () => {
    const { registry, events } = setup(5);
    connect(registry, snapshot('h1', 1, [w('a'), w('b'), w('c'), w('d')]));
    expect(registry.eventsAfter(0)).toEqual(events);
    expect(registry.eventsAfter(-1)).toBeUndefined();
  });

  test('historySize 1 keeps only the latest event', () => {
    const { registry, events } = setup(1);
    connect(registry, snapshot('h1', 1, [w('a')]));
    expect(registry.eventsAfter(1)).toEqual([events[1]]);
    expect(registry.eventsAfter(0)).toBeUndefined();
    expect(registry.eventsAfter(2)).toEqual([]);
  });

  test('eventsAfter returns a fresh array', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1, [w('a')]));
    registry.eventsAfter(0)?.pop();
    expect(registry.eventsAfter(0)).toHaveLength(2);
  });
});

describe('listeners', () => {
  test('are called synchronously, in revision order, and see the state after the change', () => {
    const { registry } = setup();
    const seen: unknown[] = [];
    registry.onEvent((event) => {
      seen.push([event.revision, registry.revision, registry.workersOnHive('h1').length, registry.watchSnapshot().hives]);
    });
    const stream = connect(registry, snapshot('h1', 1, [w('a'), w('b')]));
    const online = [{ hiveId: 'h1', online: true, workers: [w('a'), w('b')] }];
    expect(seen).toEqual([
      [1, 3, 2, online],
      [2, 3, 2, online],
      [3, 3, 2, online],
    ]);
    registry.closeStream(stream);
    expect(seen[3]).toEqual([4, 4, 2, [{ hiveId: 'h1', online: false, workers: [w('a'), w('b')] }]]);
  });

  test('unsubscribe stops delivery to that listener only, and is idempotent', () => {
    const { registry, events } = setup();
    const mine: number[] = [];
    const unsubscribe = registry.onEvent((event) => mine.push(event.revision));
    const stream = connect(registry, snapshot('h1', 1));
    unsubscribe();
    unsubscribe();
    registry.closeStream(stream);
    expect(mine).toEqual([1]);
    expect(events.map((e) => e.revision)).toEqual([1, 2]);
  });

  test('the same function subscribed twice is called twice; each unsubscribe removes one', () => {
    const { registry } = setup();
    const seen: number[] = [];
    const listener = (event: RegistryEvent): void => {
      seen.push(event.revision);
    };
    const first = registry.onEvent(listener);
    registry.onEvent(listener);
    const stream = connect(registry, snapshot('h1', 1));
    first();
    registry.closeStream(stream);
    expect(seen).toEqual([1, 1, 2]);
  });

  test('a throwing listener stops neither the mutation nor the other listeners', () => {
    const clock = new ManualClock();
    const registry = new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS });
    let calls = 0;
    registry.onEvent(() => {
      calls++;
      throw new Error('listener bug');
    });
    const seen: number[] = [];
    registry.onEvent((event) => seen.push(event.revision));
    const stream = registry.openStream();
    expect(registry.applyHeartbeat(stream, snapshot('h1', 1, [w('a'), w('b')]))).toEqual({ accepted: true, hiveId: 'h1' });
    expect(calls).toBe(3);
    expect(seen).toEqual([1, 2, 3]);
    expect(registry.workersOnHive('h1').map((x) => x.workerId)).toEqual(['a', 'b']);
    expect(registry.revision).toBe(3);
    registry.closeStream(stream);
    expect(registry.isHiveOnline('h1')).toBe(false);
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  test('a listener that mutates the registry does not reorder what the others see', () => {
    const { registry } = setup();
    let h1Stream: StreamId | undefined;
    // On h2's arrival, end h1's stream: that hive_offline is appended while h2's events are being delivered.
    registry.onEvent((event) => {
      if (event.type === 'hive_online' && event.hiveId === 'h2' && h1Stream !== undefined) registry.closeStream(h1Stream);
    });
    const later: RegistryEvent[] = [];
    registry.onEvent((event) => later.push(event));
    h1Stream = connect(registry, snapshot('h1', 1));
    connect(registry, snapshot('h2', 1, [w('a')]));
    expect(summary(later)).toEqual([
      '1 hive_online h1 online=true',
      '2 hive_online h2 online=true',
      '3 worker_upserted h2 a online=true',
      '4 hive_offline h1 online=false',
    ]);
  });

  test('a listener subscribed from inside another gets only events after the revision at that moment', () => {
    const { registry } = setup();
    const late: number[] = [];
    let subscribed = false;
    registry.onEvent(() => {
      if (subscribed) return;
      subscribed = true;
      registry.onEvent((event) => late.push(event.revision));
    });
    const stream = connect(registry, snapshot('h1', 1, [w('a'), w('b')])); // revisions 1-3, subscribed during 1
    registry.closeStream(stream);
    expect(late).toEqual([4]);
  });
});

describe('watchSnapshot', () => {
  test('every hive sorted by id, with its announced liveness and sorted workers, at the current revision', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h3', 1, [w('z'), w('y')]));
    registry.closeStream(connect(registry, snapshot('h1', 1, [w('x')])));
    clock.advance(1);
    connect(registry, snapshot('h2', 1));
    clock.advance(OFFLINE_AFTER_MS - 1);
    // h3 crossed the threshold, but no sweep announced it yet.
    expect(registry.watchSnapshot()).toEqual({
      revision: 7,
      hives: [
        { hiveId: 'h1', online: false, workers: [w('x')] },
        { hiveId: 'h2', online: true, workers: [] },
        { hiveId: 'h3', online: true, workers: [w('y'), w('z')] },
      ],
    });
    registry.lapsedLeases();
    expect(registry.watchSnapshot().revision).toBe(8);
    expect(registry.watchSnapshot().hives.map((h) => [h.hiveId, h.online])).toEqual([
      ['h1', false],
      ['h2', true],
      ['h3', false],
    ]);
  });

  test('with a hive id: only that hive, or none when unknown', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1, [w('a')]));
    connect(registry, snapshot('h2', 1, [w('b')]));
    expect(registry.watchSnapshot('h2')).toEqual({ revision: 4, hives: [{ hiveId: 'h2', online: true, workers: [w('b')] }] });
    expect(registry.watchSnapshot('nope')).toEqual({ revision: 4, hives: [] });
  });

  test('is a snapshot: later changes do not alter it', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [w('a')]));
    const taken = registry.watchSnapshot();
    send(registry, stream, snapshot('h1', 2, [w('b')]));
    registry.closeStream(stream);
    connect(registry, snapshot('h0', 1));
    expect(taken).toEqual({ revision: 2, hives: [{ hiveId: 'h1', online: true, workers: [w('a')] }] });
  });
});

// ---- randomized: a replica built from events always equals the registry's snapshot ------------------------------

interface ReplicaHive {
  online: boolean;
  workers: Map<string, Worker>;
}

/**
 * What a watcher holds: starts from a snapshot, then applies events, checking each against what it already knows
 * (an event that changes nothing, or skips a revision, fails the test).
 */
class Replica {
  private readonly hives = new Map<string, ReplicaHive>();
  revision: number;

  constructor(start: WatchSnapshot) {
    this.revision = start.revision;
    for (const hive of start.hives) {
      this.hives.set(hive.hiveId, { online: hive.online, workers: new Map(hive.workers.map((x) => [x.workerId, x])) });
    }
  }

  apply(event: RegistryEvent): void {
    // Plain checks rather than expect(): this runs for thousands of events.
    const where = `revision ${event.revision} (${event.type} ${event.hiveId})`;
    check(event.revision === this.revision + 1, `${where}: expected revision ${this.revision + 1}`);
    this.revision = event.revision;
    let hive = this.hives.get(event.hiveId);
    switch (event.type) {
      case 'hive_online':
        check(hive?.online !== true, `${where}: the hive was already online`);
        if (hive === undefined) {
          hive = { online: true, workers: new Map() };
          this.hives.set(event.hiveId, hive);
        }
        hive.online = true;
        break;
      case 'hive_offline':
        check(hive?.online === true, `${where}: the hive was not online`);
        if (hive !== undefined) hive.online = false;
        break;
      case 'hive_removed':
        check(hive !== undefined, `${where}: unknown hive`);
        this.hives.delete(event.hiveId);
        break;
      case 'worker_upserted': {
        check(hive?.online === true, `${where}: the hive is not online`);
        const before = hive?.workers.get(event.worker.workerId);
        check(!isDeepStrictEqual(event.worker, before), `${where}: ${event.worker.workerId} did not change`);
        const loadDelta = before === undefined ? undefined : expectedLoadDelta(before, event.worker);
        check(event.loadDelta === loadDelta, `${where}: loadDelta ${event.loadDelta}, expected ${loadDelta}`);
        hive?.workers.set(event.worker.workerId, event.worker);
        break;
      }
      case 'worker_removed':
        check(hive?.online === true, `${where}: the hive is not online`);
        check(hive?.workers.delete(event.workerId) === true, `${where}: unknown worker ${event.workerId}`);
        break;
    }
    const online = this.hives.get(event.hiveId)?.online ?? false;
    check(event.hiveOnline === online, `${where}: hiveOnline ${event.hiveOnline}, expected ${online}`);
  }

  snapshot(): WatchSnapshot {
    const ids = [...this.hives.keys()].sort();
    return {
      revision: this.revision,
      hives: ids.map((hiveId) => {
        const hive = this.hives.get(hiveId) as ReplicaHive;
        const workers = [...hive.workers.values()].sort((a, b) => (a.workerId < b.workerId ? -1 : 1));
        return { hiveId, online: hive.online, workers };
      }),
    };
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** An independent statement of the loadDelta rule, field by field. */
function expectedLoadDelta(before: Worker, after: Worker): number | undefined {
  const { cpuPercent: cpuBefore, gpuPercent: gpuBefore, lastHeartbeat: _hb1, ...restBefore } = before;
  const { cpuPercent: cpuAfter, gpuPercent: gpuAfter, lastHeartbeat: _hb2, ...restAfter } = after;
  if (JSON.stringify(restBefore) !== JSON.stringify(restAfter)) return undefined;
  if ((cpuBefore === undefined) !== (cpuAfter === undefined)) return undefined;
  if ((gpuBefore === undefined) !== (gpuAfter === undefined)) return undefined;
  return Math.max(Math.abs((cpuAfter ?? 0) - (cpuBefore ?? 0)), Math.abs((gpuAfter ?? 0) - (gpuBefore ?? 0)));
}

describe('randomized heartbeats, ticks, closes, removals and lapses', () => {
  test.each([1, 2, 3, 42, 2026])('seed %d: replicas from events equal watchSnapshot, live and resumed', (seed) => {
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const clock = new ManualClock();
    const registry = new HiveRegistry(clock, { offlineAfterMs: 1_000, evictAfterMs: 6_000, historySize: 100_000 });
    const live = new Replica(registry.watchSnapshot());
    // The registry ignores what a listener throws: keep the live replica's failures to assert on.
    const failures: unknown[] = [];
    registry.onEvent((event) => {
      try {
        live.apply(event);
      } catch (error) {
        failures.push(error);
      }
    });

    const hiveIds = Array.from({ length: 10 }, (_, i) => `h${i}`);
    const open = new Map<StreamId, { hiveId: string; sequence: number }>();
    // Each hive's next snapshot evolves its last one sent: mostly the same workers unchanged (no event), some with
    // only their load moved, some changed otherwise, some dropped, a few added; now and then an id shared by every
    // hive (claimed from an offline holder, or rejected while an online one holds it).
    const lastSent = new Map<string, Worker[]>();
    const freshWorker = (hiveId: string): Worker => {
      const id = random() < 0.1 ? `shared-${Math.floor(random() * 3)}` : `${hiveId}-w${Math.floor(random() * 8)}`;
      return w(id, random() < 0.7 ? { cpuPercent: pick([0, 5, 50]), gpuPercent: pick([10, 11, 90]) } : {});
    };
    const evolve = (worker: Worker): Worker => {
      const roll = random();
      if (roll < 0.6) return worker;
      if (roll < 0.8) {
        const load = worker.cpuPercent === undefined ? {} : { cpuPercent: pick([0, 5, 50]) };
        return { ...worker, ...load, lastHeartbeat: { seconds: pick([1, 2]), nanos: 0 } };
      }
      if (roll < 0.9) return { ...worker, state: worker.state === 'idle' ? 'busy' : 'idle' };
      const { gpuPercent, ...rest } = worker; // a percentage appears or disappears: not a load change
      return gpuPercent === undefined ? { ...rest, gpuPercent: 1 } : rest;
    };
    const makeWorkers = (hiveId: string): Worker[] => {
      const workers: Worker[] = [];
      for (const worker of lastSent.get(hiveId) ?? []) if (random() < 0.9) workers.push(evolve(worker));
      while (random() < 0.3) {
        const added = freshWorker(hiveId);
        if (!workers.some((x) => x.workerId === added.workerId)) workers.push(added);
      }
      lastSent.set(hiveId, workers);
      return workers;
    };
    const forget = (stream: StreamId | undefined): void => {
      if (stream !== undefined) open.delete(stream);
    };
    const sendTo = (stream: StreamId, heartbeat: Heartbeat): void => {
      const outcome = registry.applyHeartbeat(stream, heartbeat);
      if (outcome.accepted) forget(outcome.superseded);
    };

    let resume: { at: WatchSnapshot; replica?: Replica } | undefined;
    let checks = 0;
    for (let step = 0; step < 400; step++) {
      const roll = random();
      const streams = [...open.keys()];
      if (roll < 0.15 || streams.length === 0) {
        const hiveId = pick(hiveIds);
        const stream = registry.openStream();
        open.set(stream, { hiveId, sequence: 1 });
        sendTo(stream, snapshot(hiveId, 1, makeWorkers(hiveId)));
      } else if (roll < 0.45) {
        const stream = pick(streams);
        const state = open.get(stream) as { hiveId: string; sequence: number };
        state.sequence += random() < 0.05 ? 0 : 1; // now and then a stale sequence: rejected
        sendTo(stream, snapshot(state.hiveId, state.sequence, makeWorkers(state.hiveId)));
      } else if (roll < 0.65) {
        const stream = pick(streams);
        const state = open.get(stream) as { hiveId: string; sequence: number };
        state.sequence++;
        sendTo(stream, tick(state.hiveId, state.sequence));
      } else if (roll < 0.75) {
        const stream = pick(streams);
        registry.closeStream(stream);
        forget(stream);
      } else if (roll < 0.78) {
        forget(registry.removeHive(pick(hiveIds))?.stream);
      } else {
        clock.advance(pick([10, 100, 400, 900, 1_500]));
        if (random() < 0.8) {
          // The server's sweep: detect and announce lapses, then evict.
          registry.lapsedLeases();
          for (const departure of registry.evictExpired()) forget(departure.stream);
          // Right after a sweep (no stalls here), announced liveness is real liveness.
          for (const hive of registry.watchSnapshot().hives) {
            expect([hive.hiveId, hive.online]).toEqual([hive.hiveId, registry.isHiveOnline(hive.hiveId)]);
          }
        }
      }

      if (random() < 0.1) {
        checks++;
        expect(failures).toEqual([]);
        expect(live.snapshot()).toEqual(registry.watchSnapshot());
        const hiveId = pick(hiveIds);
        expect(registry.watchSnapshot(hiveId).hives).toEqual(
          registry.watchSnapshot().hives.filter((h) => h.hiveId === hiveId),
        );
        for (const hive of registry.watchSnapshot().hives) {
          expect(hive.workers).toBe(registry.workersOnHive(hive.hiveId));
        }
      }
      if (resume === undefined && step >= 100 && random() < 0.05) resume = { at: registry.watchSnapshot() };
    }

    const final = registry.watchSnapshot();
    expect(final.revision).toBeGreaterThan(100);
    expect(checks).toBeGreaterThan(10);
    expect(failures).toEqual([]);
    expect(live.snapshot()).toEqual(final);
    expect(final.hives.map((h) => h.hiveId)).toEqual(registry.allHiveIds());

    // A watcher that starts from revision 0 and replays the whole history.
    const history = registry.eventsAfter(0) ?? [];
    const fromZero = new Replica({ revision: 0, hives: [] });
    for (const event of history) fromZero.apply(event);
    expect(fromZero.snapshot()).toEqual(final);
    // The run went through every kind of change.
    expect(new Set(history.map((e) => e.type))).toEqual(
      new Set(['hive_online', 'hive_offline', 'hive_removed', 'worker_upserted', 'worker_removed']),
    );
    expect(history.filter((e) => e.type === 'worker_upserted' && e.loadDelta !== undefined).length).toBeGreaterThan(10);

    // A watcher that took a snapshot midway and resumes from its revision.
    expect(resume).toBeDefined();
    if (resume !== undefined) {
      const resumed = new Replica(resume.at);
      const missed = registry.eventsAfter(resume.at.revision);
      expect(missed?.length).toBe(final.revision - resume.at.revision);
      for (const event of missed ?? []) resumed.apply(event);
      expect(resumed.snapshot()).toEqual(final);
    }
  });
});

test('applyHeartbeat on a closed stream throws and makes no event', () => {
  const { registry } = setup();
  const stream = connect(registry, snapshot('h1', 1));
  registry.closeStream(stream);
  expect(() => registry.applyHeartbeat(stream, tick('h1', 2))).toThrow(DomainError);
  expect(registry.revision).toBe(2);
});
