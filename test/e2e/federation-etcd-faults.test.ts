// etcd itself failing under a federation of three real queens: paused (SIGSTOP, a partition of every queen from
// it) and resumed, then killed and started again on the same data. Each queen keeps serving its own hives,
// answers catalog writes with UNAVAILABLE, reports NOT_SERVING once cut off longer than its lease TTL and shows the
// others' hives offline; when etcd is back everything rejoins by itself, and no queen ever exits. A hive that
// moves to another queen while etcd is away stays there once it is back.
import { status } from '@grpc/grpc-js';
import type { AgentProcess } from '../helpers/cli-process';
import { expectRpcError } from '../helpers/client';
import { EtcdProcess, etcdAvailable } from '../helpers/etcd-process';
import { ownerOn, ownersOn, QueenFleet, waitAgree } from '../helpers/queen-fleet';
import { ETCD_TIMEOUT_MS, LEASE_TTL_MS, type QueenProcess } from '../helpers/queen-process';
import { holdsFor, waitFor } from '../helpers/wait-for';

jest.setTimeout(90_000);

if (!etcdAvailable()) throw new Error('these tests need etcd (apt-get install etcd-server)');

// Each test pauses or kills etcd: each has its own.
let etcd: EtcdProcess | undefined;
let fleet: QueenFleet | undefined;
/** The agent of each queen's own hive (own-1 on q1, ...). */
let ownAgents: AgentProcess[] = [];

afterEach(async () => {
  etcd?.resume();
  await fleet?.close();
  fleet = undefined;
  await etcd?.stop();
  etcd = undefined;
});

/** Three queens, each with one hive of its own (an agent that knows only it): own-1 on q1, own-2 on q2, own-3 on q3. */
async function startFleet(): Promise<QueenFleet> {
  etcd = await EtcdProcess.start();
  fleet = await QueenFleet.start(etcd, '/e2e-etcd-faults/');
  ownAgents = fleet.queens.map((queen, i) => fleet!.fileAgent(`own-${i + 1}`, [{ workerId: `own-${i + 1}-w0` }], [queen]));
  await waitAgree(fleet.queens, 'three hives online', 15_000, (f) => f.join() === expectedFleet().join());
  return fleet;
}

function expectedFleet(extra: string[] = []): string[] {
  return ['own-1/own-1-w0 online @q1', 'own-2/own-2-w0 online @q2', 'own-3/own-3-w0 online @q3', ...extra].sort();
}

async function queenIds(queen: QueenProcess): Promise<string> {
  return (await queen.rpc.listQueens({})).queens.map((q) => q.queenId).join(',');
}

test('etcd paused: each queen serves its own hives, writes answer UNAVAILABLE, health NOT_SERVING past the TTL; after resume all rejoin', async () => {
  const { queens } = await startFleet();
  etcd!.pause();
  const pausedAt = Date.now();

  // Catalog writes: UNAVAILABLE within the etcd timeout (plus a loaded machine's slack), on every queen.
  const writes = await Promise.all(
    queens.map(async (queen) => {
      const started = Date.now();
      await expectRpcError(queen.catalog.registerHive({ hiveId: `during-pause-${queen.id}` }), status.UNAVAILABLE, /etcd/);
      return Date.now() - started;
    }),
  );
  for (const ms of writes) expect(ms).toBeLessThanOrEqual(ETCD_TIMEOUT_MS + 1_500);

  // Past the lease TTL since etcd last answered (a keep-alive, every third of the TTL): NOT_SERVING, not before.
  const notServingMs = await Promise.all(
    queens.map(async (queen) => {
      await waitFor(`${queen.id} NOT_SERVING`, () => queen.health(), (h) => h === 'NOT_SERVING', LEASE_TTL_MS + 5_000, 50);
      return Date.now() - pausedAt;
    }),
  );
  for (const ms of notServingMs) expect(ms).toBeGreaterThanOrEqual(LEASE_TTL_MS / 2);
  // Meanwhile the others' hives went offline on each queen, its own hive stays online and served.
  for (const [i, queen] of queens.entries()) {
    await waitFor(
      `${queen.id} shows only its own hive online`,
      () => Promise.all(['own-1', 'own-2', 'own-3'].map((hiveId) => ownerOn(queen, hiveId))),
      (owners) => owners.every((owner, j) => owner === (i === j ? queen.id : 'offline')),
      3_000,
    );
    expect((await queen.rpc.listAllHives({})).hiveIds).toEqual(['own-1', 'own-2', 'own-3']);
    expect((await queen.rpc.getHiveState({ hiveId: `own-${i + 1}` })).hive).toMatchObject({ online: true, queenId: queen.id });
  }
  expect(queens.every((queen) => queen.running)).toBe(true);

  etcd!.resume();
  const resumedAt = Date.now();
  await Promise.all(queens.map((queen) => waitFor(`${queen.id} SERVING`, () => queen.health(), (h) => h === 'SERVING', LEASE_TTL_MS + 10_000)));
  await waitAgree(queens, 'the whole fleet again', 15_000, (f) => f.join() === expectedFleet().join());
  for (const queen of queens) await waitFor(`${queen.id} lists every queen`, () => queenIds(queen), (ids) => ids === 'q1,q2,q3', 5_000);
  const rejoinedMs = Date.now() - resumedAt;
  // Writes work again, and every queen reads them.
  await queens[1]!.catalog.registerHive({ hiveId: 'after-pause' });
  for (const queen of queens) {
    await waitFor(`after-pause in ${queen.id}'s catalog`, () => queen.catalog.getCatalogHive({ hiveId: 'after-pause' }), () => true, 2_000);
  }
  for (const queen of queens) {
    expect(queen.running).toBe(true);
    expect(queen.unexpectedExits).toEqual([]);
  }
  console.log(
    `etcd paused: writes UNAVAILABLE after ${writes.join(', ')} ms; NOT_SERVING ${notServingMs.join(', ')} ms after the pause; ` +
      `rejoined ${rejoinedMs} ms after resume`,
  );
});

test('etcd killed and started again on its data: queens rejoin by themselves, catch up on what changed meanwhile, never exit', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  await etcd!.kill();
  const downAt = Date.now();
  // While etcd is down: own-1's workers change on q1, and a new hive joins q2.
  fleet!.writeWorkersFile('own-1', [{ workerId: 'own-1-w0' }, { workerId: 'own-1-w1' }]);
  fleet!.fileAgent('late', [{ workerId: 'late-w0' }], [q2]);
  await waitFor('late online on q2', () => ownerOn(q2, 'late'), (o) => o === 'q2', 10_000);
  await waitFor('own-1-w1 on q1', async () => (await q1.rpc.getWorkerCount({ hiveId: 'own-1' })).count, (n) => n === 2, 10_000);
  // Down for longer than the lease TTL.
  await waitFor('q3 NOT_SERVING', () => q3.health(), (h) => h === 'NOT_SERVING', LEASE_TTL_MS + 5_000);

  await etcd!.launch();
  const upAt = Date.now();
  await waitAgree(queens, 'the fleet with the changes made while etcd was down', 20_000, (f) =>
    f.join() === expectedFleet(['own-1/own-1-w1 online @q1', 'late/late-w0 online @q2']).join(),
  );
  await Promise.all(queens.map((queen) => waitFor(`${queen.id} SERVING`, () => queen.health(), (h) => h === 'SERVING', 10_000)));
  for (const queen of queens) await waitFor(`${queen.id} lists every queen`, () => queenIds(queen), (ids) => ids === 'q1,q2,q3', 5_000);
  const rejoinedMs = Date.now() - upAt;
  await q3.catalog.registerHive({ hiveId: 'after-restart' });
  await waitFor('after-restart in q1\'s catalog', () => q1.catalog.getCatalogHive({ hiveId: 'after-restart' }), () => true, 2_000);
  for (const queen of queens) {
    expect(queen.running).toBe(true);
    expect(queen.unexpectedExits).toEqual([]);
  }
  console.log(`etcd down ${upAt - downAt} ms; the queens agreed again ${rejoinedMs} ms after it came back`);
});

test('a hive that moves to another queen while etcd is paused past the lease TTL stays with the new queen once etcd is back', async () => {
  const { queens } = await startFleet();
  const [q1, q2] = queens as [QueenProcess, QueenProcess, QueenProcess];
  etcd!.pause();
  // own-1's agent stops on q1 (offline there) and a new one starts on q2, which accepts it at once.
  expect(await fleet!.stopAgent(ownAgents[0]!)).toBe(0);
  const moved = fleet!.fileAgent('own-1', [{ workerId: 'own-1-w0' }], [q2]);
  await waitFor('own-1 on q2 (as q2 sees it)', () => ownerOn(q2, 'own-1'), (o) => o === 'q2', 10_000);
  await Promise.all(queens.map((queen) => waitFor(`${queen.id} NOT_SERVING`, () => queen.health(), (h) => h === 'NOT_SERVING', LEASE_TTL_MS + 5_000)));
  etcd!.resume();
  await waitAgree(queens, 'own-1 on q2', 15_000, (f) =>
    f.join() === ['own-1/own-1-w0 online @q2', 'own-2/own-2-w0 online @q2', 'own-3/own-3-w0 online @q3'].join(),
  );
  await holdsFor('own-1 on q2 everywhere', () => ownersOn(queens, 'own-1'), (o) => o.every((x) => x === 'q2'), 2_000);
  expect(moved.child.exitCode).toBeNull();
  expect(await ownerOn(q1, 'own-1')).toBe('q2');
});
