// One queen cut off from the federation for longer than its lease TTL. Paused (SIGSTOP: nothing it holds closes,
// it just stops answering, as behind a partition) while its hives move to other queens: when it comes back it must
// not claim them again, its stale streams end with ABORTED and etcd keeps the new owner; a hive nobody took over
// meanwhile is claimed again by it. Cut off from etcd alone (a TCP proxy that drops its link) while it keeps
// serving: it shows the others' hives offline, its own online, and the whole fleet again once its link is back.
import { status } from '@grpc/grpc-js';
import { expectRpcError, expectStatus } from '../helpers/client';
import { EtcdProcess, etcdAvailable } from '../helpers/etcd-process';
import { keepTicking, ownerOn, ownersOn, QueenFleet, waitAgree } from '../helpers/queen-fleet';
import { AGENT_BACKOFF_CAP_MS, LEASE_TTL_MS, type QueenProcess } from '../helpers/queen-process';
import { TcpProxy } from '../helpers/tcp-proxy';
import { holdsFor, waitFor } from '../helpers/wait-for';
import { within } from '../helpers/watch-events';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

jest.setTimeout(90_000);

if (!etcdAvailable()) throw new Error('these tests need etcd (apt-get install etcd-server)');

/** The agent cancels a stream that got no ack for this long (src/agent's default) and moves to the next queen. */
const AGENT_ACK_TIMEOUT_MS = 15_000;

let etcd: EtcdProcess;
let fleet: QueenFleet | undefined;
const stops: (() => void)[] = [];
let proxy: TcpProxy | undefined;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd?.stop();
});
afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  proxy?.heal();
  await fleet?.close();
  fleet = undefined;
  await proxy?.close();
  proxy = undefined;
});

/** The owner recorded in etcd for `hiveId` (the publication's `owner`), or 'absent'. */
async function ownerInEtcd(hiveId: string): Promise<string> {
  const kv = await etcd.get(`${fleet!.prefix}hives/${hiveId}`);
  if (kv === undefined) return 'absent';
  return (JSON.parse(kv.value) as { owner?: string; removedBy?: string }).owner ?? 'removed';
}

test('a queen paused past its lease TTL while its hives move does not claim them back, ends its stale stream, and reclaims the one nobody took', async () => {
  // A heartbeat every second: the agent's ack timeout (15 s) starts sooner after the pause.
  fleet = await QueenFleet.start(etcd, '/e2e-partition/', {
    deferred: ['q2', 'q3'],
    args: ['--heartbeat-interval', '1s', '--offline-after', '4s'],
  });
  const { queens } = fleet;
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  // A real agent over the whole list, started while only q1 runs: it lands on q1 whatever its random start.
  const roaming = fleet.simulatedAgent('roaming', 1, ['meta/llama-3-8b']);
  await waitFor('roaming on q1', () => ownersOn([q1], 'roaming'), (o) => o[0] === 'q1', 10_000);
  await Promise.all([q2.start(), q3.start()]);

  // Two hives whose streams the test holds on q1, ticking as agents do.
  const moving = q1.client.heartbeat();
  expect((await moving.send(snapshotPayload('moving', 1, [wireWorker('moving-0')]))).accepted).toBe(true);
  stops.push(keepTicking(moving, 'moving', 500));
  const staying = q1.client.heartbeat();
  expect((await staying.send(snapshotPayload('staying', 1, [wireWorker('staying-0')]))).accepted).toBe(true);
  stops.push(keepTicking(staying, 'staying', 500));
  await waitAgree(queens, 'three hives on q1', 10_000, (f) =>
    f.join() === ['moving/moving-0 online @q1', 'roaming/roaming-w0 online @q1', 'staying/staying-0 online @q1'].join(),
  );

  q1.pause();
  const pausedAt = Date.now();
  const others = [q2, q3];
  const { ms: offlineMs } = await waitFor(
    "q1's hives offline on q2 and q3",
    async () => [...(await ownersOn(others, 'moving')), ...(await ownersOn(others, 'staying'))],
    (o) => o.every((x) => x === 'offline'),
    LEASE_TTL_MS + 5_000,
    50,
  );
  expect(offlineMs).toBeLessThanOrEqual(LEASE_TTL_MS + 2_000);
  await waitFor('q1 gone from ListQueens on q2', async () => (await q2.rpc.listQueens({})).queens.map((q) => q.queenId).join(), (ids) => ids === 'q2,q3', 3_000);

  // "moving" reconnects to q2 (what its agent would do); "roaming"'s agent moves on by itself after its ack timeout.
  const moved = q2.client.heartbeat();
  expect((await moved.send(snapshotPayload('moving', 10, [wireWorker('moving-0')]))).accepted).toBe(true);
  stops.push(keepTicking(moved, 'moving', 500, 11));
  await waitFor('moving on q2 everywhere but q1', () => ownersOn(others, 'moving'), (o) => o.every((x) => x === 'q2'), 3_000);
  const { value: roamingOwners } = await waitFor(
    'roaming moved to q2 or q3',
    () => ownersOn(others, 'roaming'),
    (o) => (o[0] === 'q2' || o[0] === 'q3') && o.every((x) => x === o[0]),
    AGENT_ACK_TIMEOUT_MS + AGENT_BACKOFF_CAP_MS + 5_000,
  );
  const roamingOwner = roamingOwners[0]!;
  expect(await ownerInEtcd('moving')).toBe('q2');
  expect(await ownerInEtcd('staying')).toBe('absent');
  const pausedMs = Date.now() - pausedAt;

  q1.resume();
  // Its stale stream for "moving" ends ABORTED, naming the queen that has it.
  expectStatus(await within(moving.status, 10_000, "the end of q1's stale stream"), status.ABORTED, /q2/);
  await waitFor('q1 SERVING again', () => q1.health(), (h) => h === 'SERVING', LEASE_TTL_MS + 5_000);
  const expected = [
    'moving/moving-0 online @q2',
    `roaming/roaming-w0 online @${roamingOwner}`,
    // Nobody took it: q1, which still streams it, claims it again.
    'staying/staying-0 online @q1',
  ];
  await waitAgree(queens, 'the moved hives with their new owners, staying back on q1', 10_000, (f) => f.join() === expected.join());
  // And it stays so: q1 never writes the moved hives back.
  await holdsFor(
    'the owners of moving and roaming, on every queen and in etcd',
    async () => [
      ...(await ownersOn(queens, 'moving')),
      ...(await ownersOn(queens, 'roaming')),
      await ownerInEtcd('moving'),
      await ownerInEtcd('roaming'),
    ],
    (o) => o.join() === ['q2', 'q2', 'q2', roamingOwner, roamingOwner, roamingOwner, 'q2', roamingOwner].join(),
    3_000,
  );
  expect(await ownerInEtcd('staying')).toBe('q1');
  expect(staying.ended).toBe(false);
  expect(moved.ended).toBe(false);
  expect(roaming.child.exitCode).toBeNull();
  for (const queen of queens) {
    expect((await queen.rpc.listQueens({})).queens.map((q) => q.queenId)).toEqual(['q1', 'q2', 'q3']);
    expect(queen.unexpectedExits).toEqual([]);
  }
  console.log(`q1 paused ${pausedMs} ms: its hives offline elsewhere after ${offlineMs} ms; roaming moved to ${roamingOwner}`);
});

test("a queen whose link to etcd is cut past its lease TTL shows the others' hives offline, then the whole fleet again, unchanged hives included", async () => {
  proxy = await TcpProxy.start('127.0.0.1', etcd.clientPort);
  fleet = await QueenFleet.start(etcd, '/e2e-cut-link/', { endpoints: { q3: proxy.endpoint } });
  const { queens } = fleet;
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  // Steady hives: their records in etcd do not change while q3 is away.
  fleet.fileAgent('p1', [{ workerId: 'p1-w0' }], [q1]);
  fleet.fileAgent('p3', [{ workerId: 'p3-w0' }], [q3]);
  const whole = ['p1/p1-w0 online @q1', 'p3/p3-w0 online @q3'];
  await waitAgree(queens, 'p1 on q1, p3 on q3', 15_000, (f) => f.join() === whole.join());

  proxy.cut();
  const cutAt = Date.now();
  await waitFor('q3 NOT_SERVING', () => q3.health(), (h) => h === 'NOT_SERVING', LEASE_TTL_MS + 5_000, 50);
  const notServingMs = Date.now() - cutAt;
  await waitFor('on q3: p1 offline, p3 its own', () => Promise.all([ownerOn(q3, 'p1'), ownerOn(q3, 'p3')]), (o) => o.join() === 'offline,q3', 3_000);
  await waitFor('on q1 and q2: p3 offline', () => ownersOn([q1, q2], 'p3'), (o) => o.every((x) => x === 'offline'), 5_000);
  await expectRpcError(q3.catalog.registerHive({ hiveId: 'while-cut' }), status.UNAVAILABLE, /etcd/);
  expect(await q1.health()).toBe('SERVING');

  proxy.heal();
  const { ms: backMs } = await waitFor('q3 SERVING', () => q3.health(), (h) => h === 'SERVING', LEASE_TTL_MS + 10_000);
  await waitAgree(queens, 'the whole fleet on every queen', 10_000, (f) => f.join() === whole.join());
  for (const queen of queens) expect(queen.unexpectedExits).toEqual([]);
  console.log(`q3 cut off: NOT_SERVING after ${notServingMs} ms; SERVING ${backMs} ms after its link came back`);
});
