// Queens of a federation that die or clash, as real processes over a real etcd: a queen killed with SIGKILL loses
// its hives when its lease expires and they come back on the others as their agents move; a queen stopped with
// SIGTERM lets them go at once; a second queen with a live queen's id exits 2 naming it; --etcd refuses a SQLite
// catalog (--db, HIVE_REGISTRY_DB).
import { CLI } from '../helpers/cli-process';
import { EtcdProcess, etcdAvailable } from '../helpers/etcd-process';
import { ownersOn, QueenFleet, waitAgree } from '../helpers/queen-fleet';
import { AGENT_BACKOFF_CAP_MS, federationArgs, LEASE_TTL_MS, type QueenProcess } from '../helpers/queen-process';
import { waitFor } from '../helpers/wait-for';
import { run } from '../helpers/run';

jest.setTimeout(90_000);

if (!etcdAvailable()) throw new Error('these tests need etcd (apt-get install etcd-server)');

let etcd: EtcdProcess;
let fleet: QueenFleet | undefined;
let prefixes = 0;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd?.stop();
});
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

async function startFleet(ids?: string[]): Promise<QueenFleet> {
  prefixes += 1;
  fleet = await QueenFleet.start(etcd, `/e2e-queen-faults-${prefixes}/`, ids === undefined ? {} : { ids });
  return fleet;
}

const MODEL = 'meta/llama-3-8b';

test('a queen killed with SIGKILL: its hives go offline on the others within the lease TTL + 2 s, then come back as their agents move', async () => {
  const { queens } = await startFleet();
  // Agents over the whole list: each starts at a random queen and moves on when its queen fails.
  const roaming = ['k1', 'k2', 'k3', 'k4'];
  for (const hiveId of roaming) fleet!.simulatedAgent(hiveId, 1, [MODEL]);
  await waitAgree(queens, 'four roaming hives online', 15_000, (f) => f.length === 4 && f.every((l) => l.includes(' online ')));
  // The victim: the queen holding the most of them (four hives over three queens: at least two).
  const owners = await Promise.all(roaming.map(async (hiveId) => (await ownersOn(queens, hiveId))[0]!));
  const count = (q: QueenProcess) => owners.filter((o) => o === q.id).length;
  const victim = [...queens].sort((a, b) => count(b) - count(a))[0]!;
  const moving = roaming.filter((_h, i) => owners[i] === victim.id);
  const survivors = queens.filter((q) => q !== victim);
  // An agent that only knows the victim: its hive goes offline and stays so.
  fleet!.fileAgent('pinned', [{ workerId: 'pinned-0', modelId: MODEL }], [victim]);
  await waitFor('pinned owned by the victim everywhere', () => ownersOn(queens, 'pinned'), (o) => o.every((x) => x === victim.id), 10_000);

  await victim.kill();
  const offline = waitFor(
    'pinned offline on the survivors',
    () => ownersOn(survivors, 'pinned'),
    (o) => o.every((x) => x === 'offline'),
    LEASE_TTL_MS + 10_000,
    50,
  );
  const queensLeft = waitFor(
    `${victim.id} gone from ListQueens on the survivors`,
    () => Promise.all(survivors.map(async (q) => (await q.rpc.listQueens({})).queens.map((x) => x.queenId))),
    (lists) => lists.every((list) => !list.includes(victim.id)),
    LEASE_TTL_MS + 10_000,
    50,
  );
  const back = Promise.all(
    moving.map((hiveId) =>
      waitFor(
        `${hiveId} back online on a survivor`,
        () => ownersOn(survivors, hiveId),
        (o) => o[0] !== victim.id && o[0] !== 'offline' && o[0] !== 'absent' && o.every((x) => x === o[0]),
        LEASE_TTL_MS + AGENT_BACKOFF_CAP_MS + 5_000,
        50,
      ),
    ),
  );
  const offlineMs = (await offline).ms;
  const leftMs = (await queensLeft).ms;
  const backMs = (await back).map((r) => r.ms);
  // The contract: within the lease TTL + 2 s (the poll adds at most its interval).
  expect(offlineMs).toBeLessThanOrEqual(LEASE_TTL_MS + 2_000);
  expect(leftMs).toBeLessThanOrEqual(LEASE_TTL_MS + 2_000);
  // The agents move within their backoff (a fresh failure: a fraction of a second), loosely bounded.
  for (const ms of backMs) expect(ms).toBeLessThanOrEqual(LEASE_TTL_MS + AGENT_BACKOFF_CAP_MS);
  const fleetAfter = await waitAgree(survivors, 'the fleet without the victim', 5_000, (f) => f.length === 5);
  expect(fleetAfter.filter((l) => l.includes(' offline '))).toEqual([`pinned/pinned-0 offline @${victim.id}`]);
  expect(fleetAfter.filter((l) => l.includes(' online ')).every((l) => !l.endsWith(`@${victim.id}`))).toBe(true);

  // Restarted under the same id (its old lease has expired by now): the pinned agent comes back to it.
  await victim.start();
  await waitFor(
    'pinned owned by the restarted victim everywhere',
    () => ownersOn(queens, 'pinned'),
    (o) => o.every((x) => x === victim.id),
    AGENT_BACKOFF_CAP_MS + 5_000,
  );
  await waitAgree(queens, 'the whole fleet online again', 5_000, (f) => f.length === 5 && f.every((l) => l.includes(' online ')));
  for (const queen of queens) expect(queen.unexpectedExits).toEqual([]);
  console.log(`SIGKILL: offline after ${offlineMs} ms, left ListQueens after ${leftMs} ms, moved hives back after ${backMs.join(', ')} ms`);
});

test('a queen stopped with SIGTERM revokes its lease: its hives are offline on the others at once', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  fleet!.fileAgent('leaving', [{ workerId: 'leaving-0' }], [q1]);
  await waitFor('leaving owned by q1 everywhere', () => ownersOn(queens, 'leaving'), (o) => o.every((x) => x === 'q1'), 10_000);
  const started = Date.now();
  expect(await q1.stop()).toBe(0);
  const { ms } = await waitFor('leaving offline on q2 and q3', () => ownersOn([q2, q3], 'leaving'), (o) => o.every((x) => x === 'offline'), 5_000, 50);
  // Well inside one lease TTL: the drain itself revoked the lease.
  expect(Date.now() - started).toBeLessThan(LEASE_TTL_MS);
  await waitFor('q1 gone from ListQueens', async () => (await q2.rpc.listQueens({})).queens.map((q) => q.queenId), (ids) => ids.join() === 'q2,q3', 2_000);
  console.log(`SIGTERM: offline elsewhere ${ms} ms after the drain`);
});

test('a second queen with a live queen\'s --queen-id waits one lease TTL, then exits 2 naming it', async () => {
  await startFleet(['q1']);
  const started = Date.now();
  const result = await run(
    process.execPath,
    [CLI, 'serve', '--listen', '127.0.0.1:0', '--queen-id', 'q1', ...federationArgs(etcd, fleet!.prefix), '--log-level', 'warn'],
    { timeoutMs: LEASE_TTL_MS + 15_000 },
  );
  const waitedMs = Date.now() - started;
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/"q1"/) });
  expect(waitedMs).toBeGreaterThanOrEqual(LEASE_TTL_MS - 100);
  // The first queen is untouched.
  expect(fleet!.queen('q1').running).toBe(true);
  expect((await fleet!.queen('q1').rpc.listQueens({})).queens.map((q) => q.queenId)).toEqual(['q1']);
});

test('--etcd with a SQLite catalog (--db or HIVE_REGISTRY_DB) exits 2 naming both', async () => {
  const serve = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...args], { env, timeoutMs: 15_000 });
  const etcdArgs = federationArgs(etcd, '/e2e-queen-faults-db/');
  const withFlag = await serve([...etcdArgs, '--db', ':memory:']);
  expect({ code: withFlag.code, stderr: withFlag.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/--etcd and --db/) });
  const withEnv = await serve(etcdArgs, { HIVE_REGISTRY_DB: ':memory:' });
  expect({ code: withEnv.code, stderr: withEnv.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/--etcd and HIVE_REGISTRY_DB/) });
  const bothFromEnv = await serve(['--db', ':memory:'], { HIVE_REGISTRY_ETCD: etcd.endpoint });
  expect({ code: bothFromEnv.code, stderr: bothFromEnv.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/--etcd and --db/) });
});
