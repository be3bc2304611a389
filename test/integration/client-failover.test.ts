// The typed client over a list of queens, against real servers: a dead queen first costs one refused connection,
// a live queen's error is its answer, and watch() moves to the next queen when its queen drains.
import { createServer } from 'node:net';
import { status } from '@grpc/grpc-js';
import { ClientError } from '../../src/client/client-error';
import { AllQueensFailedError } from '../../src/client/queen-failover';
import { createRegistryClient, type RegistryClient } from '../../src/client/registry-client';
import type { WatchUpdate } from '../../src/client/watch-stream';
import { TestQueen } from '../helpers/queen';
import { within } from '../helpers/watch-events';
import { wireWorker } from '../helpers/wire-builders';

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Pulls updates until one matches `wanted`; every pull bounded. Returns the updates pulled, the match last. */
async function pullUntil(iterator: AsyncIterator<WatchUpdate>, wanted: (u: WatchUpdate) => boolean, what: string): Promise<WatchUpdate[]> {
  const pulled: WatchUpdate[] = [];
  for (;;) {
    const next = await within(iterator.next(), 10_000, what);
    if (next.done === true) throw new Error(`the iterator ended while waiting for ${what}`);
    pulled.push(next.value);
    if (wanted(next.value)) return pulled;
  }
}

describe('RegistryClient over several queens', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const queen = async (): Promise<TestQueen> => {
    const q = await TestQueen.start();
    cleanups.push(() => q.stop());
    return q;
  };
  const client = (addresses: readonly string[]): RegistryClient => {
    const c = createRegistryClient(addresses, { deadlineMs: 2_000 });
    cleanups.push(() => c.close());
    return c;
  };

  it('a dead queen first: the call goes on to the live one, which then stays first; its NOT_FOUND is final', async () => {
    const live = await queen();
    await live.connectHive('hive-x', [wireWorker('x-0')]);
    const dead = `127.0.0.1:${await closedPort()}`;
    const c = client([dead, live.address]);
    expect(c.address).toBe(dead);
    expect(await c.listAllHives()).toEqual(['hive-x']);
    expect(c.address).toBe(live.address);
    const error = await c.getHiveState('no-such-hive').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).not.toBeInstanceOf(AllQueensFailedError);
    expect((error as ClientError).code).toBe(status.NOT_FOUND);
  });

  it('two dead queens: AllQueensFailedError naming both', async () => {
    const dead = [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`];
    const error = await client(dead).hiveCount().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AllQueensFailedError);
    expect((error as AllQueensFailedError).failures.map((f) => [f.queen, f.error.code])).toEqual([
      [dead[0], status.UNAVAILABLE],
      [dead[1], status.UNAVAILABLE],
    ]);
  });

  it('watch(): starts past a dead queen, and when its queen drains moves to the next one (RESYNC, its snapshot)', async () => {
    const first = await queen();
    const second = await queen();
    await first.connectHive('on-first');
    await second.connectHive('on-second');
    const dead = `127.0.0.1:${await closedPort()}`;
    const c = client([dead, first.address, second.address]);
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const iterator = c.watch({ signal: controller.signal, hivesOnly: true, backoff: { baseMs: 10, capMs: 50 } })[Symbol.asyncIterator]();
    const snapshot = await pullUntil(iterator, (u) => u.type === 'synced', 'the first SYNCED');
    expect(snapshot.filter((u) => u.type === 'hive_online').map((u) => u.hiveId)).toEqual(['on-first']);

    await first.stop();
    const after = await pullUntil(iterator, (u) => u.type === 'synced', 'SYNCED from the second queen');
    expect(after.map((u) => [u.type, u.hiveId]).filter(([type]) => type !== 'hive_offline')).toEqual([
      ['resync', ''],
      ['hive_online', 'on-second'],
      ['synced', ''],
    ]);
    expect(c.address).toBe(second.address);
  });
});
