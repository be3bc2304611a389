// HiveRegistry.reportStall: time the queen could not run does not count toward any hive's lease.
import { ManualClock } from '../../src/common/manual-clock';
import { HiveRegistry } from '../../src/registry/hive-registry';
import type { Heartbeat, StreamId } from '../../src/registry/types';
import { makeWorker, snapshot, tick } from '../helpers/domain-builders';

const OFFLINE_AFTER_MS = 15_000;
const EVICT_AFTER_MS = 600_000;

function setup(): { clock: ManualClock; registry: HiveRegistry } {
  const clock = new ManualClock();
  const registry = new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS });
  return { clock, registry };
}

/** Opens a stream whose first payload is accepted. */
function connect(registry: HiveRegistry, heartbeat: Heartbeat): StreamId {
  const stream = registry.openStream();
  expect(registry.applyHeartbeat(stream, heartbeat)).toMatchObject({ accepted: true });
  return stream;
}

/** Every liveness read about one hive with worker w1, at the current time. */
function liveness(registry: HiveRegistry, hiveId: string): Record<string, unknown> {
  return {
    isHiveOnline: registry.isHiveOnline(hiveId),
    active: registry.activeHiveIds().includes(hiveId),
    onlineCheck: registry.onlineCheck()(hiveId),
    getHive: registry.getHive(hiveId)?.online,
    findWorker: registry.findWorker('w1')?.hiveOnline,
    listWorkers: registry.listWorkers(() => true, false).map((e) => e.worker.workerId),
  };
}

const online = {
  isHiveOnline: true,
  active: true,
  onlineCheck: true,
  getHive: true,
  findWorker: true,
  listWorkers: ['w1'],
};
const offline = {
  isHiveOnline: false,
  active: false,
  onlineCheck: false,
  getHive: false,
  findWorker: false,
  listWorkers: [],
};

describe('a stall reported after the last payload', () => {
  test('keeps the hive online, unlapsed and holding its workers although the clock passed offlineAfterMs', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    const wallAtPayload = clock.wallNow();
    clock.advance(20_000);
    expect(liveness(registry, 'h1')).toEqual(offline);

    registry.reportStall(19_000);

    expect(liveness(registry, 'h1')).toEqual(online);
    expect(registry.lapsedLeases()).toEqual([]);
    expect(registry.evictExpired()).toEqual([]);
    // 1 000 ms of lease time have passed: maxAgeMs overrides count in lease time too.
    expect(registry.isHiveOnline('h1', 1_001)).toBe(true);
    expect(registry.activeHiveIds(1_001)).toEqual(['h1']);
    expect(registry.isHiveOnline('h1', 1_000)).toBe(false);
    expect(registry.activeHiveIds(1_000)).toEqual([]);
    // Its worker ids are still held by an online hive.
    const other = registry.openStream();
    expect(registry.applyHeartbeat(other, snapshot('h2', 1, [makeWorker('w1')]))).toMatchObject({
      accepted: false,
      error: expect.stringContaining('is held by online hive "h1"'),
    });
    // Nothing on the wire changes: the receive time is wall time of the payload.
    expect(registry.getHive('h1')?.lastHeartbeatWallMs).toBe(wallAtPayload);
  });

  test.each([
    // [ms on the clock since the payload, stall reported, online]
    [14_999, 0, true],
    [15_000, 0, false],
    [20_000, 19_000, true],
    [20_000, 5_000, false],
    [34_999, 20_000, true],
    [35_000, 20_000, false],
    [35_001, 20_000, false],
    [120_000, 105_001, true],
  ])('%i ms after the payload with a %i ms stall, online = %s', (elapsedMs, stalledMs, isOnline) => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    clock.advance(elapsedMs);
    registry.reportStall(stalledMs);
    expect(liveness(registry, 'h1')).toEqual(isOnline ? online : offline);
    expect(registry.lapsedLeases()).toEqual(isOnline ? [] : ['h1']);
  });

  test('the hive goes offline, and is reported lapsed, exactly offlineAfterMs of lease time after its payload', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    clock.advance(20_000);
    registry.reportStall(19_000);
    clock.advance(OFFLINE_AFTER_MS - 1_000 - 1);
    expect(liveness(registry, 'h1')).toEqual(online);
    expect(registry.lapsedLeases()).toEqual([]);
    clock.advance(1);
    expect(liveness(registry, 'h1')).toEqual(offline);
    expect(registry.lapsedLeases()).toEqual(['h1']);
    expect(registry.lapsedLeases()).toEqual([]);
  });

  test('stalls add up', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    clock.advance(10_000);
    registry.reportStall(8_000);
    clock.advance(20_000);
    registry.reportStall(12_000);
    // 30 000 ms on the clock, 20 000 of them stalled: 10 000 ms of lease time.
    clock.advance(OFFLINE_AFTER_MS - 10_000 - 1);
    expect(liveness(registry, 'h1')).toEqual(online);
    clock.advance(1);
    expect(liveness(registry, 'h1')).toEqual(offline);
  });

  test('0 changes nothing', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    const evictionAt = registry.nextEvictionAt();
    clock.advance(OFFLINE_AFTER_MS - 1);
    registry.reportStall(0);
    expect(liveness(registry, 'h1')).toEqual(online);
    clock.advance(1);
    registry.reportStall(0);
    expect(liveness(registry, 'h1')).toEqual(offline);
    expect(registry.nextEvictionAt()).toBe(evictionAt);
  });
});

describe('a stall reported before the payload', () => {
  test('gives the hive no credit', () => {
    const { clock, registry } = setup();
    clock.advance(20_000);
    registry.reportStall(19_000);
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(liveness(registry, 'h1')).toEqual(online);
    clock.advance(1);
    expect(liveness(registry, 'h1')).toEqual(offline);
    expect(registry.lapsedLeases()).toEqual(['h1']);
  });

  test('credits only the hives whose payload came before it', () => {
    const { clock, registry } = setup();
    const s1 = connect(registry, snapshot('h1', 1));
    clock.advance(20_000);
    registry.reportStall(19_000); // h1 is 1 000 ms into its lease
    connect(registry, snapshot('h2', 1));
    clock.advance(OFFLINE_AFTER_MS - 1_000 - 1);
    expect(registry.activeHiveIds()).toEqual(['h1', 'h2']);
    clock.advance(1);
    expect(registry.activeHiveIds()).toEqual(['h2']);
    expect(registry.lapsedLeases()).toEqual(['h1']);
    clock.advance(1_000 - 1);
    expect(registry.activeHiveIds()).toEqual(['h2']);
    expect(registry.lapsedLeases()).toEqual([]);
    clock.advance(1);
    expect(registry.activeHiveIds()).toEqual([]);
    expect(registry.lapsedLeases()).toEqual(['h2']);
    // A payload after the stall renews in lease time as usual.
    expect(registry.applyHeartbeat(s1, tick('h1', 2))).toMatchObject({ accepted: true });
    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(registry.activeHiveIds()).toEqual(['h1']);
    clock.advance(1);
    expect(registry.activeHiveIds()).toEqual([]);
  });
});

describe('eviction', () => {
  test.each([1, 30_000, EVICT_AFTER_MS])('a %i ms stall defers it, and nextEvictionAt, by the stall', (stalledMs) => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    const due = clock.now() + EVICT_AFTER_MS;
    expect(registry.nextEvictionAt()).toBe(due);
    clock.advance(EVICT_AFTER_MS);

    registry.reportStall(stalledMs);

    expect(registry.nextEvictionAt()).toBe(due + stalledMs);
    expect(registry.evictExpired()).toEqual([]);
    expect(registry.hiveCount).toBe(1);
    clock.advance(stalledMs - 1);
    expect(registry.evictExpired()).toEqual([]);
    clock.advance(1);
    expect(clock.now()).toBe(registry.nextEvictionAt());
    expect(registry.evictExpired()).toStrictEqual([{ hiveId: 'h1', stream }]);
    expect(registry.nextEvictionAt()).toBeUndefined();
  });

  test('a stall reported before the payload does not defer it, yet nextEvictionAt stays on the monotonic clock', () => {
    const { clock, registry } = setup();
    clock.advance(50_000);
    registry.reportStall(40_000);
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    expect(registry.nextEvictionAt()).toBe(clock.now() + EVICT_AFTER_MS);
    clock.advance(EVICT_AFTER_MS - 1);
    expect(registry.evictExpired()).toEqual([]);
    clock.advance(1);
    expect(registry.evictExpired()).toStrictEqual([{ hiveId: 'h1' }]);
  });
});

describe('bad input', () => {
  const bad = [-1, -0.5, -Infinity, Infinity, Number.NaN];
  test.each(bad)('reportStall(%p) throws a RangeError naming stalledMs, and changes nothing', (stalledMs) => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    const evictionAt = registry.nextEvictionAt();
    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(() => registry.reportStall(stalledMs)).toThrow(RangeError);
    expect(() => registry.reportStall(stalledMs)).toThrow(/^stalledMs: /);
    expect(liveness(registry, 'h1')).toEqual(online);
    expect(registry.nextEvictionAt()).toBe(evictionAt);
    clock.advance(1);
    expect(liveness(registry, 'h1')).toEqual(offline);
  });
});

describe('a payload read after a stall ended but before it was reported', () => {
  // h1 renews at 0; the queen stalls 19 s; h2's heartbeat is read at 20 s, then the stall is reported, then h3's
  // heartbeat is read. Lease time went back by 19 s, yet h3 must not be stamped ahead of h2 in the lease order.
  function race(): { clock: ManualClock; registry: HiveRegistry; start: number } {
    const { clock, registry } = setup();
    const start = clock.now();
    connect(registry, snapshot('h1', 1));
    clock.advance(20_000);
    connect(registry, snapshot('h2', 1));
    registry.reportStall(19_000);
    connect(registry, snapshot('h3', 1));
    return { clock, registry, start };
  }

  test('every hive is reported lapsed the moment it goes offline, never later', () => {
    const { clock, registry, start } = race();
    const reportedAt = new Map<string, number>();
    for (let step = 0; step < 60; step++) {
      clock.advance(1_000);
      for (const hiveId of registry.lapsedLeases()) reportedAt.set(hiveId, clock.now() - start);
      for (const hiveId of ['h1', 'h2', 'h3']) {
        expect([hiveId, reportedAt.has(hiveId)]).toEqual([hiveId, !registry.isHiveOnline(hiveId)]);
      }
    }
    // h1 is credited the stall; h2 and h3 share the newest stamp (lease time 20 s).
    expect(Object.fromEntries(reportedAt)).toEqual({ h1: 34_000, h2: 54_000, h3: 54_000 });
  });

  test('every hive is evicted the moment it is due, never later', () => {
    const { clock, registry, start } = race();
    expect(registry.nextEvictionAt()).toBe(start + 19_000 + EVICT_AFTER_MS);
    clock.advance(EVICT_AFTER_MS - 10_000);
    const evictedAt = new Map<string, number>();
    for (let step = 0; step < 40; step++) {
      clock.advance(1_000);
      for (const departure of registry.evictExpired()) {
        evictedAt.set(departure.hiveId, clock.now() - start - EVICT_AFTER_MS);
      }
      // Every stream is open: a hive still here is younger than evictAfterMs in lease time.
      for (const hiveId of registry.allHiveIds()) {
        expect([hiveId, registry.isHiveOnline(hiveId, EVICT_AFTER_MS)]).toEqual([hiveId, true]);
      }
    }
    expect(Object.fromEntries(evictedAt)).toEqual({ h1: 19_000, h2: 39_000, h3: 39_000 });
  });
});
