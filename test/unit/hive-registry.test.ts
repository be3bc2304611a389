import { DomainError } from '../../src/common/domain-error';
import { HiveRegistry } from '../../src/registry/hive-registry';
import type { Heartbeat, HeartbeatOutcome, StreamId } from '../../src/registry/types';
import { makeDevice, makeWorker, snapshot, tick } from '../helpers/domain-builders';
import { ManualClock } from '../../src/common/manual-clock';

const OFFLINE_AFTER_MS = 15_000;
const EVICT_AFTER_MS = 600_000;

function setup(clock = new ManualClock()): { clock: ManualClock; registry: HiveRegistry } {
  return { clock, registry: new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS }) };
}

/** Asserts the payload was accepted; returns the outcome narrowed. */
function accepted(outcome: HeartbeatOutcome): Extract<HeartbeatOutcome, { accepted: true }> {
  expect(outcome).toMatchObject({ accepted: true });
  if (!outcome.accepted) throw new Error(`rejected: ${outcome.error}`);
  return outcome;
}

/** Asserts the payload was rejected; returns the reason. */
function rejected(outcome: HeartbeatOutcome): string {
  expect(outcome.accepted).toBe(false);
  if (outcome.accepted) throw new Error('expected a rejection');
  return outcome.error;
}

/** Opens a stream whose first payload is accepted. */
function connect(registry: HiveRegistry, heartbeat: Heartbeat): StreamId {
  const stream = registry.openStream();
  accepted(registry.applyHeartbeat(stream, heartbeat));
  return stream;
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const workerIds = (registry: HiveRegistry, hiveId: string): string[] =>
  registry.workersOnHive(hiveId).map((w) => w.workerId);

describe('construction', () => {
  test.each([
    [{ offlineAfterMs: 0, evictAfterMs: 10 }, 'offlineAfterMs must be positive'],
    [{ offlineAfterMs: -1, evictAfterMs: 10 }, 'offlineAfterMs must be positive'],
    [{ offlineAfterMs: Number.NaN, evictAfterMs: 10 }, 'offlineAfterMs must be positive'],
    [{ offlineAfterMs: 10, evictAfterMs: 9 }, 'evictAfterMs must be at least offlineAfterMs'],
    [{ offlineAfterMs: 10, evictAfterMs: 10, maxHives: 0 }, 'maxHives must be an integer >= 1, got 0'],
    [{ offlineAfterMs: 10, evictAfterMs: 10, maxHives: 1.5 }, 'maxHives must be an integer >= 1, got 1.5'],
  ])('rejects %j', (options, message) => {
    expect(() => new HiveRegistry(new ManualClock(), options)).toThrow(new RangeError(message));
  });

  test('starts empty', () => {
    const { registry } = setup();
    expect(registry.hiveCount).toBe(0);
    expect(registry.totalWorkerCount).toBe(0);
    expect(registry.streamCount).toBe(0);
    expect(registry.allHiveIds()).toEqual([]);
    expect(registry.nextEvictionAt()).toBeUndefined();
  });
});

describe('the cap on hives known at once', () => {
  test('a new hive beyond maxHives is rejected and changes nothing; known hives go on; eviction frees a place', () => {
    const clock = new ManualClock();
    const registry = new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS, maxHives: 2 });
    const a = connect(registry, snapshot('hive-a', 1, [makeWorker('wa')]));
    connect(registry, snapshot('hive-b', 1, [makeWorker('wb')]));
    const revision = registry.revision;
    const flood = registry.openStream();
    expect(rejected(registry.applyHeartbeat(flood, snapshot('hive-c', 1, [makeWorker('wc')])))).toBe(
      'hive_id: the registry already knows its maximum of 2 hives; hive "hive-c" cannot join until one is removed or evicted',
    );
    expect(registry.allHiveIds()).toEqual(['hive-a', 'hive-b']);
    expect(registry.findWorker('wc')).toBeUndefined();
    expect(registry.revision).toBe(revision);
    // Known hives are not new: they keep sending, even at the cap.
    accepted(registry.applyHeartbeat(a, tick('hive-a', 2)));
    accepted(registry.applyHeartbeat(registry.openStream(), snapshot('hive-b', 5, [makeWorker('wb')])));
    registry.closeStream(a);
    clock.advance(EVICT_AFTER_MS + 1);
    expect(registry.evictExpired().map((d) => d.hiveId).sort()).toEqual(['hive-a', 'hive-b']);
    accepted(registry.applyHeartbeat(flood, snapshot('hive-c', 1, [makeWorker('wc')])));
  });
});

describe('streams', () => {
  test('openStream hands out distinct ids and counts open streams', () => {
    const { registry } = setup();
    const a = registry.openStream();
    const b = registry.openStream();
    expect(a).not.toBe(b);
    expect(registry.streamCount).toBe(2);
    registry.closeStream(a);
    registry.closeStream(a);
    expect(registry.streamCount).toBe(1);
  });

  test('a payload on a stream that is not open throws failed_precondition', () => {
    const { registry } = setup();
    const stream = registry.openStream();
    registry.closeStream(stream);
    const error = thrownBy(() => registry.applyHeartbeat(stream, snapshot('h1', 1)));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ reason: 'failed_precondition' });
    expect(registry.getHive('h1')).toBeUndefined();
  });

  test('closing a stream that never had a payload accepted changes no hive', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1));
    const idle = registry.openStream();
    registry.closeStream(idle);
    expect(registry.isHiveOnline('h1')).toBe(true);
  });
});

describe('sequences', () => {
  test.each([0n, 1n, 42n, 2n ** 64n - 1n])('the first payload of a stream may carry sequence %s', (sequence) => {
    const { registry } = setup();
    const stream = registry.openStream();
    expect(registry.applyHeartbeat(stream, snapshot('h1', sequence))).toStrictEqual({ accepted: true, hiveId: 'h1' });
    expect(registry.getHive('h1')?.sequence).toBe(sequence);
  });

  test.each([
    [5n, 6n],
    [5n, 1000n],
    [0n, 1n],
  ])('after %s, %s is accepted', (first, second) => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', first));
    accepted(registry.applyHeartbeat(stream, snapshot('h1', second)));
    expect(registry.getHive('h1')?.sequence).toBe(second);
  });

  test.each([
    ['equal', 5n, 5n],
    ['lower', 5n, 4n],
    ['zero', 5n, 0n],
  ])('after %s: %s then %s is rejected naming sequence', (_kind, first, second) => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', first));
    const error = rejected(registry.applyHeartbeat(stream, snapshot('h1', second, [makeWorker('w-new')])));
    expect(error).toMatch(/^sequence: /);
    expect(error).toContain(String(first));
    expect(error).toContain(String(second));
    expect(registry.getHive('h1')?.sequence).toBe(first);
    expect(workerIds(registry, 'h1')).toEqual([]);
  });

  test('ticks obey the same rule', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 7));
    expect(rejected(registry.applyHeartbeat(stream, tick('h1', 7)))).toMatch(/^sequence: /);
    accepted(registry.applyHeartbeat(stream, tick('h1', 8)));
    expect(registry.getHive('h1')?.sequence).toBe(8n);
  });

  test('the bar is the last ACCEPTED sequence, not the last received one', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 5));
    const dup = [makeWorker('w1'), makeWorker('w1')];
    rejected(registry.applyHeartbeat(stream, snapshot('h1', 10, dup)));
    accepted(registry.applyHeartbeat(stream, snapshot('h1', 6)));
    expect(rejected(registry.applyHeartbeat(stream, snapshot('h1', 6)))).toMatch(/^sequence: /);
  });

  test('a new stream starts afresh after the old one closed', () => {
    const { registry } = setup();
    const first = connect(registry, snapshot('h1', 100));
    registry.closeStream(first);
    const second = registry.openStream();
    accepted(registry.applyHeartbeat(second, snapshot('h1', 1)));
    expect(registry.getHive('h1')?.sequence).toBe(1n);
    expect(registry.isHiveOnline('h1')).toBe(true);
  });

  test('a new stream starts afresh while the old one is still open (supersede)', () => {
    const { registry } = setup();
    const first = connect(registry, snapshot('h1', 100));
    const second = registry.openStream();
    expect(accepted(registry.applyHeartbeat(second, snapshot('h1', 1))).superseded).toBe(first);
    accepted(registry.applyHeartbeat(second, snapshot('h1', 2)));
    expect(registry.getHive('h1')?.sequence).toBe(2n);
  });
});

describe('a rejected payload loses nothing', () => {
  const original = snapshot('h1', 10, [makeWorker('w1', { vramBytes: 100, deviceId: 0 }), makeWorker('w2')], {
    devices: [makeDevice(0, 1000)],
    ramTotalBytes: 5000,
    senderTime: { seconds: 1_767_225_600, nanos: 5 },
  });

  test.each<[string, Heartbeat]>([
    ['equal sequence', snapshot('h1', 10, [makeWorker('w9')])],
    ['lower sequence', snapshot('h1', 9, [makeWorker('w9')])],
    ['wrong hive_id', snapshot('h2', 11, [makeWorker('w9')])],
    ['duplicate worker ids', snapshot('h1', 11, [makeWorker('w9'), makeWorker('w9')])],
    ['duplicate device ids', snapshot('h1', 11, [], { devices: [makeDevice(3, 1), makeDevice(3, 2)] })],
    ['tick with workers', tick('h1', 11, { workers: [makeWorker('w9')] })],
    ['tick with devices', tick('h1', 11, { devices: [makeDevice(1, 1)] })],
  ])('%s: snapshot, sequence and receive time unchanged; liveness not refreshed', (_name, bad) => {
    const { clock, registry } = setup();
    const stream = connect(registry, original);
    const before = registry.getHive('h1');
    const evictionBefore = registry.nextEvictionAt();
    clock.advance(10_000);

    rejected(registry.applyHeartbeat(stream, bad));

    expect(registry.getHive('h1')).toEqual(before);
    expect(registry.findWorker('w9')).toBeUndefined();
    expect(registry.nextEvictionAt()).toBe(evictionBefore);
    clock.advance(OFFLINE_AFTER_MS - 10_000);
    expect(registry.isHiveOnline('h1')).toBe(false);
  });

  test('the stream stays usable after a rejection', () => {
    const { registry } = setup();
    const stream = connect(registry, original);
    rejected(registry.applyHeartbeat(stream, snapshot('h1', 3)));
    expect(registry.applyHeartbeat(stream, snapshot('h1', 11, [makeWorker('w3')]))).toStrictEqual({
      accepted: true,
      hiveId: 'h1',
    });
    expect(workerIds(registry, 'h1')).toEqual(['w3']);
  });
});

describe('snapshots', () => {
  test('a newer heartbeat replaces the older snapshot', () => {
    const { registry } = setup();
    const stream = connect(
      registry,
      snapshot('h1', 1, [makeWorker('a'), makeWorker('b', { vramBytes: 10 })], {
        devices: [makeDevice(0, 100), makeDevice(1, 100)],
        ramTotalBytes: 1000,
      }),
    );
    accepted(
      registry.applyHeartbeat(
        stream,
        snapshot('h1', 2, [makeWorker('c'), makeWorker('b', { vramBytes: 20, state: 'busy' })], {
          devices: [makeDevice(2, 500)],
        }),
      ),
    );

    expect(workerIds(registry, 'h1')).toEqual(['b', 'c']);
    expect(registry.findWorker('a')).toBeUndefined();
    expect(registry.findWorker('b')?.worker.state).toBe('busy');
    expect(registry.findWorker('c')?.hiveId).toBe('h1');
    const view = registry.getHive('h1');
    expect(view?.devices.map((d) => d.deviceId)).toEqual([2]);
    expect(view?.resources).toEqual({
      workerCount: 2,
      vramUsedBytes: 20n,
      ramUsedBytes: 0n,
      vramTotalBytes: 500n,
      vramFreeBytes: 500n,
      ramTotalBytes: 0n, // not reported in the newer snapshot
    });
    expect(registry.totalWorkerCount).toBe(2);
  });

  test('an empty snapshot clears the workers', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('a'), makeWorker('b')]));
    accepted(registry.applyHeartbeat(stream, snapshot('h1', 2)));
    expect(registry.workersOnHive('h1')).toEqual([]);
    expect(registry.findWorker('a')).toBeUndefined();
    expect(registry.totalWorkerCount).toBe(0);
    expect(registry.hiveCount).toBe(1);
  });

  test('resending the same workers on a new stream is not a conflict with the hive itself', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('a')]));
    const second = registry.openStream();
    accepted(registry.applyHeartbeat(second, snapshot('h1', 1, [makeWorker('a')])));
    expect(registry.findWorker('a')).toMatchObject({ hiveId: 'h1', hiveOnline: true });
  });
});

describe('unchanged ticks', () => {
  test('a tick as the first payload of a brand-new hive is rejected and creates nothing', () => {
    const { registry } = setup();
    const stream = registry.openStream();
    expect(rejected(registry.applyHeartbeat(stream, tick('h1', 1)))).toMatch(/^unchanged: /);
    expect(registry.getHive('h1')).toBeUndefined();
    expect(registry.hiveCount).toBe(0);
    // The stream still belongs to no hive: a full snapshot for another hive is fine.
    accepted(registry.applyHeartbeat(stream, snapshot('h2', 1)));
  });

  test('a tick as the first payload of a new stream is rejected even when the hive exists', () => {
    const { registry } = setup();
    const old = connect(registry, snapshot('h1', 5, [makeWorker('w1')]));
    registry.closeStream(old);
    const stream = registry.openStream();
    expect(rejected(registry.applyHeartbeat(stream, tick('h1', 6)))).toMatch(/^unchanged: /);
    expect(registry.isHiveOnline('h1')).toBe(false);
    expect(registry.getHive('h1')?.sequence).toBe(5n);
  });

  test("a tick's ram_total_bytes is ignored: the last snapshot's capacity report stands", () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [], { ramTotalBytes: 64 }));
    accepted(registry.applyHeartbeat(stream, tick('h1', 2, { ramTotalBytes: 999 })));
    expect(registry.getHive('h1')?.resources.ramTotalBytes).toBe(64n);
    expect(registry.getHive('h1')?.sequence).toBe(2n);
  });

  test('a tick as the first payload of a second stream supersedes nothing', () => {
    const { registry } = setup();
    const first = connect(registry, snapshot('h1', 5));
    const second = registry.openStream();
    rejected(registry.applyHeartbeat(second, tick('h1', 6)));
    expect(registry.applyHeartbeat(first, tick('h1', 6))).toStrictEqual({ accepted: true, hiveId: 'h1' });
  });

  test.each<[string, Heartbeat, RegExp]>([
    ['workers', tick('h1', 2, { workers: [makeWorker('w1')] }), /^workers: /],
    ['devices', tick('h1', 2, { devices: [makeDevice(0, 1)] }), /^devices: /],
  ])('a tick with non-empty %s is rejected naming the field', (_field, bad, pattern) => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    expect(rejected(registry.applyHeartbeat(stream, bad))).toMatch(pattern);
  });

  test('an accepted tick keeps the snapshot and refreshes liveness, sequence and receive time', () => {
    const { clock, registry } = setup();
    const stream = connect(
      registry,
      snapshot('h1', 1, [makeWorker('w1', { vramBytes: 10, ramBytes: 20, deviceId: 0 })], {
        devices: [makeDevice(0, 100)],
        ramTotalBytes: 1000,
      }),
    );
    const before = registry.getHive('h1');
    clock.advance(10_000);
    expect(registry.applyHeartbeat(stream, tick('h1', 2))).toStrictEqual({ accepted: true, hiveId: 'h1' });

    const after = registry.getHive('h1');
    expect(after?.workers).toEqual(before?.workers);
    expect(after?.devices).toEqual(before?.devices);
    expect(after?.resources).toEqual({
      workerCount: 1,
      vramUsedBytes: 10n,
      ramUsedBytes: 20n,
      vramTotalBytes: 100n,
      vramFreeBytes: 90n,
      ramTotalBytes: 1000n,
    });
    expect(after?.sequence).toBe(2n);
    expect(after?.lastHeartbeatWallMs).toBe(clock.wallNow());
    expect(registry.findWorker('w1')?.hiveId).toBe('h1');

    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(registry.isHiveOnline('h1')).toBe(true);
    clock.advance(1);
    expect(registry.isHiveOnline('h1')).toBe(false);
  });
});

describe('hive_id of the stream', () => {
  test('a payload for another hive is rejected naming hive_id; the stream still owns its hive', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    const error = rejected(registry.applyHeartbeat(stream, snapshot('h2', 2, [makeWorker('w2')])));
    expect(error).toMatch(/^hive_id: /);
    expect(error).toContain('"h1"');
    expect(error).toContain('"h2"');
    expect(registry.getHive('h2')).toBeUndefined();
    expect(registry.findWorker('w2')).toBeUndefined();

    // Ownership unchanged: the stream keeps feeding h1, and closing it takes h1 offline.
    accepted(registry.applyHeartbeat(stream, snapshot('h1', 2, [makeWorker('w3')])));
    expect(workerIds(registry, 'h1')).toEqual(['w3']);
    registry.closeStream(stream);
    expect(registry.isHiveOnline('h1')).toBe(false);
  });
});

describe('duplicates within one payload', () => {
  test.each([
    [['a', 'b', 'a'], /^workers\[2\]\.worker_id: "a"/],
    [['a', 'a'], /^workers\[1\]\.worker_id: "a"/],
    [['x', 'y', 'z', 'y'], /^workers\[3\]\.worker_id: "y"/],
  ])('worker ids %j are rejected naming the later index', (ids, pattern) => {
    const { registry } = setup();
    const stream = registry.openStream();
    const error = rejected(registry.applyHeartbeat(stream, snapshot('h1', 1, ids.map((id) => makeWorker(id)))));
    expect(error).toMatch(pattern);
    expect(registry.getHive('h1')).toBeUndefined();
  });

  test.each([
    [[0, 1, 1], /^devices\[2\]\.device_id: 1/],
    [[4, 4], /^devices\[1\]\.device_id: 4/],
  ])('device ids %j are rejected naming the later index', (ids, pattern) => {
    const { registry } = setup();
    const stream = registry.openStream();
    const payload = snapshot('h1', 1, [], { devices: ids.map((id) => makeDevice(id, 1000)) });
    expect(rejected(registry.applyHeartbeat(stream, payload))).toMatch(pattern);
    expect(registry.getHive('h1')).toBeUndefined();
  });

  test('distinct worker and device ids are accepted', () => {
    const { registry } = setup();
    const stream = registry.openStream();
    const payload = snapshot('h1', 1, [makeWorker('b'), makeWorker('a')], {
      devices: [makeDevice(1, 10), makeDevice(0, 10)],
    });
    accepted(registry.applyHeartbeat(stream, payload));
    expect(workerIds(registry, 'h1')).toEqual(['a', 'b']);
  });
});

describe('worker ids across hives', () => {
  test('a worker id held by another ONLINE hive is rejected naming the field and the holder', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('shared')]));
    const stream = registry.openStream();
    const error = rejected(registry.applyHeartbeat(stream, snapshot('h2', 1, [makeWorker('own'), makeWorker('shared')])));
    expect(error).toMatch(/^workers\[1\]\.worker_id: "shared"/);
    expect(error).toContain('"h1"');
    expect(registry.getHive('h2')).toBeUndefined();
    expect(registry.findWorker('own')).toBeUndefined();
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h1', hiveOnline: true });
  });

  test('a worker id held by a hive whose stream closed may be claimed', () => {
    const { registry } = setup();
    const old = connect(registry, snapshot('h1', 1, [makeWorker('shared', { url: 'http://old/' })]));
    registry.closeStream(old);
    connect(registry, snapshot('h2', 1, [makeWorker('shared', { url: 'http://new/' })]));
    expect(registry.findWorker('shared')).toEqual({
      hiveId: 'h2',
      worker: makeWorker('shared', { url: 'http://new/' }),
      hiveOnline: true,
    });
    expect(workerIds(registry, 'h1')).toEqual(['shared']);
  });

  test('a worker id held by a hive whose last heartbeat is too old may be claimed, not 1 ms earlier', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('shared')]));
    clock.advance(OFFLINE_AFTER_MS - 1);
    const early = registry.openStream();
    rejected(registry.applyHeartbeat(early, snapshot('h2', 1, [makeWorker('shared')])));
    clock.advance(1);
    accepted(registry.applyHeartbeat(early, snapshot('h2', 1, [makeWorker('shared')])));
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h2', hiveOnline: true });
  });

  test('the offline holder cannot take the id back while the new holder is online', () => {
    const { clock, registry } = setup();
    const stale = connect(registry, snapshot('h1', 1, [makeWorker('shared')]));
    clock.advance(OFFLINE_AFTER_MS);
    connect(registry, snapshot('h2', 1, [makeWorker('shared')]));
    expect(rejected(registry.applyHeartbeat(stale, snapshot('h1', 2, [makeWorker('shared')])))).toContain('"h2"');
    expect(registry.isHiveOnline('h1')).toBe(false);
  });

  test.each([
    ['h-a', 'h-z'],
    ['h-z', 'h-a'],
  ])('findWorker prefers the online holder (offline %s, online %s)', (offlineHive, onlineHive) => {
    const { registry } = setup();
    registry.closeStream(connect(registry, snapshot(offlineHive, 1, [makeWorker('shared')])));
    connect(registry, snapshot(onlineHive, 1, [makeWorker('shared')]));
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: onlineHive, hiveOnline: true });
  });

  test.each([
    [['h-b', 'h-a', 'h-c']],
    [['h-a', 'h-b', 'h-c']],
    [['h-c', 'h-b', 'h-a']],
  ])('with every holder offline, findWorker returns the lowest hive id (claimed in order %j)', (order) => {
    const { registry } = setup();
    for (const hiveId of order) {
      registry.closeStream(connect(registry, snapshot(hiveId, 1, [makeWorker('shared')])));
    }
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h-a', hiveOnline: false });
  });

  test('when the online holder goes offline too, findWorker falls back to the lowest hive id', () => {
    const { registry } = setup();
    registry.closeStream(connect(registry, snapshot('h-b', 1, [makeWorker('shared')])));
    const online = connect(registry, snapshot('h-a', 1, [makeWorker('shared')]));
    registry.closeStream(connect(registry, snapshot('h-c', 1, [makeWorker('other')])));
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h-a', hiveOnline: true });
    registry.closeStream(online);
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h-a', hiveOnline: false });
  });

  test('a tick cannot bring back a worker id another online hive claimed meanwhile; a full snapshot without it can', () => {
    const { clock, registry } = setup();
    const stale = connect(registry, snapshot('h1', 1, [makeWorker('shared'), makeWorker('mine')]));
    clock.advance(OFFLINE_AFTER_MS);
    connect(registry, snapshot('h2', 1, [makeWorker('shared')]));
    const error = rejected(registry.applyHeartbeat(stale, tick('h1', 2)));
    expect(error).toBe('unchanged: worker "shared" of the last snapshot was claimed by hive "h2" meanwhile; send a full snapshot');
    expect(registry.isHiveOnline('h1')).toBe(false);
    accepted(registry.applyHeartbeat(stale, snapshot('h1', 3, [makeWorker('mine')])));
    expect(registry.isHiveOnline('h1')).toBe(true);
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h2', hiveOnline: true });
  });

  test('a holder that drops the worker from its snapshot no longer holds it', () => {
    const { registry } = setup();
    registry.closeStream(connect(registry, snapshot('h-a', 1, [makeWorker('shared')])));
    const b = connect(registry, snapshot('h-b', 1, [makeWorker('shared')]));
    accepted(registry.applyHeartbeat(b, snapshot('h-b', 2)));
    expect(registry.findWorker('shared')).toMatchObject({ hiveId: 'h-a', hiveOnline: false });
  });
});

describe('supersede', () => {
  test("a second stream's first accepted payload supersedes the first stream", () => {
    const { registry } = setup();
    const first = registry.openStream();
    expect(registry.applyHeartbeat(first, snapshot('h1', 1))).toStrictEqual({ accepted: true, hiveId: 'h1' });
    const second = registry.openStream();
    expect(registry.applyHeartbeat(second, snapshot('h1', 1))).toStrictEqual({
      accepted: true,
      hiveId: 'h1',
      superseded: first,
    });
    // Reported once only.
    expect(registry.applyHeartbeat(second, snapshot('h1', 2))).toStrictEqual({ accepted: true, hiveId: 'h1' });
    // The superseded stream is forgotten.
    expect(registry.streamCount).toBe(1);
    expect(thrownBy(() => registry.applyHeartbeat(first, snapshot('h1', 3)))).toMatchObject({
      reason: 'failed_precondition',
    });
  });

  test('each newer stream supersedes the one before it', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1));
    const second = connect(registry, snapshot('h1', 1));
    const third = registry.openStream();
    expect(accepted(registry.applyHeartbeat(third, snapshot('h1', 1))).superseded).toBe(second);
  });

  test('a rejected payload on the second stream supersedes nothing', () => {
    const { registry } = setup();
    const first = connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    const second = registry.openStream();
    rejected(registry.applyHeartbeat(second, snapshot('h1', 1, [makeWorker('x'), makeWorker('x')])));

    expect(registry.streamCount).toBe(2);
    expect(registry.applyHeartbeat(first, snapshot('h1', 2, [makeWorker('w1')]))).toStrictEqual({
      accepted: true,
      hiveId: 'h1',
    });
    // Closing the second (which never owned the hive) leaves it online; closing the first does not.
    registry.closeStream(second);
    expect(registry.isHiveOnline('h1')).toBe(true);
    registry.closeStream(first);
    expect(registry.isHiveOnline('h1')).toBe(false);
  });

  test('a rejected first payload, then an accepted one, supersedes at the accepted one', () => {
    const { registry } = setup();
    const first = connect(registry, snapshot('h1', 1));
    const second = registry.openStream();
    rejected(registry.applyHeartbeat(second, tick('h1', 5)));
    expect(accepted(registry.applyHeartbeat(second, snapshot('h1', 5))).superseded).toBe(first);
  });

  test('after supersede, closing the old stream does not take the hive offline', () => {
    const { registry } = setup();
    const first = connect(registry, snapshot('h1', 1));
    const second = connect(registry, snapshot('h1', 1));
    registry.closeStream(first);
    expect(registry.isHiveOnline('h1')).toBe(true);
    expect(registry.activeHiveIds()).toEqual(['h1']);
    registry.closeStream(second);
    expect(registry.isHiveOnline('h1')).toBe(false);
  });

  test('a new stream for a hive whose stream already closed supersedes nothing', () => {
    const { registry } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    const second = registry.openStream();
    expect(registry.applyHeartbeat(second, snapshot('h1', 1))).toStrictEqual({ accepted: true, hiveId: 'h1' });
  });

  test('a stale but still open stream is superseded too', () => {
    const { clock, registry } = setup();
    const first = connect(registry, snapshot('h1', 1));
    clock.advance(OFFLINE_AFTER_MS * 2);
    const second = registry.openStream();
    expect(accepted(registry.applyHeartbeat(second, snapshot('h1', 1))).superseded).toBe(first);
    expect(registry.isHiveOnline('h1')).toBe(true);
  });
});

describe('liveness', () => {
  test.each([
    [0, true],
    [1, true],
    [OFFLINE_AFTER_MS - 1, true],
    [OFFLINE_AFTER_MS, false],
    [OFFLINE_AFTER_MS + 1, false],
    [EVICT_AFTER_MS - 1, false],
  ])('%i ms after the last accepted payload, online = %s', (elapsed, online) => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    clock.advance(elapsed);
    expect(registry.isHiveOnline('h1')).toBe(online);
    expect(registry.activeHiveIds()).toEqual(online ? ['h1'] : []);
    expect(registry.getHive('h1')?.online).toBe(online);
    expect(registry.findWorker('w1')?.hiveOnline).toBe(online);
    expect(registry.listWorkers(() => true, true).map((e) => e.hiveOnline)).toEqual([online]);
    expect(registry.allHiveIds()).toEqual(['h1']);
  });

  test('the clock counts from the last ACCEPTED payload', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 1));
    clock.advance(10_000);
    accepted(registry.applyHeartbeat(stream, snapshot('h1', 2)));
    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(registry.isHiveOnline('h1')).toBe(true);
    clock.advance(1);
    expect(registry.isHiveOnline('h1')).toBe(false);
  });

  test('a hive whose payloads keep being rejected goes offline although its stream is open', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 5));
    for (let i = 0; i < 3; i++) {
      clock.advance(5_000);
      rejected(registry.applyHeartbeat(stream, snapshot('h1', 5)));
    }
    expect(registry.isHiveOnline('h1')).toBe(false);
  });

  test('a stale hive comes back online with its next accepted payload', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 1));
    clock.advance(OFFLINE_AFTER_MS + 5_000);
    expect(registry.isHiveOnline('h1')).toBe(false);
    accepted(registry.applyHeartbeat(stream, tick('h1', 2)));
    expect(registry.isHiveOnline('h1')).toBe(true);
  });

  test('closeStream takes the hive offline at once; it stays listed', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    registry.closeStream(stream);
    expect(registry.isHiveOnline('h1')).toBe(false);
    expect(registry.isHiveOnline('h1', 10 * EVICT_AFTER_MS)).toBe(false);
    expect(registry.activeHiveIds()).toEqual([]);
    expect(registry.getHive('h1')?.online).toBe(false);
    expect(registry.allHiveIds()).toEqual(['h1']);
    expect(registry.findWorker('w1')).toMatchObject({ hiveId: 'h1', hiveOnline: false });
  });

  test.each([
    [5_000, 4_999, true],
    [5_000, 5_000, false],
    [1, 0, true],
    [1, 1, false],
    [60_000, 20_000, true],
    [60_000, 59_999, true],
    [60_000, 60_000, false],
  ])('maxAgeMs %i replaces the threshold: %i ms after the payload, online = %s', (maxAgeMs, elapsed, online) => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1));
    connect(registry, snapshot('h0', 1));
    clock.advance(elapsed);
    expect(registry.isHiveOnline('h1', maxAgeMs)).toBe(online);
    expect(registry.activeHiveIds(maxAgeMs)).toEqual(online ? ['h0', 'h1'] : []);
    // The default threshold still applies to calls without an override.
    expect(registry.isHiveOnline('h1')).toBe(elapsed < OFFLINE_AFTER_MS);
  });

  test('senderTime plays no part in liveness', () => {
    const { clock, registry } = setup();
    const ancient = { seconds: 946_684_800, nanos: 0 }; // 2000-01-01
    const farFuture = { seconds: 253_402_300_799, nanos: 999_999_999 }; // 9999-12-31
    connect(registry, snapshot('h-old', 1, [], { senderTime: ancient }));
    connect(registry, snapshot('h-future', 1, [], { senderTime: farFuture }));
    expect(registry.activeHiveIds()).toEqual(['h-future', 'h-old']);
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.activeHiveIds()).toEqual([]);
  });
});

describe('lapsed leases', () => {
  test('a hive whose stream stays open but goes silent is reported once, at the offline threshold', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 1));
    connect(registry, snapshot('h2', 1));
    clock.advance(OFFLINE_AFTER_MS - 1);
    expect(registry.lapsedLeases()).toEqual([]);
    clock.advance(1);
    expect(registry.lapsedLeases()).toEqual(['h1', 'h2']);
    expect(registry.lapsedLeases()).toEqual([]);
    // An accepted payload renews the lease; the next lapse is reported again.
    accepted(registry.applyHeartbeat(stream, tick('h1', 2)));
    expect(registry.lapsedLeases()).toEqual([]);
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.lapsedLeases()).toEqual(['h1']);
  });

  test('rejected payloads do not prevent the report', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 5));
    clock.advance(OFFLINE_AFTER_MS);
    rejected(registry.applyHeartbeat(stream, tick('h1', 5)));
    expect(registry.lapsedLeases()).toEqual(['h1']);
  });

  test('a hive that ended its stream is not reported: its going offline was already seen', () => {
    const { clock, registry } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.lapsedLeases()).toEqual([]);
  });
});

describe('eviction', () => {
  test.each([
    [EVICT_AFTER_MS - 1, false],
    [EVICT_AFTER_MS, true],
    [EVICT_AFTER_MS + 1, true],
  ])('%i ms after the last accepted payload, evicted = %s', (elapsed, evicted) => {
    const { clock, registry } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1, [makeWorker('w1')])));
    clock.advance(elapsed);
    expect(registry.evictExpired()).toStrictEqual(evicted ? [{ hiveId: 'h1' }] : []);
    expect(registry.hiveCount).toBe(evicted ? 0 : 1);
    expect(registry.findWorker('w1') === undefined).toBe(evicted);
  });

  test('a hive whose stream is still open departs with that stream, which is forgotten', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 1));
    clock.advance(EVICT_AFTER_MS);
    expect(registry.evictExpired()).toStrictEqual([{ hiveId: 'h1', stream }]);
    expect(registry.streamCount).toBe(0);
    expect(thrownBy(() => registry.applyHeartbeat(stream, snapshot('h1', 2)))).toMatchObject({
      reason: 'failed_precondition',
    });
  });

  test('a hive whose payloads keep being rejected is still evicted on time, with its stream', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 100));
    for (let elapsed = 5_000; elapsed < EVICT_AFTER_MS; elapsed += 5_000) {
      clock.advance(5_000);
      rejected(registry.applyHeartbeat(stream, snapshot('h1', 1)));
      expect(registry.evictExpired()).toEqual([]);
    }
    clock.advance(5_000);
    expect(registry.evictExpired()).toStrictEqual([{ hiveId: 'h1', stream }]);
  });

  test('is idempotent', () => {
    const { clock, registry } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    clock.advance(EVICT_AFTER_MS);
    expect(registry.evictExpired()).toHaveLength(1);
    expect(registry.evictExpired()).toEqual([]);
    clock.advance(EVICT_AFTER_MS);
    expect(registry.evictExpired()).toEqual([]);
  });

  test('evicts only what is due, oldest first, and removes every trace', () => {
    const { clock, registry } = setup();
    const start = clock.now();
    registry.closeStream(connect(registry, snapshot('h-c', 1, [makeWorker('wc')])));
    clock.advance(100);
    const sB = connect(registry, snapshot('h-b', 1, [makeWorker('wb')]));
    clock.advance(100);
    connect(registry, snapshot('h-a', 1, [makeWorker('wa')]));

    clock.advance(EVICT_AFTER_MS - 100); // h-b exactly due, h-c overdue, h-a 100 ms short
    expect(registry.evictExpired()).toStrictEqual([{ hiveId: 'h-c' }, { hiveId: 'h-b', stream: sB }]);

    expect(registry.allHiveIds()).toEqual(['h-a']);
    expect(registry.hiveCount).toBe(1);
    expect(registry.totalWorkerCount).toBe(1);
    expect(registry.findWorker('wb')).toBeUndefined();
    expect(registry.findWorker('wc')).toBeUndefined();
    expect(registry.getHive('h-b')).toBeUndefined();
    expect(registry.listWorkers(() => true, true).map((e) => e.worker.workerId)).toEqual(['wa']);
    expect(registry.nextEvictionAt()).toBe(start + 200 + EVICT_AFTER_MS);
  });

  test('a refreshed hive moves behind the others', () => {
    const { clock, registry } = setup();
    const start = clock.now();
    const s1 = connect(registry, snapshot('h1', 1));
    clock.advance(100);
    connect(registry, snapshot('h2', 1));
    clock.advance(100);
    accepted(registry.applyHeartbeat(s1, tick('h1', 2)));
    expect(registry.nextEvictionAt()).toBe(start + 100 + EVICT_AFTER_MS);

    clock.advance(EVICT_AFTER_MS - 100);
    expect(registry.evictExpired().map((d) => d.hiveId)).toEqual(['h2']);
    expect(registry.nextEvictionAt()).toBe(start + 200 + EVICT_AFTER_MS);
    clock.advance(100);
    expect(registry.evictExpired().map((d) => d.hiveId)).toEqual(['h1']);
    expect(registry.nextEvictionAt()).toBeUndefined();
  });

  test('nextEvictionAt is not moved by rejected payloads', () => {
    const { clock, registry } = setup();
    const start = clock.now();
    const stream = connect(registry, snapshot('h1', 5));
    clock.advance(1_000);
    rejected(registry.applyHeartbeat(stream, snapshot('h1', 5)));
    expect(registry.nextEvictionAt()).toBe(start + EVICT_AFTER_MS);
  });

  test('an evicted worker id is free again and the hive can come back afresh', () => {
    const { clock, registry } = setup();
    const stream = connect(registry, snapshot('h1', 50, [makeWorker('w1')]));
    clock.advance(EVICT_AFTER_MS);
    registry.evictExpired();
    connect(registry, snapshot('h2', 1, [makeWorker('w1')]));
    expect(registry.findWorker('w1')).toMatchObject({ hiveId: 'h2' });
    const back = connect(registry, snapshot('h1', 1));
    expect(back).not.toBe(stream);
    expect(registry.getHive('h1')?.sequence).toBe(1n);
  });
});

describe('removeHive', () => {
  test('returns undefined for an unknown hive', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1));
    expect(registry.removeHive('h2')).toBeUndefined();
    expect(registry.hiveCount).toBe(1);
  });

  test('returns the open stream to end, and forgets it', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    expect(registry.removeHive('h1')).toStrictEqual({ hiveId: 'h1', stream });
    expect(registry.streamCount).toBe(0);
    expect(thrownBy(() => registry.applyHeartbeat(stream, snapshot('h1', 2)))).toMatchObject({
      reason: 'failed_precondition',
    });
  });

  test('returns no stream when the hive is already offline by close', () => {
    const { registry } = setup();
    registry.closeStream(connect(registry, snapshot('h1', 1)));
    expect(registry.removeHive('h1')).toStrictEqual({ hiveId: 'h1' });
  });

  test('the hive is gone from every count, list and lookup', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1'), makeWorker('w2')]));
    clock.advance(10);
    connect(registry, snapshot('h2', 1, [makeWorker('w3')]));
    expect(registry.allHiveIds()).toEqual(['h1', 'h2']); // warm any cache before removal

    registry.removeHive('h1');

    expect(registry.hiveCount).toBe(1);
    expect(registry.totalWorkerCount).toBe(1);
    expect(registry.allHiveIds()).toEqual(['h2']);
    expect(registry.activeHiveIds()).toEqual(['h2']);
    expect(registry.getHive('h1')).toBeUndefined();
    expect(registry.isHiveOnline('h1')).toBe(false);
    expect(registry.workersOnHive('h1')).toEqual([]);
    expect(registry.findWorker('w1')).toBeUndefined();
    expect(registry.listWorkers(() => true, true).map((e) => e.worker.workerId)).toEqual(['w3']);
    expect(registry.nextEvictionAt()).toBe(clock.now() + EVICT_AFTER_MS);
    expect(registry.removeHive('h1')).toBeUndefined();
  });

  test.each([
    ['removed', (registry: HiveRegistry, _clock: ManualClock) => registry.removeHive('h1')],
    [
      'evicted',
      (registry: HiveRegistry, clock: ManualClock) => {
        clock.advance(EVICT_AFTER_MS);
        registry.evictExpired();
      },
    ],
  ])('a %s hive that comes back without a worker no longer holds its id', (_how, depart) => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    depart(registry, clock);
    connect(registry, snapshot('h1', 1, [makeWorker('w-other')]));
    expect(registry.findWorker('w1')).toBeUndefined();
    connect(registry, snapshot('h2', 1, [makeWorker('w1')]));
    expect(registry.findWorker('w1')).toMatchObject({ hiveId: 'h2', hiveOnline: true });
  });

  test('a removed hive is not evicted later', () => {
    const { clock, registry } = setup();
    connect(registry, snapshot('h1', 1));
    registry.removeHive('h1');
    clock.advance(EVICT_AFTER_MS);
    expect(registry.evictExpired()).toEqual([]);
  });

  test("a removed online hive's worker ids may be claimed at once", () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    registry.removeHive('h1');
    connect(registry, snapshot('h2', 1, [makeWorker('w1')]));
    expect(registry.findWorker('w1')).toMatchObject({ hiveId: 'h2', hiveOnline: true });
  });
});

describe('unknown ids', () => {
  test('reads answer "nothing" rather than throwing', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1, [makeWorker('w1')]));
    expect(registry.getHive('nope')).toBeUndefined();
    expect(registry.workersOnHive('nope')).toEqual([]);
    expect(registry.isHiveOnline('nope')).toBe(false);
    expect(registry.isHiveOnline('nope', 1_000_000)).toBe(false);
    expect(registry.findWorker('nope')).toBeUndefined();
  });
});

describe('lists and counts', () => {
  function fleet(): { clock: ManualClock; registry: HiveRegistry } {
    const { clock, registry } = setup();
    // Connected out of order, workers out of order within each payload.
    connect(registry, snapshot('hive-2', 1, [makeWorker('w-b', { state: 'busy' }), makeWorker('w-a')]));
    registry.closeStream(connect(registry, snapshot('hive-10', 1, [makeWorker('w-z'), makeWorker('w-c')])));
    connect(registry, snapshot('hive-1', 1, [makeWorker('w-y', { state: 'busy' }), makeWorker('w-x')]));
    connect(registry, snapshot('hive-3', 1));
    return { clock, registry };
  }

  test('allHiveIds is sorted and includes offline hives', () => {
    const { registry } = fleet();
    expect(registry.allHiveIds()).toEqual(['hive-1', 'hive-10', 'hive-2', 'hive-3']);
  });

  test('allHiveIds sees hives added after an earlier call', () => {
    const { registry } = fleet();
    registry.allHiveIds();
    connect(registry, snapshot('hive-0', 1));
    expect(registry.allHiveIds()).toEqual(['hive-0', 'hive-1', 'hive-10', 'hive-2', 'hive-3']);
  });

  test('activeHiveIds is sorted and leaves out offline hives', () => {
    const { clock, registry } = fleet();
    expect(registry.activeHiveIds()).toEqual(['hive-1', 'hive-2', 'hive-3']);
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.activeHiveIds()).toEqual([]);
  });

  test('hiveCount and totalWorkerCount include offline, not evicted, hives', () => {
    const { clock, registry } = fleet();
    expect(registry.hiveCount).toBe(4);
    expect(registry.totalWorkerCount).toBe(6);
    clock.advance(OFFLINE_AFTER_MS);
    expect(registry.hiveCount).toBe(4);
    expect(registry.totalWorkerCount).toBe(6);
    clock.advance(EVICT_AFTER_MS);
    registry.evictExpired();
    expect(registry.hiveCount).toBe(0);
    expect(registry.totalWorkerCount).toBe(0);
  });

  test('listWorkers with includeOffline: every worker by hive id then worker id, flagged', () => {
    const { registry } = fleet();
    expect(registry.listWorkers(() => true, true).map((e) => [e.hiveId, e.worker.workerId, e.hiveOnline])).toEqual([
      ['hive-1', 'w-x', true],
      ['hive-1', 'w-y', true],
      ['hive-10', 'w-c', false],
      ['hive-10', 'w-z', false],
      ['hive-2', 'w-a', true],
      ['hive-2', 'w-b', true],
    ]);
  });

  test('listWorkers without includeOffline leaves out workers of offline hives', () => {
    const { registry } = fleet();
    expect(registry.listWorkers(() => true, false).map((e) => [e.hiveId, e.worker.workerId, e.hiveOnline])).toEqual([
      ['hive-1', 'w-x', true],
      ['hive-1', 'w-y', true],
      ['hive-2', 'w-a', true],
      ['hive-2', 'w-b', true],
    ]);
  });

  test('listWorkers applies the predicate', () => {
    const { registry } = fleet();
    const busy = registry.listWorkers((w) => w.state === 'busy', false);
    expect(busy.map((e) => e.worker.workerId)).toEqual(['w-y', 'w-b']);
    expect(registry.listWorkers((w) => w.state === 'idle', true).map((e) => e.worker.workerId)).toEqual([
      'w-x',
      'w-c',
      'w-z',
      'w-a',
    ]);
    expect(registry.listWorkers(() => false, true)).toEqual([]);
  });

  test('onlineCheck answers for many hives at one instant, false for unknown ones', () => {
    const { registry } = fleet();
    const isOnline = registry.onlineCheck();
    expect(['hive-1', 'hive-2', 'hive-10', 'nope'].map((id) => [id, isOnline(id)])).toEqual([
      ['hive-1', true],
      ['hive-2', true],
      ['hive-10', false],
      ['nope', false],
    ]);
  });
});

describe('getHive', () => {
  test('shows the snapshot, sorted, with resources, sender time, sequence and receive time', () => {
    const wallAtStart = Date.UTC(2026, 2, 4, 5, 6, 7, 890);
    const { clock, registry } = setup(new ManualClock(50_000, wallAtStart));
    const senderTime = { seconds: 1_772_600_000, nanos: 123_456_789 };
    connect(
      registry,
      snapshot(
        'h1',
        77,
        [
          makeWorker('w-b', { deviceId: 1, vramBytes: 3_000, ramBytes: 100 }),
          makeWorker('w-a', { deviceId: 0, vramBytes: 12_000, ramBytes: 200 }),
          makeWorker('w-c'),
        ],
        { devices: [makeDevice(1, 8_000), makeDevice(0, 10_000)], ramTotalBytes: 64_000, senderTime },
      ),
    );
    clock.advance(1_234);

    const view = registry.getHive('h1');
    expect(view).toEqual({
      hiveId: 'h1',
      workers: [
        makeWorker('w-a', { deviceId: 0, vramBytes: 12_000, ramBytes: 200 }),
        makeWorker('w-b', { deviceId: 1, vramBytes: 3_000, ramBytes: 100 }),
        makeWorker('w-c'),
      ],
      devices: [makeDevice(0, 10_000), makeDevice(1, 8_000)],
      online: true,
      lastHeartbeatWallMs: wallAtStart,
      senderTime,
      sequence: 77n,
      resources: {
        workerCount: 3,
        vramUsedBytes: 15_000n,
        ramUsedBytes: 300n,
        vramTotalBytes: 18_000n,
        vramFreeBytes: 5_000n, // device 0 over-committed (floored at 0) + device 1: 8000 - 3000
        ramTotalBytes: 64_000n,
      },
    });
  });

  test('has no senderTime when the payload carried none', () => {
    const { registry } = setup();
    connect(registry, snapshot('h1', 1));
    const view = registry.getHive('h1');
    expect(view).toBeDefined();
    expect(view !== undefined && 'senderTime' in view).toBe(false);
  });

  test('lastHeartbeatWallMs follows each accepted payload, not rejected ones', () => {
    const { clock, registry } = setup(new ManualClock(0, 1_000_000));
    const stream = connect(registry, snapshot('h1', 1));
    clock.advance(4_000);
    accepted(registry.applyHeartbeat(stream, tick('h1', 2)));
    expect(registry.getHive('h1')?.lastHeartbeatWallMs).toBe(1_004_000);
    clock.advance(4_000);
    rejected(registry.applyHeartbeat(stream, tick('h1', 2)));
    expect(registry.getHive('h1')?.lastHeartbeatWallMs).toBe(1_004_000);
  });

  test('a view taken earlier is a snapshot: later payloads do not change it', () => {
    const { registry } = setup();
    const stream = connect(registry, snapshot('h1', 1, [makeWorker('w1')], { devices: [makeDevice(0, 10)] }));
    const earlier = registry.getHive('h1');
    const earlierWorkers = registry.workersOnHive('h1');
    const earlierIds = registry.allHiveIds();
    accepted(registry.applyHeartbeat(stream, snapshot('h1', 2, [makeWorker('w2')])));
    connect(registry, snapshot('h0', 1));
    expect(earlier?.workers.map((w) => w.workerId)).toEqual(['w1']);
    expect(earlier?.devices.map((d) => d.deviceId)).toEqual([0]);
    expect(earlier?.sequence).toBe(1n);
    expect(earlierWorkers.map((w) => w.workerId)).toEqual(['w1']);
    expect(earlierIds).toEqual(['h1']);
  });

  test("the registry does not keep the caller's payload arrays", () => {
    const { registry } = setup();
    const workers = [makeWorker('w2'), makeWorker('w1')];
    const devices = [makeDevice(1, 10), makeDevice(0, 10)];
    connect(registry, snapshot('h1', 1, workers, { devices }));
    workers.push(makeWorker('w3'));
    devices.pop();
    expect(workerIds(registry, 'h1')).toEqual(['w1', 'w2']);
    expect(registry.getHive('h1')?.devices.map((d) => d.deviceId)).toEqual([0, 1]);
    // The caller's arrays were not re-sorted in place either.
    expect(workers.map((w) => w.workerId)).toEqual(['w2', 'w1', 'w3']);
  });
});
