import type { FailoverAnswer, FederationSettings, HiveMove, HiveSeat } from './federation-protocol.js';
import type { QueenProcess } from './federation-queens.js';
import { spread, type Load } from './federation-window.js';
import { hiveId } from './fleet.js';
import { monotonicMs } from './protocol.js';
import { sleep } from './stats.js';

// The federation scenario's failover: the last queen SIGKILLed while its hives behave as agents (or, for a few,
// never come back), followed on the survivors until every hive is where it should be.

const ANSWER_TIMEOUT_MS = 5_000;
/** Beyond the failover's own timeout, how long the watchers' answer may take. */
const ANSWER_SLACK_MS = 15_000;
const FAILOVER_POLL_EVERY_MS = 50;
/** pino's level number of `warn`. */
const WARN = 40;
/** Warnings quoted from a queen's log when the failover does not complete. */
const WARNINGS_QUOTED = 5;

/** A queen's last warnings and errors (its pino log lines on stdout), for a failure's message. */
function warnings(queen: QueenProcess | undefined): string {
  const lines = queen?.child.received((line) => typeof line['level'] === 'number' && line['level'] >= WARN) ?? [];
  if (lines.length === 0) return 'none';
  return lines
    .slice(-WARNINGS_QUOTED)
    .map((line) => `${String(line['msg'])} ${JSON.stringify({ ...line, msg: undefined, time: undefined, pid: undefined, hostname: undefined })}`)
    .join(' | ');
}

/** The killed queen's hives, from the SIGKILL (times in ms after it). */
export interface FailoverFigures {
  readonly killedId: string;
  readonly movers: number;
  readonly stranded: number;
  /** Hive side: each mover's stream lost (the dead queen's connection closed); the median and the last. */
  readonly lossMedianMs: number;
  readonly lossLastMs: number;
  /** Hive side: each mover's new stream accepted by a survivor; the median and the last. */
  readonly moveMedianMs: number;
  readonly moveLastMs: number;
  /** Most failed streams one mover went through before its new one was accepted. */
  readonly maxAttempts: number;
  /** Movers per survivor they landed on. */
  readonly landedOn: Readonly<Record<string, number>>;
  readonly survivors: readonly {
    readonly queenId: string;
    /** Every mover online there, owned by a survivor (first poll that showed it; polls every pollEveryMs). */
    readonly moversOnlineMs: number | null;
    /** Every stranded hive offline there: first poll that showed it, and the last HIVE_OFFLINE on its Watch. */
    readonly strandedOfflineMs: number | null;
    readonly strandedOfflineEventMs: number | null;
    readonly moverOfflineEvents: number;
  }[];
  readonly pollEveryMs: number;
}

/** SIGKILLs the last queen and follows its hives to the survivors. */
export async function failover(
  s: FederationSettings,
  queens: readonly QueenProcess[],
  seats: readonly HiveSeat[],
  stranded: readonly number[],
  load: Load,
): Promise<FailoverFigures> {
  const killed = queens.length - 1;
  const victim = queens[killed];
  if (victim === undefined) throw new Error('no queen to kill');
  const strandedSet = new Set(stranded);
  const own = seats.filter((seat) => seat.home === killed);
  const movers = own.filter((seat) => !strandedSet.has(seat.index)).map((seat) => hiveId(seat.index));
  const strandedIds = stranded.map(hiveId);
  load.hives.send('changes off');
  await sleep(1_000);
  load.watchers.send(`lose ${killed}`);
  const killedAtMs = monotonicMs();
  victim.child.kill();
  const survivors = queens.map((_, i) => i).filter((i) => i !== killed);
  const request = {
    killed,
    killedId: victim.queenId,
    survivors,
    killedAtMs,
    movers,
    stranded: strandedIds,
    survivorHives: seats.length - strandedIds.length,
    pollEveryMs: FAILOVER_POLL_EVERY_MS,
    timeoutMs: s.failoverTimeoutMs,
  };
  load.watchers.send(`failover ${JSON.stringify(request)}`);
  const answer = (await load.watchers.next('failover', s.failoverTimeoutMs + ANSWER_SLACK_MS))['answer'] as FailoverAnswer;
  const unseen = answer.survivors.filter((sv) => sv.moversOnlineAtMs === null || sv.strandedOfflineAtMs === null);
  if (unseen.length > 0) {
    throw new Error(
      `federation: within ${s.failoverTimeoutMs} ms of the kill, not every reconnecting hive was online under a ` +
        `surviving owner, or not every stranded hive offline: ` +
        unseen
          .map(
            (sv) =>
              `on ${queens[sv.queen]?.queenId}, at the last poll the survivors owned ${sv.last.owned} hives of ` +
              `${request.survivorHives}, ${sv.last.moversOnline} of ${movers.length} reconnecting hives and ` +
              `${sv.last.strandedOnline} of ${strandedIds.length} stranded ones were online; its warnings: ` +
              warnings(queens[sv.queen]),
          )
          .join('; '),
    );
  }
  load.hives.send('moves');
  const moved = await load.hives.next('moves', ANSWER_TIMEOUT_MS);
  const moves = moved['moves'] as HiveMove[];
  const moverSet = new Set(movers);
  const strays = moves.filter((m) => !moverSet.has(m.hiveId) || m.lostAtMs < killedAtMs);
  if (strays.length > 0) {
    const first = strays[0]?.hiveId;
    throw new Error(`federation: ${strays.length} streams lost that the kill does not explain (first: ${first})`);
  }
  if (Number(moved['aborted']) > 0) {
    throw new Error(`federation: ${String(moved['aborted'])} hive streams ended with ABORTED`);
  }
  if (moves.length < movers.length) {
    throw new Error(`federation: ${movers.length - moves.length} of ${movers.length} hives never reconnected`);
  }
  const after = (atMs: number | null): number | null => (atMs === null ? null : atMs - killedAtMs);
  const moveMs = moves.map((m) => m.acceptedAtMs - killedAtMs);
  const landedOn: Record<string, number> = {};
  for (const m of moves) {
    const id = queens[m.queen]?.queenId ?? String(m.queen);
    landedOn[id] = (landedOn[id] ?? 0) + 1;
  }
  const timing = spread(moveMs);
  const loss = spread(moves.map((m) => m.lostAtMs - killedAtMs));
  return {
    killedId: victim.queenId,
    movers: movers.length,
    stranded: strandedIds.length,
    lossMedianMs: loss.p50Ms,
    lossLastMs: loss.maxMs,
    moveMedianMs: timing.p50Ms,
    moveLastMs: timing.maxMs,
    maxAttempts: Math.max(...moves.map((m) => m.attempts)),
    landedOn,
    survivors: answer.survivors.map((sv) => ({
      queenId: queens[sv.queen]?.queenId ?? String(sv.queen),
      moversOnlineMs: after(sv.moversOnlineAtMs),
      strandedOfflineMs: after(sv.strandedOfflineAtMs),
      strandedOfflineEventMs: after(sv.strandedOfflineEventAtMs),
      moverOfflineEvents: sv.moverOfflineEvents,
    })),
    pollEveryMs: FAILOVER_POLL_EVERY_MS,
  };
}
