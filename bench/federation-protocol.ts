/**
 * What the federation scenario's children (federation-main.js: the hives and the watchers) and the bench parent
 * say to each other: one JSON object per line on the child's stdout, one command per line on its stdin. The queens
 * and etcd are other processes; only the parent talks to them.
 */

/** The scenario's knobs (run.ts sets them). */
export interface FederationSettings {
  /** The fleet: hives, spread evenly over the queens (the single queen holds them all). */
  readonly hives: number;
  readonly queens: number;
  readonly tickEveryMs: number;
  /** Streams sharing one connection; each queen gets its own connections. */
  readonly streamsPerConnection: number;
  /** Changes (full snapshots, one worker changed) per second across the fleet. */
  readonly changesPerSecond: number;
  /** No hive is changed twice within this long: more than the publisher's 1 s per-hive throttle. */
  readonly minChangeGapMs: number;
  /** `--etcd-lease-ttl` of every queen. */
  readonly leaseTtlMs: number;
  /** The agent's reconnect backoff cap (the README's rule): the failover goal is lease TTL + this. */
  readonly backoffCapMs: number;
  /** Hives of the killed queen that never reconnect (machines gone with it): they time the offline path. */
  readonly strandedHives: number;
  /** After the fleet is online and changing, before the window. */
  readonly warmupMs: number;
  readonly measureMs: number;
  /** After the window, how long a change may still take to reach every queen before it counts as missed. */
  readonly deliveryDeadlineMs: number;
  /** After the SIGKILL, how long the bench waits for the hives to move and the stranded ones to go offline. */
  readonly failoverTimeoutMs: number;
  /** Seed of the hives' choices (which hive changes, backoff jitter). */
  readonly seed: number;
  /** Goals: a change on the other queens within this (p99); etcd write transactions/s at most this x changes/s. */
  readonly propagationGoalMs: number;
  readonly etcdWritesGoalFactor: number;
}

/** One hive of the load: its index in the fleet and the queen (index into the address list) it starts on. */
export interface HiveSeat {
  readonly index: number;
  readonly home: number;
}

/**
 * The hives: one Heartbeat stream each, on one pool of connections per queen (`streamsPerConnection` streams to a
 * connection). Each sends a full snapshot, then a liveness tick every `tickEveryMs` (spread evenly over the fleet),
 * and `changesPerSecond` changes in all once told 'changes on'. On a lost stream a hive behaves as the agent does:
 * it waits a full-jitter backoff (src/common/backoff.ts: base 250 ms, cap `backoffCapMs`), moves to the next queen
 * of the list (src/agent/queen-rotation.ts), and opens a new stream with a full snapshot; a `stranded` hive never
 * comes back instead. Commands: 'changes on' | 'changes off', 'acks', 'changes FROM TO' (the changes sent with a
 * marker inside [FROM, TO), monotonic ms), 'moves' (every hive's reconnection).
 */
export interface HivesSpec {
  readonly mode: 'hives';
  readonly addresses: readonly string[];
  readonly seats: readonly HiveSeat[];
  /** Fleet indexes of the hives that never reconnect. */
  readonly stranded: readonly number[];
  readonly tickEveryMs: number;
  readonly streamsPerConnection: number;
  readonly changesPerSecond: number;
  readonly minChangeGapMs: number;
  readonly backoffCapMs: number;
  readonly seed: number;
  readonly maxLifetimeMs: number;
}

/**
 * The watchers: one Watch call on each queen (from revision 0), recording when each change marker arrives on each
 * queen and when each hive goes offline there. Commands: 'report <JSON ReportRequest>' (answered with 'report'),
 * 'etcd' (the writes its etcd watch counted so far, answered with 'etcd'),
 * 'failover <JSON FailoverRequest>' (polls the survivors, answered with 'failover'), 'lose N' (queen N is about to
 * be killed: its Watch may end).
 */
export interface WatchersSpec {
  readonly mode: 'watch';
  readonly addresses: readonly string[];
  /**
   * The federation's etcd: the watchers also watch its hive records, to time when each change was committed
   * there (the owner's write), between the owner's Watch and the other queens'.
   */
  readonly etcd?: { readonly endpoint: string; readonly prefix: string };
  readonly maxLifetimeMs: number;
}

export type FederationChildSpec = HivesSpec | WatchersSpec;

/** One change sent: which hive, on which queen (its stream's, at the time), and its marker. */
export interface SentChange {
  readonly hiveId: string;
  readonly queen: number;
  /** `hiveId/markerKey`: what the watchers match. */
  readonly key: string;
  /** The marker: the send time, monotonic ms. */
  readonly atMs: number;
}

/** A hive's new stream after a loss: when its snapshot was accepted, and by which queen. */
export interface HiveMove {
  readonly hiveId: string;
  readonly lostAtMs: number;
  readonly acceptedAtMs: number;
  readonly queen: number;
  /** Streams that failed before one was accepted (the first loss included). */
  readonly attempts: number;
}

export interface ReportRequest {
  readonly changes: readonly SentChange[];
}

/** Per change and queen: receive time - marker, ms; null where it has not arrived. */
export interface ReportAnswer {
  /** [change][queen] */
  readonly latencyMs: readonly (readonly (number | null)[])[];
  /** [change]: when the watchers' own etcd watch saw the owner's write holding the change; empty without etcd. */
  readonly etcdMs: readonly (number | null)[];
}

export interface FailoverRequest {
  /** The killed queen's index and id, the survivors' indexes, and when it was killed (monotonic ms). */
  readonly killed: number;
  readonly killedId: string;
  readonly survivors: readonly number[];
  readonly killedAtMs: number;
  readonly movers: readonly string[];
  readonly stranded: readonly string[];
  /** Hives the survivors must own between them once the movers are in: all but the stranded ones. */
  readonly survivorHives: number;
  readonly pollEveryMs: number;
  readonly timeoutMs: number;
}

/** What the watchers saw of a failover, per survivor (times in monotonic ms; null: not within the timeout). */
export interface FailoverAnswer {
  readonly survivors: readonly {
    readonly queen: number;
    /** First poll in which every mover was online there and the survivors owned every hive but the stranded. */
    readonly moversOnlineAtMs: number | null;
    /** First poll in which every stranded hive was offline, and the last HIVE_OFFLINE event of them on the Watch. */
    readonly strandedOfflineAtMs: number | null;
    readonly strandedOfflineEventAtMs: number | null;
    /** HIVE_OFFLINE events of movers after the kill (a mover that was seen offline on its way). */
    readonly moverOfflineEvents: number;
    readonly polls: number;
    /** The last poll: hives the survivors owned (as this one saw it), movers online, stranded hives online. */
    readonly last: { readonly owned: number; readonly moversOnline: number; readonly strandedOnline: number };
  }[];
}

/** What the watchers' etcd watch counted so far, by the part of the federation's keys written. */
export interface EtcdWrites {
  /** Keys put or deleted, and distinct revisions (write transactions) that touched the part. */
  readonly [part: string]: { readonly keys: number; readonly revisions: number };
}

/** Lines the children write on stdout. */
export type FederationChildEvent =
  | { readonly event: 'ready'; readonly hives: number; readonly elapsedMs: number }
  | { readonly event: 'synced' }
  | { readonly event: 'acks'; readonly acks: number; readonly rejected: number; readonly firstRejection?: string }
  | {
      readonly event: 'changes';
      readonly changes: readonly SentChange[];
      /** Changes skipped (whole run) because no hive was free to change: the rate asked was not kept. */
      readonly skipped: number;
    }
  | { readonly event: 'moves'; readonly moves: readonly HiveMove[]; readonly aborted: number }
  | { readonly event: 'report'; readonly answer: ReportAnswer }
  | { readonly event: 'etcd'; readonly writes: EtcdWrites }
  | { readonly event: 'failover'; readonly answer: FailoverAnswer }
  | { readonly event: 'failed'; readonly error: string };

/** Writes one event line on stdout. */
export function emitFederation(event: FederationChildEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
