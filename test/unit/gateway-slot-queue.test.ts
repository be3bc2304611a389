// The gateway's queue of requests waiting for a slot: first come first served per model, timeouts, aborts, and
// 'not_loaded' only when waiting could not help. Driven by a fake scheduler with a given number of free slots.
import type { RegistryEvent } from '../../src/registry/types';
import type { Pick } from '../../src/scheduler/pick-worker';
import { SlotQueue, type GatewayScheduler } from '../../src/gateway/slot-queue';
import { makeWorker } from '../helpers/domain-builders';

class FakeScheduler implements GatewayScheduler {
  free = new Map<string, number>();
  loaded = new Set<string>();
  released: [string, boolean][] = [];
  private listeners = new Set<(event: RegistryEvent) => void>();
  private next = 0;

  reserve(model: string): Pick {
    const free = this.free.get(model) ?? 0;
    if (free <= 0) return { kind: 'no_capacity', eligible: 1, busy: 1 };
    this.free.set(model, free - 1);
    const reservationId = `r${++this.next}`;
    return {
      kind: 'picked',
      entry: { hiveId: 'h', worker: makeWorker(`w-${model}`, { modelId: model }), hiveOnline: true },
      modelLoaded: true,
      reservation: { reservationId, hiveId: 'h', workerId: `w-${model}`, expiresAt: 0 },
    };
  }
  // Single-worker calls serve prefix affinity, which this queue has not: no worker is ever preferred.
  reserveOn(): undefined {
    return undefined;
  }
  standingFor(): undefined {
    return undefined;
  }
  leastLoad(): undefined {
    return undefined;
  }
  release(reservationId: string, success: boolean): void {
    this.released.push([reservationId, success]);
  }
  reportFailure(): void {}
  modelLoaded(model: string): boolean {
    return this.loaded.has(model);
  }
  onlineModels(): Map<string, number> {
    return new Map();
  }
  onChange(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  /** A slot of `model` came free and the registry changed. */
  freeSlot(model: string): void {
    this.free.set(model, (this.free.get(model) ?? 0) + 1);
    for (const listener of this.listeners) listener({ type: 'hive_online', revision: 1, hiveId: 'h', hiveOnline: true });
  }
}

let scheduler: FakeScheduler;
let queue: SlotQueue;
beforeEach(() => {
  scheduler = new FakeScheduler();
  scheduler.loaded.add('m');
  queue = new SlotQueue(scheduler, 60_000);
});
afterEach(() => queue.close());

test('a free slot is held at once, without waiting', async () => {
  scheduler.free.set('m', 1);
  expect(await queue.acquire('m', 1_000)).toMatchObject({ kind: 'held', waitedMs: 0, held: { reservationId: 'r1' } });
  expect(queue.size).toBe(0);
});

test('waiters are served in arrival order as slots come free; a newcomer does not pass them', async () => {
  const order: string[] = [];
  const waiters = ['first', 'second', 'third'].map((name) => queue.acquire('m', 5_000).then((a) => order.push(`${name}:${a.kind}`)));
  expect(queue.size).toBe(3);
  scheduler.freeSlot('m');
  await Promise.resolve();
  // A slot is free again, but the queue is not empty: the newcomer queues behind the two still waiting.
  scheduler.free.set('m', 0);
  const late = queue.acquire('m', 5_000).then((a) => order.push(`late:${a.kind}`));
  for (let i = 0; i < 3; i++) scheduler.freeSlot('m');
  await Promise.all([...waiters, late]);
  expect(order).toEqual(['first:held', 'second:held', 'third:held', 'late:held']);
});

test('models queue apart: a slot of one never serves a waiter of another', async () => {
  scheduler.loaded.add('other');
  const waiting = queue.acquire('m', 5_000);
  const other = queue.acquire('other', 5_000);
  scheduler.freeSlot('other');
  expect(await other).toMatchObject({ kind: 'held' });
  expect(queue.size).toBe(1);
  scheduler.freeSlot('m');
  expect(await waiting).toMatchObject({ kind: 'held' });
});

test('no slot within the timeout: timeout, and the waiter is gone', async () => {
  const answer = await queue.acquire('m', 20);
  expect(answer.kind).toBe('timeout');
  expect(queue.size).toBe(0);
});

test('an abort while waiting: aborted at once, and the slot that comes later goes to nobody', async () => {
  const abort = new AbortController();
  const waiting = queue.acquire('m', 5_000, abort.signal);
  abort.abort();
  expect(await waiting).toEqual({ kind: 'aborted' });
  scheduler.freeSlot('m');
  expect(scheduler.free.get('m')).toBe(1);
  expect(await queue.acquire('m', 10, AbortSignal.abort())).toEqual({ kind: 'aborted' });
});

test("a model no online worker has: not_loaded at once, since waiting would not help", async () => {
  expect(await queue.acquire('nowhere', 5_000)).toEqual({ kind: 'not_loaded' });
  expect(queue.size).toBe(0);
});

test('close answers every waiter at once, and every request after it', async () => {
  const waiting = queue.acquire('m', 60_000);
  queue.close();
  expect((await waiting).kind).toBe('closed');
  scheduler.free.set('m', 1);
  expect((await queue.acquire('m', 60_000)).kind).toBe('closed');
});
