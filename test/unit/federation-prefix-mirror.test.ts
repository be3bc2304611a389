// A mirror whose listing waits to retry (etcd down while a queen joins) must not leave its caller waiting for ever
// when a relist or stop ends that wait: start() resolves with the relist's listing, or at once on stop.
import pino from 'pino';
import { EtcdUnavailableError, type EtcdEntry, type EtcdListing, type EtcdStore } from '../../src/federation/etcd-store';
import { PrefixMirror } from '../../src/federation/prefix-mirror';

const PREFIX = '/p/hives/';

function entry(key: string): EtcdEntry {
  return { key, value: Buffer.from('{}'), createRevision: 5n, modRevision: 5n, lease: '0' };
}

/** An etcd whose listings fail while `down`; counts them. Watches start and never deliver. */
class FakeStore {
  down = true;
  listings = 0;
  readonly store: EtcdStore;

  constructor() {
    const unused = (): never => {
      throw new Error('not used by the mirror');
    };
    this.store = {
      endpoints: ['fake'],
      timeoutMs: 1_000,
      list: async (prefix: string): Promise<EtcdListing> => {
        this.listings += 1;
        if (this.down) throw new EtcdUnavailableError('etcd down');
        return { revision: 5n, entries: [entry(`${prefix}h1`)] };
      },
      watch: () => ({ cancel: () => undefined }),
      get: unused,
      txn: unused,
      put: unused,
      delete: unused,
      grantLease: unused,
      revokeLease: unused,
      keepAlive: unused,
      close: () => undefined,
    };
  }
}

/** Resolves with how `promise` settled, or 'pending' after `ms` of real time. */
async function within(ms: number, promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  const outcome = await Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    timeout,
  ]);
  clearTimeout(timer);
  return outcome;
}

/** Lets the failed listing reach its retry wait (a rejection and a few promise hops). */
async function untilRetryWait(etcd: FakeStore, listings: number): Promise<void> {
  while (etcd.listings < listings) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

describe('a mirror whose listing waits to retry', () => {
  let mirror: PrefixMirror | undefined;
  afterEach(() => mirror?.stop());

  test('relist during the wait: start() resolves once the relist has listed, without waiting out the retry', async () => {
    const etcd = new FakeStore();
    const resets: string[][] = [];
    mirror = new PrefixMirror(etcd.store, PREFIX, { reset: (entries) => resets.push(entries.map((e) => e.key)), put: () => undefined, delete: () => undefined }, pino({ level: 'silent' }));
    const started = mirror.start();
    await untilRetryWait(etcd, 1);
    etcd.down = false;
    const relisted = mirror.relist();
    // The first retry wait is 200 ms: both settle well before it would have ended.
    expect(await within(100, started)).toBe('resolved');
    expect(await within(100, relisted)).toBe('resolved');
    expect(resets).toEqual([[`${PREFIX}h1`]]);
    expect(etcd.listings).toBe(2);
  });

  test('start() waits for the relist that superseded it, while that one is still retrying', async () => {
    const etcd = new FakeStore();
    let resets = 0;
    mirror = new PrefixMirror(etcd.store, PREFIX, { reset: () => (resets += 1), put: () => undefined, delete: () => undefined }, pino({ level: 'silent' }));
    const started = mirror.start();
    await untilRetryWait(etcd, 1);
    const relisted = mirror.relist();
    await untilRetryWait(etcd, 2);
    expect(await within(50, started)).toBe('pending');
    etcd.down = false;
    expect(await within(1_000, started)).toBe('resolved');
    expect(await within(100, relisted)).toBe('resolved');
    expect(resets).toBe(1);
  });

  test('stop during the wait: start() resolves at once, and etcd is not asked again', async () => {
    const etcd = new FakeStore();
    let resets = 0;
    mirror = new PrefixMirror(etcd.store, PREFIX, { reset: () => (resets += 1), put: () => undefined, delete: () => undefined }, pino({ level: 'silent' }));
    const started = mirror.start();
    await untilRetryWait(etcd, 1);
    mirror.stop();
    expect(await within(100, started)).toBe('resolved');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([etcd.listings, resets]).toEqual([1, 0]);
  });
});
