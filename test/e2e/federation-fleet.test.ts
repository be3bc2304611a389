// A federation of three real queens (`serve --etcd`) over a real etcd, fed by real agents: every lookup and
// scheduling RPC answers alike on every queen, Watch on one queen shows what happens on the others, and a hive's
// stream opened on another queen supersedes the old one, which ends with ABORTED.
import { status } from '@grpc/grpc-js';
import { Backend, WatchEventType, type WatchEvent } from '../../gen/hive/v1/registry_pb';
import { expectStatus } from '../helpers/client';
import { EtcdProcess, etcdAvailable } from '../helpers/etcd-process';
import { allEqual, comparable, type FileWorker, ownersOn, QueenFleet, waitAgree } from '../helpers/queen-fleet';
import type { QueenProcess } from '../helpers/queen-process';
import { waitFor } from '../helpers/wait-for';
import { summaries, RawWatch } from '../helpers/watch-events';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

jest.setTimeout(60_000);

if (!etcdAvailable()) throw new Error('these tests need etcd (apt-get install etcd-server)');

let etcd: EtcdProcess;
let fleet: QueenFleet | undefined;
const watches: RawWatch[] = [];
let prefixes = 0;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd?.stop();
});
afterEach(async () => {
  for (const watch of watches.splice(0)) watch.close();
  await fleet?.close();
  fleet = undefined;
});

async function startFleet(): Promise<QueenFleet> {
  prefixes += 1;
  fleet = await QueenFleet.start(etcd, `/e2e-fleet-${prefixes}/`);
  return fleet;
}

/** Asks every queen the same question; fails naming the queens that answered differently. */
async function sameOnEvery<T>(queens: readonly QueenProcess[], what: string, ask: (queen: QueenProcess) => Promise<T>): Promise<unknown> {
  const answers = await Promise.all(queens.map(async (queen) => comparable(await ask(queen))));
  if (!allEqual(answers)) {
    throw new Error(`${what} differs between queens:\n${queens.map((q, i) => `${q.id}: ${JSON.stringify(answers[i])}`).join('\n')}`);
  }
  return answers[0];
}

const LLAMA = 'meta/llama-3-8b';

test('every lookup and scheduling RPC answers the same on every queen, whichever queen owns the hive', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  const hives: Record<string, { queen: QueenProcess; workers: FileWorker[] }> = {
    'hive-a': {
      queen: q1,
      workers: [
        { workerId: 'a-0', modelId: LLAMA, gpuPercent: 40, vramBytes: String(16 * 2 ** 30) },
        { workerId: 'a-1', modelId: 'qwen/qwen2-7b', state: 'WORKER_STATUS_BUSY', gpuPercent: 90 },
      ],
    },
    'hive-b': {
      queen: q2,
      workers: [
        { workerId: 'b-0', modelId: LLAMA, backend: 'BACKEND_ROCM', gpuPercent: 10 },
        { workerId: 'b-1', modelId: 'mistral/7b', state: 'WORKER_STATUS_LOADING', backend: 'BACKEND_CPU' },
      ],
    },
    'hive-c': {
      queen: q3,
      workers: [
        { workerId: 'c-0', modelId: LLAMA, gpuPercent: 25 },
        { workerId: 'c-1', backend: 'BACKEND_METAL' },
      ],
    },
    // Its agent stops: an offline hive, still listed, its idle llama worker never picked.
    'hive-d': { queen: q1, workers: [{ workerId: 'd-0', modelId: LLAMA, gpuPercent: 5 }] },
  };
  const agents = Object.entries(hives).map(([hiveId, { queen, workers }]) => ({
    hiveId,
    agent: fleet!.fileAgent(hiveId, workers, [queen]),
  }));
  await waitAgree(queens, 'four hives online', 15_000, (f) => f.length === 7 && f.every((line) => line.includes(' online ')));
  const dAgent = agents.find((a) => a.hiveId === 'hive-d')!.agent;
  expect(await fleet!.stopAgent(dAgent)).toBe(0);
  const settled = await waitAgree(queens, 'hive-d offline', 10_000, (f) => f.filter((line) => line.includes(' offline ')).length === 1);
  expect(settled).toEqual([
    'hive-a/a-0 online @q1',
    'hive-a/a-1 online @q1',
    'hive-b/b-0 online @q2',
    'hive-b/b-1 online @q2',
    'hive-c/c-0 online @q3',
    'hive-c/c-1 online @q3',
    'hive-d/d-0 offline @q1',
  ]);

  // Hive-level answers.
  expect(await sameOnEvery(queens, 'ListAllHives', (q) => q.rpc.listAllHives({}))).toEqual({ hiveIds: ['hive-a', 'hive-b', 'hive-c', 'hive-d'] });
  expect(await sameOnEvery(queens, 'ListActiveHives', (q) => q.rpc.listActiveHives({}))).toEqual({ hiveIds: ['hive-a', 'hive-b', 'hive-c'] });
  expect(await sameOnEvery(queens, 'HiveCount', (q) => q.rpc.hiveCount({}))).toEqual({ count: 4 });
  expect(await sameOnEvery(queens, 'TotalWorkerCount', (q) => q.rpc.totalWorkerCount({}))).toEqual({ count: 7 });
  for (const hiveId of Object.keys(hives)) {
    const state = (await sameOnEvery(queens, `GetHiveState ${hiveId}`, (q) => q.rpc.getHiveState({ hiveId }))) as {
      hive: { queenId: string; online: boolean; workerCount: number; workers: { workerId: string }[] };
    };
    expect(state.hive.queenId).toBe(hives[hiveId]!.queen.id);
    expect(state.hive.online).toBe(hiveId !== 'hive-d');
    expect(state.hive.workers.map((w) => w.workerId)).toEqual(hives[hiveId]!.workers.map((w) => w.workerId));
    await sameOnEvery(queens, `GetAvailableResources ${hiveId}`, (q) => q.rpc.getAvailableResources({ hiveId }));
    await sameOnEvery(queens, `GetWorkerCount ${hiveId}`, (q) => q.rpc.getWorkerCount({ hiveId }));
    await sameOnEvery(queens, `IsHiveOnline ${hiveId}`, (q) => q.rpc.isHiveOnline({ hiveId }));
    await sameOnEvery(queens, `GetWorkersOnHive ${hiveId}`, (q) => q.rpc.getWorkersOnHive({ hiveId }));
  }

  // Worker-level answers.
  const all = (await sameOnEvery(queens, 'ListAllWorkers', (q) => q.rpc.listAllWorkers({}))) as {
    workers: { hiveId: string; queenId: string; hiveOnline: boolean; worker: { workerId: string } }[];
  };
  expect(all.workers.map((e) => `${e.hiveId}/${e.worker.workerId}@${e.queenId}`)).toEqual([
    'hive-a/a-0@q1',
    'hive-a/a-1@q1',
    'hive-b/b-0@q2',
    'hive-b/b-1@q2',
    'hive-c/c-0@q3',
    'hive-c/c-1@q3',
    'hive-d/d-0@q1',
  ]);
  for (const { worker } of all.workers) {
    const got = (await sameOnEvery(queens, `GetWorker ${worker.workerId}`, (q) => q.rpc.getWorker({ workerId: worker.workerId }))) as {
      entry: { worker: { workerId: string } };
    };
    expect(got.entry.worker.workerId).toBe(worker.workerId);
    await sameOnEvery(queens, `GetWorkerUrl ${worker.workerId}`, (q) => q.rpc.getWorkerUrl({ workerId: worker.workerId }));
  }
  const ids = (answer: unknown): string[] =>
    (answer as { workers: { worker: { workerId: string } }[] }).workers.map((e) => e.worker.workerId);
  expect(ids(await sameOnEvery(queens, 'FindWorkersByModel', (q) => q.rpc.findWorkersByModel({ modelId: LLAMA })))).toEqual(['a-0', 'b-0', 'c-0']);
  expect(
    ids(await sameOnEvery(queens, 'FindWorkersByModel offline', (q) => q.rpc.findWorkersByModel({ modelId: LLAMA, includeOffline: true }))),
  ).toEqual(['a-0', 'b-0', 'c-0', 'd-0']);
  expect(ids(await sameOnEvery(queens, 'FindWorkersByBackend CUDA', (q) => q.rpc.findWorkersByBackend({ backend: Backend.CUDA })))).toEqual([
    'a-0',
    'a-1',
    'c-0',
  ]);
  expect(ids(await sameOnEvery(queens, 'FindWorkersByBackend ROCm', (q) => q.rpc.findWorkersByBackend({ backend: Backend.ROCM })))).toEqual(['b-0']);
  expect(ids(await sameOnEvery(queens, 'FindIdleWorkers', (q) => q.rpc.findIdleWorkers({})))).toEqual(['a-0', 'b-0', 'c-0', 'c-1']);
  expect(ids(await sameOnEvery(queens, 'FindIdleWorkers offline', (q) => q.rpc.findIdleWorkers({ includeOffline: true })))).toEqual([
    'a-0',
    'b-0',
    'c-0',
    'c-1',
    'd-0',
  ]);
  // The idle llama worker with the lowest GPU load, on q2's hive, whichever queen is asked.
  const best = (await sameOnEvery(queens, 'FindBestWorkerForModel', (q) => q.rpc.findBestWorkerForModel({ modelId: LLAMA }))) as {
    entry: { hiveId: string; queenId: string; worker: { workerId: string } };
    modelLoaded: boolean;
  };
  expect([best.entry.worker.workerId, best.entry.queenId, best.modelLoaded]).toEqual(['b-0', 'q2', true]);

  // ListQueens: the same list everywhere, `self` marking the queen that answers.
  const listed = await Promise.all(queens.map(async (q) => (await q.rpc.listQueens({})).queens));
  for (const [i, list] of listed.entries()) {
    expect(list.map((q) => [q.queenId, q.address, q.hives, q.self])).toEqual([
      ['q1', q1.address, 1, i === 0],
      ['q2', q2.address, 1, i === 1],
      ['q3', q3.address, 1, i === 2],
    ]);
  }
  expect(allEqual(listed.map((list) => list.map((q) => comparable({ ...q, self: undefined }))))).toBe(true);
});

test('Watch on one queen shows hives joining, changing, going offline and removed through the others', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  const watch = new RawWatch(q3.address, {});
  watches.push(watch);
  await watch.takeSynced();
  const is = (type: WatchEventType, subject: string) => (event: WatchEvent) =>
    event.type === type && (event.worker === undefined ? event.hiveId : `${event.hiveId}/${event.worker.workerId}`) === subject;

  // A hive joins on q1.
  const agent = fleet!.fileAgent('hive-w', [{ workerId: 'w-0', modelId: LLAMA }], [q1]);
  await watch.takeThrough(is(WatchEventType.HIVE_ONLINE, 'hive-w'), 10_000);
  const joined = await watch.takeThrough(is(WatchEventType.WORKER_UPSERTED, 'hive-w/w-0'));
  expect(joined.at(-1)?.hiveOnline).toBe(true);

  // Its workers change (the agent follows its file): the final state reaches q3's watchers.
  fleet!.writeWorkersFile('hive-w', [
    { workerId: 'w-0', modelId: LLAMA, state: 'WORKER_STATUS_BUSY' },
    { workerId: 'w-1', modelId: 'qwen/qwen2-7b' },
  ]);
  await watch.until(
    () => {
      const upserts = watch.events.filter((e) => e.type === WatchEventType.WORKER_UPSERTED && e.hiveId === 'hive-w');
      const last = (id: string) => upserts.filter((e) => e.worker?.workerId === id).at(-1)?.worker;
      return last('w-0')?.state === 2 /* BUSY */ && last('w-1') !== undefined;
    },
    'w-0 busy and w-1 upserted',
    10_000,
  );

  // A second hive on q2 goes offline when its agent stops.
  const other = fleet!.fileAgent('hive-x', [{ workerId: 'x-0' }], [q2]);
  await watch.takeThrough(is(WatchEventType.HIVE_ONLINE, 'hive-x'), 10_000);
  expect(await fleet!.stopAgent(other)).toBe(0);
  await watch.takeThrough(is(WatchEventType.HIVE_OFFLINE, 'hive-x'), 5_000);

  // RemoveHive through q2 of the hive q1 owns: removed on q3's watch, and q1 ends the agent's stream (ABORTED).
  expect(await q2.rpc.removeHive({ hiveId: 'hive-w' })).toMatchObject({ removed: true });
  await watch.takeThrough(is(WatchEventType.HIVE_REMOVED, 'hive-w'), 5_000);
  expect(await agent.exited).toBe(1);
  // Nothing of hive-w after its removal; the watch stays open.
  await waitAgree(queens, 'hive-w gone', 5_000, (f) => f.every((line) => !line.startsWith('hive-w/')));
  expect(summaries(watch.events.slice(watch.events.findIndex(is(WatchEventType.HIVE_REMOVED, 'hive-w')) + 1)).filter((s) => s.includes('hive-w'))).toEqual([]);
  expect(watch.ended).toBe(false);
});

test('a stream for the same hive opened on another queen supersedes the old one, which ends ABORTED', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];

  // Streams held by the test: the old one's end is seen exactly.
  const first = q1.client.heartbeat();
  expect((await first.send(snapshotPayload('hive-s', 1, [wireWorker('s-0')]))).accepted).toBe(true);
  await waitFor('hive-s owned by q1 everywhere', () => ownersOn(queens, 'hive-s'), (o) => o.every((x) => x === 'q1'), 5_000);
  const second = q2.client.heartbeat();
  expect((await second.send(snapshotPayload('hive-s', 1, [wireWorker('s-0')]))).accepted).toBe(true);
  expectStatus(await first.status, status.ABORTED, /q2/);
  await waitFor('hive-s owned by q2 everywhere', () => ownersOn(queens, 'hive-s'), (o) => o.every((x) => x === 'q2'), 5_000);
  expect((await second.send(tickPayload('hive-s', 2))).accepted).toBe(true);

  // Real agents: the superseded one stops (exit 1) instead of fighting; the new one keeps the hive.
  const old = fleet!.simulatedAgent('twin', 1, [LLAMA], [q1]);
  await waitFor('twin owned by q1 everywhere', () => ownersOn(queens, 'twin'), (o) => o.every((x) => x === 'q1'), 10_000);
  const taking = fleet!.simulatedAgent('twin', 1, [LLAMA], [q3]);
  expect(await old.exited).toBe(1);
  await waitFor('twin owned by q3 everywhere', () => ownersOn(queens, 'twin'), (o) => o.every((x) => x === 'q3'), 10_000);
  expect(taking.child.exitCode).toBeNull();
  await waitAgree(queens, 'twin on q3, hive-s on q2', 5_000, (f) =>
    JSON.stringify(f) === JSON.stringify(['hive-s/s-0 online @q2', 'twin/twin-w0 online @q3']),
  );
});
