// The federation scenario: three queens over one real etcd holding a 1,000-hive fleet, against one queen alone
// holding the same fleet in the same run. Processes beside the bench: etcd, each queen (the built CLI's `serve`),
// one child for the hives (agent-like: liveness ticks, changes, reconnection to the next queen with the agent's
// backoff) and one for the watchers (a Watch on every queen, and the failover's polls); see federation-main.ts.
// The steady window is measured in federation-window.ts, the failover in federation-failover.ts.
import { BenchChild } from './bench-child.js';
import { EtcdProcess } from './etcd-process.js';
import { failover, type FailoverFigures } from './federation-failover.js';
import type { FederationSettings, HiveSeat, HivesSpec, WatchersSpec } from './federation-protocol.js';
import { startQueen, type QueenProcess } from './federation-queens.js';
import { steadyWindow, type EtcdFigures, type Load, type SteadyWindow } from './federation-window.js';
import { describeMachine, type Machine } from './machine.js';

export type { FailoverFigures } from './federation-failover.js';
export type { FederationSettings } from './federation-protocol.js';
export type { EtcdFigures, Spread, SteadyWindow } from './federation-window.js';

export interface FederationOutcome {
  readonly settings: FederationSettings;
  readonly machine: Machine;
  readonly single: SteadyWindow;
  readonly federated: SteadyWindow;
  readonly etcd: EtcdFigures;
  readonly failover: FailoverFigures;
}

const CHILD_START_TIMEOUT_MS = 45_000;
/** Every child exits on its own after this long (below federation-main's own cap). */
const LIFETIME_MS = 140_000;
/** The queens' `--etcd-prefix`: its default. */
const ETCD_PREFIX = '/hive-registry/';

async function startLoad(
  children: BenchChild[],
  s: FederationSettings,
  addresses: readonly string[],
  seats: readonly HiveSeat[],
  stranded: readonly number[],
  etcd?: WatchersSpec['etcd'],
): Promise<Load> {
  const watchSpec: WatchersSpec = { mode: 'watch', addresses, ...(etcd === undefined ? {} : { etcd }), maxLifetimeMs: LIFETIME_MS };
  const watchers = new BenchChild('federation watchers', 'federation-main.js', [JSON.stringify(watchSpec)]);
  children.push(watchers);
  await watchers.next('synced', CHILD_START_TIMEOUT_MS);
  const hivesSpec: HivesSpec = {
    mode: 'hives',
    addresses,
    seats,
    stranded,
    tickEveryMs: s.tickEveryMs,
    streamsPerConnection: s.streamsPerConnection,
    changesPerSecond: s.changesPerSecond,
    minChangeGapMs: s.minChangeGapMs,
    backoffCapMs: s.backoffCapMs,
    seed: s.seed,
    maxLifetimeMs: LIFETIME_MS,
  };
  const hives = new BenchChild('federation hives', 'federation-main.js', [JSON.stringify(hivesSpec)]);
  children.push(hives);
  const ready = await hives.next('ready', CHILD_START_TIMEOUT_MS);
  hives.send('changes on');
  return { hives, watchers, fillMs: Number(ready['elapsedMs']) };
}

/** One queen alone (catalog in memory) holding the whole fleet: the reference. */
async function singleRun(s: FederationSettings): Promise<SteadyWindow> {
  const children: BenchChild[] = [];
  const queen = await startQueen({ kind: 'single' });
  try {
    const seats = Array.from({ length: s.hives }, (_, index) => ({ index, home: 0 }));
    const load = await startLoad(children, s, [queen.address], seats, []);
    return (await steadyWindow(s, [queen], seats, load)).window;
  } finally {
    for (const child of children.reverse()) await child.stop();
    await queen.child.stop();
  }
}

/** Three queens over one etcd: the steady window, then the failover. */
async function federatedRun(
  s: FederationSettings,
): Promise<Omit<FederationOutcome, 'settings' | 'machine' | 'single'>> {
  const children: BenchChild[] = [];
  const queens: QueenProcess[] = [];
  const etcd = await EtcdProcess.start();
  try {
    const ids = Array.from({ length: s.queens }, (_, i) => `q${i + 1}`);
    const started = await Promise.allSettled(
      ids.map((queenId) => startQueen({ kind: 'federated', etcd: etcd.endpoint, queenId, leaseTtlMs: s.leaseTtlMs })),
    );
    for (const result of started) if (result.status === 'fulfilled') queens.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const seats = Array.from({ length: s.hives }, (_, index) => ({ index, home: index % s.queens }));
    const killed = s.queens - 1;
    const stranded = seats.filter((seat) => seat.home === killed).slice(0, s.strandedHives).map((seat) => seat.index);
    const etcdWatch = { endpoint: etcd.endpoint, prefix: ETCD_PREFIX };
    const load = await startLoad(children, s, queens.map((q) => q.address), seats, stranded, etcdWatch);
    const steady = await steadyWindow(s, queens, seats, load, etcd);
    if (steady.etcd === undefined) throw new Error('federation: no etcd figures');
    const failoverFigures = await failover(s, queens, seats, stranded, load);
    return { federated: steady.window, etcd: steady.etcd, failover: failoverFigures };
  } finally {
    for (const child of children.reverse()) await child.stop();
    for (const queen of queens) await queen.child.stop();
    await etcd.stop();
  }
}

/** Runs the scenario once: the single queen, then the federation; every process is stopped whatever happens. */
export async function federationRun(settings: FederationSettings): Promise<FederationOutcome> {
  const machine = describeMachine();
  const single = await singleRun(settings);
  const federation = await federatedRun(settings);
  return { settings, machine, single, ...federation };
}
