import { ManualClock } from '../../src/common/manual-clock';
import { HiveRegistry } from '../../src/registry/hive-registry';
import type { PublishedHive, RegistryEvent } from '../../src/registry/types';
import { makeWorker, snapshot } from '../helpers/domain-builders';

const OFFLINE_AFTER_MS = 15_000;
const EVICT_AFTER_MS = 60_000;

function setup(): { clock: ManualClock; registry: HiveRegistry; events: RegistryEvent[] } {
  const clock = new ManualClock();
  const registry = new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS });
  const events: RegistryEvent[] = [];
  registry.onEvent((event) => events.push(event));
  return { clock, registry, events };
}

function published(hiveId: string, owner: string, online: boolean, workerIds: string[], sequence = 1n): PublishedHive {
  return {
    hiveId,
    owner,
    online,
    workers: workerIds.map((workerId) => makeWorker(workerId)),
    devices: [],
    sequence,
    lastHeartbeatWallMs: 1_700_000_000_000,
  };
}

describe('hives other queens own', () => {
  test('a published hive is listed, online while its owner says so, never aged by this queen, and names its owner', () => {
    const { clock, registry, events } = setup();
    registry.applyRemote(published('h1', 'queen-b', true, ['w1', 'w2']));
    expect(events.map((e) => e.type)).toEqual(['hive_online', 'worker_upserted', 'worker_upserted']);
    clock.advance(EVICT_AFTER_MS * 3);
    expect(registry.isHiveOnline('h1')).toBe(true);
    expect(registry.evictExpired()).toEqual([]);
    expect(registry.lapsedLeases()).toEqual([]);
    expect(registry.getHive('h1')).toMatchObject({ online: true, owner: 'queen-b', lastHeartbeatWallMs: 1_700_000_000_000 });
    expect(registry.findWorker('w1')).toMatchObject({ hiveId: 'h1', hiveOnline: true, queenId: 'queen-b' });
    expect(registry.listWorkers(() => true, false).map((e) => e.queenId)).toEqual(['queen-b', 'queen-b']);
    expect(registry.ownsHive('h1')).toBe(false);
    expect(registry.publication('h1', 'me')).toBeUndefined();
    expect(registry.ownedOnlineHiveCount()).toBe(0);
  });

  test('a new publication replaces the snapshot with one event per changed worker', () => {
    const { registry, events } = setup();
    registry.applyRemote(published('h1', 'queen-b', true, ['w1', 'w2']));
    events.length = 0;
    registry.applyRemote(published('h1', 'queen-b', true, ['w2', 'w3'], 2n));
    expect(events.map((e) => `${e.type}:${'worker' in e ? e.worker.workerId : 'workerId' in e ? e.workerId : ''}`)).toEqual([
      'worker_removed:w1',
      'worker_upserted:w3',
    ]);
    expect(registry.getHive('h1')?.sequence).toBe(2n);
  });

  test('published offline: hive_offline, then evicted evictAfterMs after this queen learned it', () => {
    const { clock, registry, events } = setup();
    registry.applyRemote(published('h1', 'queen-b', true, ['w1']));
    clock.advance(1_000_000);
    events.length = 0;
    registry.applyRemote(published('h1', 'queen-b', false, ['w1'], 2n));
    expect(events.map((e) => e.type)).toEqual(['hive_offline']);
    expect(registry.isHiveOnline('h1')).toBe(false);
    // A second offline publication does not postpone the eviction.
    clock.advance(EVICT_AFTER_MS / 2);
    registry.applyRemote(published('h1', 'queen-b', false, ['w1'], 3n));
    clock.advance(EVICT_AFTER_MS / 2 - 1);
    expect(registry.evictExpired()).toEqual([]);
    clock.advance(1);
    expect(registry.evictExpired()).toEqual([{ hiveId: 'h1' }]);
  });

  test('an owner whose lease ended: its hives go offline, kept until eviction; a late notice for another owner is ignored', () => {
    const { clock, registry, events } = setup();
    registry.applyRemote(published('h1', 'queen-b', true, ['w1']));
    registry.applyRemote(published('h2', 'queen-c', true, ['w2']));
    events.length = 0;
    registry.remoteGone('h1', 'queen-b');
    registry.remoteGone('h2', 'queen-b');
    expect(events.map((e) => `${e.type}:${e.hiveId}`)).toEqual(['hive_offline:h1']);
    expect(registry.isHiveOnline('h2')).toBe(true);
    expect(registry.getHive('h1')?.workers).toHaveLength(1);
    clock.advance(EVICT_AFTER_MS);
    expect(registry.evictExpired()).toEqual([{ hiveId: 'h1' }]);
    // Back online elsewhere before eviction would have brought it back: covered by the next publication.
    registry.applyRemote(published('h1', 'queen-c', true, ['w1'], 5n));
    expect(registry.getHive('h1')).toMatchObject({ online: true, owner: 'queen-c' });
  });

  test("another queen taking over a hive this queen streams supersedes the local stream", () => {
    const { registry, events } = setup();
    const stream = registry.openStream();
    expect(registry.applyHeartbeat(stream, snapshot('h1', 1n, [makeWorker('w1')]))).toMatchObject({ accepted: true });
    expect(registry.ownsHive('h1')).toBe(true);
    expect(registry.publication('h1', 'me')).toMatchObject({ hiveId: 'h1', owner: 'me', online: true, sequence: 1n });
    events.length = 0;
    expect(registry.applyRemote(published('h1', 'queen-b', true, ['w1'], 1n))).toEqual({ superseded: stream });
    // Still online, now as queen-b's: no offline/online flap for watchers.
    expect(events).toEqual([]);
    expect(registry.streamCount).toBe(0);
    expect(registry.getHive('h1')).toMatchObject({ online: true, owner: 'queen-b' });
    // The closed stream's end changes nothing.
    registry.closeStream(stream);
    expect(registry.isHiveOnline('h1')).toBe(true);
  });

  test('a stream here takes a remote hive over: local from its first payload, with no hive_online repeated', () => {
    const { registry, events } = setup();
    registry.applyRemote(published('h1', 'queen-b', true, ['w1']));
    events.length = 0;
    const stream = registry.openStream();
    expect(registry.applyHeartbeat(stream, snapshot('h1', 7n, [makeWorker('w1')]))).toMatchObject({ accepted: true });
    expect(events.filter((e) => e.type === 'hive_online')).toEqual([]);
    expect(registry.getHive('h1')?.owner).toBeUndefined();
    expect(registry.ownsHive('h1')).toBe(true);
    expect(registry.ownedOnlineHiveCount()).toBe(1);
  });

  test('a worker id held by an online remote hive is refused to a local hive', () => {
    const { registry } = setup();
    registry.applyRemote(published('h1', 'queen-b', true, ['w1']));
    const outcome = registry.applyHeartbeat(registry.openStream(), snapshot('h2', 1n, [makeWorker('w1')]));
    expect(outcome).toMatchObject({ accepted: false, reason: 'worker_claimed' });
  });
});
