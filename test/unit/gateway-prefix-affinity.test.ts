// Prefix affinity, pure: the chained block keys, the table of which workers served which keys (LRU, forgetting),
// the rule (longest match, least loaded, slack, free slot), and the slot queue with a real scheduling index on the
// injected clock.
import { ManualClock } from '../../src/common/manual-clock';
import type { Worker } from '../../src/common/worker';
import { PrefixAffinity, preferredWorker, type LoadView } from '../../src/gateway/prefix-affinity';
import { prefixKeys } from '../../src/gateway/prefix-keys';
import { PrefixTable, WORKERS_PER_KEY } from '../../src/gateway/prefix-table';
import { SlotQueue, type GatewayScheduler } from '../../src/gateway/slot-queue';
import type { RegistryEvent } from '../../src/registry/types';
import { SchedulingIndex } from '../../src/scheduler/scheduling-index';
import { makeWorker } from '../helpers/domain-builders';

const MODEL = 'org/m';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

describe('prefixKeys', () => {
  test('one key per full block, each covering every block before it', () => {
    const text = bytes('a'.repeat(16) + 'b'.repeat(16) + 'c'.repeat(16) + 'tail');
    const keys = prefixKeys(MODEL, text, 16);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(3);
    for (const key of keys) expect(Number.isSafeInteger(key) && key >= 0).toBe(true);
    // The tail (not a full block) counts for nothing.
    expect(prefixKeys(MODEL, bytes('a'.repeat(16) + 'b'.repeat(16) + 'c'.repeat(16) + 'other tail'), 16)).toEqual(keys);
    // A change in the last block changes only its key; one in the first changes every key.
    const lastChanged = prefixKeys(MODEL, bytes('a'.repeat(16) + 'b'.repeat(16) + 'C' + 'c'.repeat(15)), 16);
    expect(lastChanged.slice(0, 2)).toEqual(keys.slice(0, 2));
    expect(lastChanged[2]).not.toBe(keys[2]);
    const firstChanged = prefixKeys(MODEL, bytes('A' + 'a'.repeat(15) + 'b'.repeat(16) + 'c'.repeat(16)), 16);
    firstChanged.forEach((key, i) => expect(key).not.toBe(keys[i]));
  });

  test('the same block at another depth has another key (chained, not per block)', () => {
    const keys = prefixKeys(MODEL, bytes('x'.repeat(48)), 16);
    expect(new Set(keys).size).toBe(3);
  });

  test('keys are per model, deterministic, and follow the block size', () => {
    const text = bytes('system\nYou are a helpful assistant.\n'.repeat(20));
    expect(prefixKeys(MODEL, text, 64)).toEqual(prefixKeys(MODEL, text, 64));
    expect(prefixKeys('org/other', text, 64)[0]).not.toBe(prefixKeys(MODEL, text, 64)[0]);
    expect(prefixKeys(MODEL, text, 64)).toHaveLength(Math.floor(text.length / 64));
    expect(prefixKeys(MODEL, text, 256)).toHaveLength(Math.floor(text.length / 256));
    expect(prefixKeys(MODEL, bytes('short'), 16)).toEqual([]);
    expect(prefixKeys(MODEL, Buffer.alloc(0), 16)).toEqual([]);
  });

  test('multibyte text is cut on bytes, not characters', () => {
    // 'é' is two bytes: 8 of them fill one 16-byte block exactly.
    expect(prefixKeys(MODEL, bytes('é'.repeat(8)), 16)).toHaveLength(1);
    expect(prefixKeys(MODEL, bytes('é'.repeat(7)), 16)).toHaveLength(0);
  });
});

describe('PrefixTable', () => {
  test('remembers up to four workers per key, most recent first; recording again moves a worker to the front', () => {
    const table = new PrefixTable(10);
    for (const w of ['w1', 'w2', 'w3', 'w4', 'w5']) table.record([1], 'h', w, MODEL);
    expect(table.servedBy(1).map((t) => t.workerId)).toEqual(['w5', 'w4', 'w3', 'w2']);
    expect(WORKERS_PER_KEY).toBe(4);
    table.record([1], 'h', 'w3', MODEL);
    expect(table.servedBy(1).map((t) => t.workerId)).toEqual(['w3', 'w5', 'w4', 'w2']);
  });

  test('holds at most `capacity` keys, dropping the least recently recorded', () => {
    const table = new PrefixTable(3);
    table.record([1, 2, 3], 'h', 'w', MODEL);
    table.record([1], 'h', 'w', MODEL);
    table.record([4], 'h', 'w', MODEL);
    expect(table.size).toBe(3);
    expect(table.servedBy(2)).toEqual([]);
    expect([1, 3, 4].map((k) => table.servedBy(k).length)).toEqual([1, 1, 1]);
  });

  test('blocksOn is the longest prefix of the keys the worker served', () => {
    const table = new PrefixTable(100);
    table.record([1, 2], 'h', 'a', MODEL);
    table.record([1, 2, 3, 4], 'h', 'b', MODEL);
    expect(table.blocksOn([1, 2, 3, 4, 5], 'h', 'a')).toBe(2);
    expect(table.blocksOn([1, 2, 3, 4, 5], 'h', 'b')).toBe(4);
    expect(table.blocksOn([1, 2, 3, 4, 5], 'h', 'c')).toBe(0);
    expect(table.blocksOn([9], 'h', 'b')).toBe(0);
  });

  test('a worker that is removed, changes model or whose hive goes offline is forgotten, also when it comes back', () => {
    const table = new PrefixTable(100);
    table.record([1], 'h1', 'gone', MODEL);
    table.record([1], 'h1', 'moved', MODEL);
    table.record([1], 'h1', 'same', MODEL);
    table.record([1], 'h2', 'offline', MODEL);
    table.workerGone('h1', 'gone');
    table.workerSeen('h1', 'moved', 'org/other');
    table.workerSeen('h1', 'same', MODEL);
    expect(table.servedBy(1).map((t) => `${t.hiveId}/${t.workerId}`)).toEqual(['h2/offline', 'h1/same']);
    table.hiveGone('h2');
    expect(table.servedBy(1).map((t) => t.workerId)).toEqual(['same']);
    // Back with the same model: a cold cache, so the old entries stay dead.
    table.workerSeen('h1', 'gone', MODEL);
    table.record([2], 'h1', 'gone', MODEL);
    expect(table.servedBy(1).map((t) => t.workerId)).toEqual(['same']);
    expect(table.blocksOn([1], 'h1', 'gone')).toBe(0);
    table.workerGone('h1', 'same');
    expect(table.servedBy(1)).toEqual([]);
    // The emptied key gave its room back.
    expect(table.size).toBe(1);
  });

  test('rejects a capacity below 1', () => {
    expect(() => new PrefixTable(0)).toThrow(/capacity: must be a whole number of at least 1, got 0/);
  });
});

/** A view over fixed loads: every listed worker serves the model; `free` unless said otherwise. */
function view(loads: Record<string, number>, full: readonly string[] = []): LoadView {
  const candidates = Object.entries(loads).filter(([id]) => !full.includes(id));
  return {
    standingFor: (hiveId, workerId) => {
      const load = loads[`${hiveId}/${workerId}`];
      return load === undefined ? undefined : { load, free: !full.includes(`${hiveId}/${workerId}`) };
    },
    leastLoad: () => (candidates.length === 0 ? undefined : Math.min(...candidates.map(([, load]) => load))),
  };
}

describe('the affinity rule', () => {
  const table = new PrefixTable(100);
  table.record([1, 2, 3], 'h', 'deep', MODEL);
  table.record([1], 'h', 'shallow', MODEL);

  test('the worker of the longest matching prefix gets the request, with the blocks it matched', () => {
    expect(preferredWorker(table, [1, 2, 3, 4], view({ 'h/deep': 0.5, 'h/shallow': 0.25, 'h/idle': 0.25 }), 0.25)).toEqual({
      hiveId: 'h',
      workerId: 'deep',
      blocks: 3,
    });
    expect(preferredWorker(table, [1, 7], view({ 'h/deep': 0.5, 'h/shallow': 0.25 }), 0.25)).toEqual({ hiveId: 'h', workerId: 'shallow', blocks: 1 });
    expect(preferredWorker(table, [9], view({ 'h/deep': 0 }), 0.25)).toBeUndefined();
  });

  test('among several workers of that prefix, the least loaded', () => {
    expect(preferredWorker(table, [1], view({ 'h/deep': 0.5, 'h/shallow': 0.125 }), 0.25)).toMatchObject({ workerId: 'shallow' });
    expect(preferredWorker(table, [1], view({ 'h/deep': 0.125, 'h/shallow': 0.5 }), 0.25)).toMatchObject({ workerId: 'deep' });
  });

  test('it yields to the load order past the slack (at the slack exactly it keeps the request)', () => {
    expect(preferredWorker(table, [1, 2, 3], view({ 'h/deep': 0.5, 'h/idle': 0.25 }), 0.25)).toMatchObject({ workerId: 'deep' });
    expect(preferredWorker(table, [1, 2, 3], view({ 'h/deep': 0.625, 'h/idle': 0.25 }), 0.25)).toBeUndefined();
    expect(preferredWorker(table, [1, 2, 3], view({ 'h/deep': 0.625, 'h/idle': 0.25 }), 0.5)).toMatchObject({ workerId: 'deep' });
    expect(preferredWorker(table, [1, 2, 3], view({ 'h/deep': 0.125, 'h/idle': 0 }), 0)).toBeUndefined();
  });

  test('it yields when that worker has no free slot, even within the slack', () => {
    expect(preferredWorker(table, [1, 2, 3], view({ 'h/deep': 0.5, 'h/idle': 0.5 }, ['h/deep']), 0.25)).toBeUndefined();
  });

  test('a worker no longer serving the model online does not match: a shorter prefix of a live worker does', () => {
    expect(preferredWorker(table, [1, 2, 3], view({ 'h/shallow': 0 }), 0.25)).toEqual({ hiveId: 'h', workerId: 'shallow', blocks: 1 });
  });
});

/**
 * A GatewayScheduler over a real SchedulingIndex (on a manual clock) and a hand-kept fleet of one model's workers,
 * all online: what the queen's gatewayScheduler does with its registry.
 */
class IndexScheduler implements GatewayScheduler {
  readonly clock = new ManualClock();
  readonly index = new SchedulingIndex(() => this.clock.now());
  private readonly listeners = new Set<(event: RegistryEvent) => void>();
  private readonly online = (): boolean => true;
  private revision = 0;

  hive(hiveId: string, workers: Worker[]): void {
    this.index.snapshotReplaced(hiveId, workers);
    for (const worker of workers) this.emit({ type: 'worker_upserted', revision: ++this.revision, hiveId, hiveOnline: true, worker });
  }
  offline(hiveId: string): void {
    this.emit({ type: 'hive_offline', revision: ++this.revision, hiveId, hiveOnline: false });
  }
  reserve(model: string, ttlMs: number) {
    return this.index.pick({ modelId: model, reserve: true, reservationTtlMs: ttlMs, loadedOnly: true }, this.online);
  }
  reserveOn(model: string, hiveId: string, workerId: string, ttlMs: number) {
    return this.index.reserveOn(hiveId, workerId, model, ttlMs, this.online);
  }
  standingFor(model: string, hiveId: string, workerId: string) {
    return this.index.standingFor(hiveId, workerId, model, this.online);
  }
  leastLoad(model: string) {
    return this.index.leastLoad(model, this.online);
  }
  release(reservationId: string, success: boolean): void {
    this.index.release(reservationId, success);
  }
  reportFailure(workerId: string): void {
    this.index.reportFailure(workerId);
  }
  modelLoaded(): boolean {
    return true;
  }
  onlineModels(): Map<string, number> {
    return new Map();
  }
  onChange(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  private emit(event: RegistryEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

describe('the slot queue with affinity, over a real scheduling index', () => {
  const PROMPT_A = { messages: [{ role: 'system', content: 'A'.repeat(600) }, { role: 'user', content: 'hi' }] };
  const PROMPT_B = { messages: [{ role: 'system', content: 'B'.repeat(600) }, { role: 'user', content: 'hi' }] };
  let scheduler: IndexScheduler;
  let affinity: PrefixAffinity;
  let queue: SlotQueue;
  let stop: () => void;
  beforeEach(() => {
    scheduler = new IndexScheduler();
    affinity = new PrefixAffinity({ blockBytes: 256, cacheKeys: 1_000, slack: 0.25 });
    stop = scheduler.onChange((event) => affinity.registryChanged(event));
    queue = new SlotQueue(scheduler, 30_000, () => scheduler.clock.now(), affinity);
    scheduler.hive('h', ['w1', 'w2', 'w3', 'w4'].map((id) => makeWorker(id, { modelId: MODEL, maxConcurrency: 4 })));
  });
  afterEach(() => {
    queue.close();
    stop();
  });

  /** The prompt's keys, as the gateway computes them from the body it received. */
  function keysOf(prompt: object): number[] {
    return affinity.keysOf('chat', MODEL, prompt, Buffer.byteLength(JSON.stringify(prompt)));
  }

  async function take(prompt: object): Promise<{ worker: string; blocks: number | undefined; reservationId: string }> {
    const acquired = await queue.acquire(MODEL, 1_000, undefined, keysOf(prompt));
    if (acquired.kind !== 'held') throw new Error(`no slot: ${acquired.kind}`);
    return { worker: acquired.held.entry.worker.workerId, blocks: acquired.held.prefixBlocks, reservationId: acquired.held.reservationId };
  }

  test('requests with the same prefix stick to one worker; another prefix goes by load', async () => {
    const first = await take(PROMPT_A);
    expect(first.blocks).toBe(0);
    scheduler.release(first.reservationId, true);
    const again = await take(PROMPT_A);
    expect(again).toMatchObject({ worker: first.worker, blocks: 2 });
    // While `again` holds a slot of w1, prompt B goes to the least loaded, another worker.
    const other = await take(PROMPT_B);
    expect(other.worker).not.toBe(first.worker);
    expect(other.blocks).toBe(0);
  });

  test('affinity yields under load: past the slack, the least loaded worker takes the request and learns the prefix', async () => {
    const held = [await take(PROMPT_A)];
    // The sticky worker holds 2 of 4 slots (0.5) against 0 elsewhere: over the 0.25 slack.
    held.push(await take(PROMPT_A));
    expect(held.map((h) => h.worker)).toEqual([held[0]?.worker, held[0]?.worker]);
    const third = await take(PROMPT_A);
    expect(third.worker).not.toBe(held[0]?.worker);
    expect(third.blocks).toBe(0);
    // Both workers now served the prefix: the next goes to the less loaded of them.
    const fourth = await take(PROMPT_A);
    expect(fourth).toMatchObject({ worker: third.worker, blocks: 2 });
  });

  test('reported engine load counts too: a worker whose engine runs requests of others loses its affinity', async () => {
    const first = await take(PROMPT_A);
    scheduler.release(first.reservationId, true);
    scheduler.hive(
      'h',
      ['w1', 'w2', 'w3', 'w4'].map((id) =>
        makeWorker(id, { modelId: MODEL, maxConcurrency: 4, ...(id === first.worker ? { requestsRunning: 2, requestsWaiting: 1 } : {}) }),
      ),
    );
    const next = await take(PROMPT_A);
    expect(next.worker).not.toBe(first.worker);
  });

  test('a worker whose hive went offline, or that changed model, is not preferred again', async () => {
    const first = await take(PROMPT_A);
    scheduler.release(first.reservationId, true);
    scheduler.offline('h');
    // Back at once with the same workers: a cold start for the affinity.
    scheduler.hive('h', ['w1', 'w2', 'w3', 'w4'].map((id) => makeWorker(id, { modelId: MODEL, maxConcurrency: 4 })));
    expect((await take(PROMPT_A)).blocks).toBe(0);
  });

  test('no worker is ever given more than its slots, whatever the prefixes', async () => {
    const held: string[] = [];
    for (let i = 0; i < 16; i++) held.push((await take(i % 2 === 0 ? PROMPT_A : PROMPT_B)).worker);
    const counts = new Map<string, number>();
    for (const worker of held) counts.set(worker, (counts.get(worker) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(4);
    const waiting = queue.acquire(MODEL, 1_000, undefined, keysOf(PROMPT_A));
    scheduler.clock.advance(30_000);
    // Every reservation expired on the injected clock: the waiter gets a slot at the next wake.
    queue.wake();
    expect((await waiting).kind).toBe('held');
  });

  test('a body without prompt text (missing messages, non-text parts only) goes by load alone', async () => {
    expect(keysOf({})).toEqual([]);
    expect(keysOf({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x'.repeat(600) } }] }] })).toEqual([]);
    // A body smaller than one block is not read: its prompt text could not fill a block.
    expect(affinity.keysOf('chat', MODEL, PROMPT_A, 255)).toEqual([]);
    expect(keysOf(PROMPT_A)).toHaveLength(2);
    const held = await take({});
    expect(held.blocks).toBe(0);
  });
});
