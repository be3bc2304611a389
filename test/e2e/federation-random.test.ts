// A randomized run over a federation of three real queens and real agents: a seeded sequence of hive moves (an
// agent restarted against another queen), supersedes (a second agent for the hive on another queen while the
// first still streams), queen kills (SIGKILL, restarted later under the same id) and etcd pauses. Once the faults
// are over and things settle, every queen must list the same fleet, every hive online with one owner, and exactly
// one agent left per hive. FEDERATION_SEED=N replays a run; FEDERATION_STEPS=N changes its length.
import type { AgentProcess } from '../helpers/cli-process';
import { EtcdProcess, etcdAvailable } from '../helpers/etcd-process';
import { type FileWorker, ownersOn, QueenFleet, waitAgree } from '../helpers/queen-fleet';
import { AGENT_BACKOFF_CAP_MS, LEASE_TTL_MS, type QueenProcess } from '../helpers/queen-process';
import { waitFor } from '../helpers/wait-for';
import { seededRandom } from '../helpers/seeded-random';

const SEED = Number(process.env.FEDERATION_SEED ?? 20_261_207);
const STEPS = Number(process.env.FEDERATION_STEPS ?? 14);
const HIVES = ['h0', 'h1', 'h2', 'h3', 'h4'];

jest.setTimeout(150_000);

if (!etcdAvailable()) throw new Error('these tests need etcd (apt-get install etcd-server)');

let etcd: EtcdProcess | undefined;
let fleet: QueenFleet | undefined;

afterEach(async () => {
  etcd?.resume();
  await fleet?.close();
  fleet = undefined;
  await etcd?.stop();
  etcd = undefined;
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One agent of a hive and the queens it was given (undefined: the whole list). */
interface HiveAgent {
  readonly agent: AgentProcess;
  readonly pinned: QueenProcess | undefined;
}

test(`after random moves, supersedes, queen kills and etcd pauses, every queen agrees on the fleet (seed ${SEED}, ${STEPS} steps)`, async () => {
  const rng = seededRandom(SEED);
  const below = (n: number): number => Math.floor(rng() * n);
  const pick = <T>(items: readonly T[]): T => items[below(items.length)] as T;
  const log: string[] = [];
  const started = Date.now();
  const note = (line: string): void => {
    log.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${line}`);
  };

  etcd = await EtcdProcess.start();
  fleet = await QueenFleet.start(etcd, '/e2e-random/');
  const f = fleet;
  const { queens } = f;
  const workers = (hiveId: string): FileWorker[] =>
    Array.from({ length: 1 + (Number(hiveId.slice(1)) % 2) }, (_, i) => ({ workerId: `${hiveId}-w${i}`, modelId: 'meta/llama-3-8b' }));
  const WORKER_COUNT = HIVES.reduce((n, h) => n + workers(h).length, 0);
  const agents = new Map<string, HiveAgent[]>();
  /** Starts an agent for the hive: pinned to one live queen, or (one time in three) over the whole list. */
  const startAgentFor = (hiveId: string, exclude?: QueenProcess): HiveAgent => {
    const live = f.live.filter((q) => q !== exclude);
    const pinned = rng() < 1 / 3 || live.length === 0 ? undefined : pick(live);
    const agent: HiveAgent = { agent: f.fileAgent(hiveId, workers(hiveId), pinned === undefined ? queens : [pinned]), pinned };
    agents.set(hiveId, [...(agents.get(hiveId) ?? []), agent]);
    return agent;
  };
  const running = (hiveId: string): HiveAgent[] =>
    (agents.get(hiveId) ?? []).filter((a) => a.agent.child.exitCode === null && a.agent.child.signalCode === null);

  let etcdPausedFor = 0; // steps left before etcd is resumed (0: running)
  let restartIn = new Map<QueenProcess, number>(); // a killed queen and the steps left before its restart

  try {
    for (const hiveId of HIVES) {
      const { pinned } = startAgentFor(hiveId);
      note(`start ${hiveId} on ${pinned?.id ?? 'the list'}`);
    }
    await waitAgree(queens, 'every hive online', 20_000, (fl) => fl.length === WORKER_COUNT && fl.every((l) => l.includes(' online ')));

    for (let step = 1; step <= STEPS; step += 1) {
      // Faults that end after some steps.
      for (const [queen, left] of [...restartIn]) {
        if (left > 0 || etcdPausedFor > 0) {
          restartIn.set(queen, Math.max(0, left - 1));
          continue;
        }
        note(`step ${step}: restart ${queen.id}`);
        await queen.start();
        restartIn.delete(queen);
      }
      if (etcdPausedFor > 0 && --etcdPausedFor === 0) {
        note(`step ${step}: resume etcd`);
        etcd.resume();
      }

      const roll = rng();
      const hiveId = pick(HIVES);
      const current = running(hiveId);
      const owner = current[0]?.pinned;
      if (roll < 0.35) {
        for (const { agent } of current) await f.stopAgent(agent);
        const { pinned } = startAgentFor(hiveId, owner);
        note(`step ${step}: move ${hiveId} from ${owner?.id ?? 'the list'} to ${pinned?.id ?? 'the list'}`);
      } else if (roll < 0.6) {
        const { pinned } = startAgentFor(hiveId, owner);
        note(`step ${step}: supersede ${hiveId} (on ${owner?.id ?? 'the list'}) by an agent on ${pinned?.id ?? 'the list'}`);
      } else if (roll < 0.8) {
        if (restartIn.size > 0) {
          note(`step ${step}: (a queen is down already) nothing`);
        } else {
          const victim = pick(f.live);
          note(`step ${step}: SIGKILL ${victim.id}`);
          await victim.kill();
          restartIn = new Map([[victim, below(3)]]);
        }
      } else if (etcdPausedFor === 0) {
        etcdPausedFor = 1 + below(2);
        note(`step ${step}: pause etcd for ${etcdPausedFor} step(s)`);
        etcd.pause();
      } else {
        note(`step ${step}: (etcd paused already) nothing`);
      }
      await sleep(200 + below(1_300));
    }

    // The faults end: etcd back, the dead queen restarted.
    if (etcdPausedFor > 0) {
      note('end: resume etcd');
      etcd.resume();
    }
    for (const queen of restartIn.keys()) {
      note(`end: restart ${queen.id}`);
      await queen.start();
    }
    note('settling');

    // One agent left per hive: a superseded one stops by itself (exit 1).
    for (const hiveId of HIVES) {
      await waitFor(`one agent left for ${hiveId}`, async () => running(hiveId).length, (n) => n === 1, 15_000);
    }
    // Every hive online on every queen, with one owner (an agent pinned to a queen: that queen).
    const fleetTimeoutMs = LEASE_TTL_MS + AGENT_BACKOFF_CAP_MS + 10_000;
    const settled = await waitAgree(queens, 'every hive online', fleetTimeoutMs, (fl) => fl.length === WORKER_COUNT && fl.every((l) => l.includes(' online ')));
    for (const hiveId of HIVES) {
      const owners = await ownersOn(queens, hiveId);
      const pinned = running(hiveId)[0]?.pinned;
      if (pinned !== undefined) expect({ hiveId, owners }).toEqual({ hiveId, owners: [pinned.id, pinned.id, pinned.id] });
    }
    expect(settled.map((line) => line.split(' ')[0])).toEqual(HIVES.flatMap((h) => workers(h).map((w) => `${h}/${w.workerId}`)));
    for (const queen of queens) {
      await waitFor(`${queen.id} SERVING`, () => queen.health(), (h) => h === 'SERVING', 5_000);
      expect((await queen.rpc.listQueens({})).queens.map((q) => q.queenId)).toEqual(['q1', 'q2', 'q3']);
      expect(queen.unexpectedExits).toEqual([]);
    }
    note('agreed');
  } catch (error) {
    const fleets = await Promise.all(
      f.live.map(async (q) => `${q.id}: ${JSON.stringify((await q.rpc.listAllWorkers({}).catch(() => ({ workers: [] }))).workers.map((e) => `${e.hiveId} ${e.hiveOnline} @${e.queenId}`))}`),
    );
    const logs = f.saveLogs(`random-seed-${SEED}`);
    (error as Error).message +=
      `\nseed ${SEED} (FEDERATION_SEED=${SEED} replays it); steps:\n  ${log.join('\n  ')}\nfleets:\n  ${fleets.join('\n  ')}` +
      `\nthe queens' logs: ${logs}`;
    throw error;
  }
  console.log(`seed ${SEED}:\n  ${log.join('\n  ')}`);
});
