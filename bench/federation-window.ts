import type { BenchChild } from './bench-child.js';
import type { EtcdProcess, EtcdCounters } from './etcd-process.js';
import type { EtcdWrites, FederationSettings, HiveSeat, ReportAnswer, SentChange } from './federation-protocol.js';
import { cpuPercent, cpuReading, memory, type CpuReading, type QueenProcess } from './federation-queens.js';
import { machineCpu } from './network-scenarios.js';
import { monotonicMs } from './protocol.js';
import { Samples, sleep } from './stats.js';

// The federation scenario's steady window, for one queen alone or for the federation: each queen's CPU and
// memory, etcd's counters, and every change's arrival on every queen's Watch.

const ANSWER_TIMEOUT_MS = 5_000;

/** p50, p90, p99 and max of a set of latencies, and how many there were. */
export interface Spread {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** One queen over the steady window. */
export interface QueenFigures {
  readonly queenId: string;
  readonly hives: number;
  /** % of one core. */
  readonly cpuPercent: number;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

/** The steady window of one run (the single queen, or the federation). */
export interface SteadyWindow {
  readonly windowMs: number;
  readonly queens: readonly QueenFigures[];
  /** Heartbeat payloads acked per second (ticks and changes), counted by the hives. */
  readonly ackedPerSecond: number;
  readonly changes: number;
  readonly changesPerSecond: number;
  /** Changes skipped for want of a hive free to change (whole run). */
  readonly skipped: number;
  /** Change sent -> Watch event on the queen holding the hive's stream, and on every other queen. */
  readonly own: Spread;
  readonly others: Spread;
  /** Change sent -> the owner's write holding it seen by the watchers' own etcd watch (no samples alone). */
  readonly inEtcd: Spread;
  /** For each other queen: its Watch event minus the etcd watch's sight of the write (the receiving side). */
  readonly afterEtcd: Spread;
  /** (change, queen) pairs that never arrived within the deadline. */
  readonly missing: number;
  readonly machineBusyPercent: number;
  /** From starting the hives until every first snapshot was accepted. */
  readonly fillMs: number;
}

/** etcd over the federation's steady window: rates of its own counters, and its process. */
export interface EtcdFigures {
  readonly revisionsPerSecond: number;
  readonly putsPerSecond: number;
  readonly deletesPerSecond: number;
  readonly rangesPerSecond: number;
  readonly proposalsPerSecond: number;
  readonly walFsyncsPerSecond: number;
  /** Mean time of one WAL fsync over the window, ms. */
  readonly walFsyncMeanMs: number;
  readonly keys: number;
  readonly dbBytes: number;
  readonly cpuPercent: number;
  readonly rssBytes: number;
  /**
   * The same writes by part of the federation's keys, as the watchers' etcd watch saw them: `hives` (the queens'
   * publications), `catalog/hives` (last_seen and the rest of the catalog), `queens`; keys put or deleted, and
   * write transactions that touched the part.
   */
  readonly parts: Readonly<Record<string, { readonly keysPerSecond: number; readonly txnsPerSecond: number }>>;
}

/** The hives and the watchers of one run. */
export interface Load {
  readonly hives: BenchChild;
  readonly watchers: BenchChild;
  readonly fillMs: number;
}

/** The spread of some latencies. */
export function spread(values: readonly number[]): Spread {
  const samples = new Samples(Math.max(1, values.length));
  for (const value of values) samples.add(value);
  const [p50Ms = Number.NaN, p90Ms = Number.NaN, p99Ms = Number.NaN, maxMs = Number.NaN] = samples.percentiles(
    50,
    90,
    99,
    100,
  );
  return { samples: values.length, p50Ms, p90Ms, p99Ms, maxMs };
}

/** Payloads the hives have had acked so far; throws if any was rejected. */
export async function acked(hives: BenchChild): Promise<number> {
  hives.send('acks');
  const answer = await hives.next('acks', ANSWER_TIMEOUT_MS);
  if (Number(answer['rejected']) > 0) {
    const first = String(answer['firstRejection']);
    throw new Error(`federation: ${String(answer['rejected'])} payloads rejected, first: ${first}`);
  }
  return Number(answer['acks']);
}

/** Asks the watchers about `changes` until each has arrived on every queen or the deadline passes. */
async function delivery(watchers: BenchChild, changes: readonly SentChange[], deadlineMs: number): Promise<ReportAnswer> {
  const deadline = monotonicMs() + deadlineMs;
  for (;;) {
    watchers.send(`report ${JSON.stringify({ changes })}`);
    const answer = (await watchers.next('report', ANSWER_TIMEOUT_MS))['answer'] as ReportAnswer;
    const complete = answer.latencyMs.every((row) => row.every((value) => value !== null));
    if (complete || monotonicMs() >= deadline) return answer;
    await sleep(200);
  }
}

interface WindowReading {
  readonly atMs: number;
  readonly queens: readonly CpuReading[];
  readonly etcd?: CpuReading;
  readonly etcdCounters?: EtcdCounters;
  readonly etcdWrites?: EtcdWrites;
  readonly acks: number;
  readonly machine: { busy: number; total: number };
}

async function readWindow(
  queens: readonly QueenProcess[],
  load: Load,
  etcd: EtcdProcess | undefined,
): Promise<WindowReading> {
  const etcdPid = etcd?.pid;
  const reading = {
    atMs: monotonicMs(),
    queens: queens.map((q) => cpuReading(q.pid)),
    machine: machineCpu(),
    ...(etcd === undefined || etcdPid === undefined
      ? {}
      : { etcd: cpuReading(etcdPid), etcdCounters: await etcd.counters() }),
  };
  const acks = await acked(load.hives);
  if (etcd === undefined) return { ...reading, acks };
  load.watchers.send('etcd');
  const etcdWrites = (await load.watchers.next('etcd', ANSWER_TIMEOUT_MS))['writes'] as EtcdWrites;
  return { ...reading, acks, etcdWrites };
}

/** Keys and write transactions per second, by part of the federation's keys, between two counts. */
function writeRates(start: EtcdWrites, end: EtcdWrites, windowMs: number): EtcdFigures['parts'] {
  const rates: Record<string, { keysPerSecond: number; txnsPerSecond: number }> = {};
  for (const [part, counted] of Object.entries(end)) {
    const before = start[part] ?? { keys: 0, revisions: 0 };
    rates[part] = {
      keysPerSecond: ((counted.keys - before.keys) * 1_000) / windowMs,
      txnsPerSecond: ((counted.revisions - before.revisions) * 1_000) / windowMs,
    };
  }
  return rates;
}

/** Warm-up, then the steady window: CPU, memory, etcd's counters and every change's arrival on every queen. */
export async function steadyWindow(
  s: FederationSettings,
  queens: readonly QueenProcess[],
  seats: readonly HiveSeat[],
  load: Load,
  etcd?: EtcdProcess,
): Promise<{ window: SteadyWindow; etcd?: EtcdFigures }> {
  await sleep(s.warmupMs);
  const start = await readWindow(queens, load, etcd);
  await sleep(s.measureMs);
  const end = await readWindow(queens, load, etcd);
  const memories = queens.map((q) => memory(q.pid));
  const etcdMemory = etcd?.pid === undefined ? undefined : memory(etcd.pid);
  const windowMs = end.atMs - start.atMs;
  load.hives.send(`changes ${start.atMs} ${end.atMs}`);
  const sentAnswer = await load.hives.next('changes', ANSWER_TIMEOUT_MS);
  const changes = sentAnswer['changes'] as SentChange[];
  if (changes.length === 0) throw new Error('federation: no change was sent inside the window');
  const answer = await delivery(load.watchers, changes, s.deliveryDeadlineMs);
  const own: number[] = [];
  const others: number[] = [];
  const afterEtcd: number[] = [];
  let missing = 0;
  changes.forEach((change, c) => {
    const inEtcd = answer.etcdMs[c] ?? null;
    answer.latencyMs[c]?.forEach((value, queen) => {
      if (value === null) missing += 1;
      else if (queen === change.queen) own.push(value);
      else {
        others.push(value);
        if (inEtcd !== null) afterEtcd.push(value - inEtcd);
      }
    });
  });
  if (missing > 0) {
    throw new Error(
      `federation: ${missing} of ${changes.length * queens.length} (change, queen) pairs never reached that queen's ` +
        `Watch (waited ${s.deliveryDeadlineMs} ms after the window)`,
    );
  }
  const perSecond = (count: number): number => (count * 1_000) / windowMs;
  const window: SteadyWindow = {
    windowMs,
    queens: queens.map((q, i) => ({
      queenId: q.queenId,
      hives: seats.filter((seat) => seat.home === i).length,
      cpuPercent: cpuPercent(start.queens[i] ?? cpuReading(q.pid), end.queens[i] ?? cpuReading(q.pid)),
      rssBytes: memories[i]?.rssBytes ?? Number.NaN,
      peakRssBytes: memories[i]?.peakRssBytes ?? Number.NaN,
    })),
    ackedPerSecond: perSecond(end.acks - start.acks),
    changes: changes.length,
    changesPerSecond: perSecond(changes.length),
    skipped: Number(sentAnswer['skipped']),
    own: spread(own),
    others: spread(others),
    inEtcd: spread(answer.etcdMs.filter((value): value is number => value !== null)),
    afterEtcd: spread(afterEtcd),
    missing,
    machineBusyPercent: (100 * (end.machine.busy - start.machine.busy)) / (end.machine.total - start.machine.total),
    fillMs: load.fillMs,
  };
  const [a, b] = [start.etcdCounters, end.etcdCounters];
  const [writesA, writesB] = [start.etcdWrites, end.etcdWrites];
  if (a === undefined || b === undefined || start.etcd === undefined || end.etcd === undefined) return { window };
  if (writesA === undefined || writesB === undefined) return { window };
  return {
    window,
    etcd: {
      revisionsPerSecond: perSecond(b.revision - a.revision),
      putsPerSecond: perSecond(b.puts - a.puts),
      deletesPerSecond: perSecond(b.deletes - a.deletes),
      rangesPerSecond: perSecond(b.ranges - a.ranges),
      proposalsPerSecond: perSecond(b.proposals - a.proposals),
      walFsyncsPerSecond: perSecond(b.walFsyncs - a.walFsyncs),
      walFsyncMeanMs: ((b.walFsyncSeconds - a.walFsyncSeconds) * 1_000) / Math.max(1, b.walFsyncs - a.walFsyncs),
      keys: b.keys,
      dbBytes: b.dbBytes,
      cpuPercent: cpuPercent(start.etcd, end.etcd),
      rssBytes: etcdMemory?.rssBytes ?? Number.NaN,
      parts: writeRates(writesA, writesB, windowMs),
    },
  };
}
