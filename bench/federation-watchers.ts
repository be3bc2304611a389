import { create } from '@bufbuild/protobuf';
import type { Client, ClientReadableStream } from '@grpc/grpc-js';
import type { DescMessage, MessageInitShape } from '@bufbuild/protobuf';
import {
  ListActiveHivesRequestSchema,
  ListQueensRequestSchema,
  WatchEventType,
  WatchRequestSchema,
  type ListActiveHivesResponse,
  type ListQueensResponse,
  type WatchEvent,
} from '../gen/hive/v1/registry_pb.js';
import type {
  FailoverAnswer,
  FailoverRequest,
  FederationChildEvent,
  ReportAnswer,
  ReportRequest,
  SentChange,
  WatchersSpec,
} from './federation-protocol.js';
import { Etcd3Store } from '../src/federation/etcd3-store.js';
import type { EtcdEvent } from '../src/federation/etcd-store.js';
import { decodeHiveRecord } from '../src/federation/published-hive-codec.js';
import { monotonicMs } from './protocol.js';
import { openClient, openWatch, unaryMethod, type UnaryCallback } from './registry-client.js';
import { sleep } from './stats.js';
import { markerKey } from './watch-protocol.js';

/** How long every Watch may take to say SYNCED. */
const SYNC_TIMEOUT_MS = 20_000;
/** Change markers are CLOCK_MONOTONIC seconds (the machine's uptime); the fleet's fixed times are epoch seconds. */
const MAX_MARKER_SECONDS = 1e9;
const POLL_DEADLINE_MS = 5_000;

/** One queen's Watch: when each change marker arrived, and when each hive went offline. */
interface QueenWatch {
  readonly call: ClientReadableStream<WatchEvent>;
  synced: boolean;
  /** `hiveId/markerKey` -> receive time, monotonic ms. */
  readonly arrived: Map<string, number>;
  /** hive id -> receive times of its HIVE_OFFLINE events. */
  readonly offline: Map<string, number[]>;
}

function onEvent(watch: QueenWatch, event: WatchEvent): void {
  const atMs = monotonicMs();
  if (!watch.synced) {
    if (event.type === WatchEventType.SYNCED) watch.synced = true;
    return;
  }
  if (event.type === WatchEventType.HIVE_OFFLINE) {
    const times = watch.offline.get(event.hiveId) ?? [];
    times.push(atMs);
    watch.offline.set(event.hiveId, times);
    return;
  }
  const marker = event.worker?.lastHeartbeat;
  if (event.type !== WatchEventType.WORKER_UPSERTED || marker === undefined) return;
  if (Number(marker.seconds) >= MAX_MARKER_SECONDS) return;
  const key = `${event.hiveId}/${markerKey(marker)}`;
  if (!watch.arrived.has(key)) watch.arrived.set(key, atMs);
}

function report(watches: readonly QueenWatch[], inEtcd: ReadonlyMap<string, number> | undefined, request: ReportRequest): ReportAnswer {
  const since = (change: SentChange, at: number | undefined): number | null => (at === undefined ? null : at - change.atMs);
  return {
    latencyMs: request.changes.map((change) => watches.map((w) => since(change, w.arrived.get(change.key)))),
    etcdMs: inEtcd === undefined ? [] : request.changes.map((change) => since(change, inEtcd.get(change.key))),
  };
}

/**
 * Watches the federation's hive records in etcd from now on and records, for every change marker, when the first
 * record holding it arrived. Resolves once the watch is established.
 */
async function watchEtcd(
  spec: NonNullable<WatchersSpec['etcd']>,
  arrived: Map<string, number>,
  writes: Record<string, { keys: number; revisions: number; last: bigint }>,
): Promise<() => void> {
  const store = new Etcd3Store({ endpoints: [spec.endpoint], timeoutMs: 5_000 });
  const prefix = `${spec.prefix}hives/`;
  const { revision } = await store.list(spec.prefix);
  let connected: () => void = () => undefined;
  const established = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const onEvents = (events: readonly EtcdEvent[]): void => {
    const atMs = monotonicMs();
    for (const { type, entry } of events) {
      // The part of the keys: hives/ (publications), catalog/hives/, catalog/tokens/, queens/.
      const rest = entry.key.slice(spec.prefix.length).split('/');
      const part = rest[0] === 'catalog' ? `catalog/${rest[1] ?? ''}` : (rest[0] ?? '');
      const counted = (writes[part] ??= { keys: 0, revisions: 0, last: -1n });
      counted.keys += 1;
      if (entry.modRevision !== counted.last) [counted.revisions, counted.last] = [counted.revisions + 1, entry.modRevision];
      if (type !== 'put' || !entry.key.startsWith(prefix)) continue;
      const hiveId = entry.key.slice(prefix.length);
      const record = decodeHiveRecord(hiveId, entry.value);
      if ('error' in record || record.kind !== 'hive') continue;
      for (const worker of record.hive.workers) {
        const marker = worker.lastHeartbeat;
        if (marker === undefined || marker.seconds >= MAX_MARKER_SECONDS) continue;
        const key = `${hiveId}/${marker.seconds}.${String(marker.nanos).padStart(9, '0')}`;
        if (!arrived.has(key)) arrived.set(key, atMs);
      }
    }
  };
  const watch = store.watch(spec.prefix, revision + 1n, { events: onEvents, compacted: () => undefined, connected });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the etcd watch was not established within ${SYNC_TIMEOUT_MS} ms`)), SYNC_TIMEOUT_MS);
  });
  try {
    await Promise.race([established, late]);
  } catch (error) {
    watch.cancel();
    store.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return () => {
    watch.cancel();
    store.close();
  };
}

/** One unary call by its lowerCamel name, with a request built from `schema`. */
async function call<T>(client: Client, name: string, schema: DescMessage, init: MessageInitShape<DescMessage>): Promise<T> {
  const method = unaryMethod(client, name);
  return new Promise((resolve, reject) => {
    const callback: UnaryCallback = (error, response) => (error === null ? resolve(response as T) : reject(error));
    method(create(schema, init), POLL_DEADLINE_MS, callback);
  });
}

/**
 * Polls every survivor until, on each, the survivors own (and show online) `request.survivorHives` hives with every
 * mover online, and every stranded hive is offline, or the timeout passes. ListQueens's `hives` (the online hives
 * each queen owns, as this queen sees them) and ListActiveHives are cheap: a poll that listed every worker would
 * load the queens while the hives move.
 */
async function failover(
  clients: readonly Client[],
  watches: readonly QueenWatch[],
  request: FailoverRequest,
): Promise<FailoverAnswer> {
  const survivors = request.survivors.map((queen) => ({
    queen,
    moversOnlineAtMs: null as number | null,
    strandedOfflineAtMs: null as number | null,
    polls: 0,
    last: { owned: 0, moversOnline: 0, strandedOnline: 0 },
  }));
  const deadline = request.killedAtMs + request.timeoutMs;
  while (monotonicMs() < deadline && survivors.some((s) => s.moversOnlineAtMs === null || s.strandedOfflineAtMs === null)) {
    await Promise.all(
      survivors.map(async (s) => {
        const client = clients[s.queen];
        if (client === undefined) throw new Error(`no client for queen ${s.queen}`);
        const [queens, active] = await Promise.all([
          call<ListQueensResponse>(client, 'listQueens', ListQueensRequestSchema, {}),
          call<ListActiveHivesResponse>(client, 'listActiveHives', ListActiveHivesRequestSchema, {}),
        ]);
        const atMs = monotonicMs();
        s.polls += 1;
        const online = new Set(active.hiveIds);
        const owned = queens.queens
          .filter((q) => q.queenId !== request.killedId)
          .reduce((sum, q) => sum + q.hives, 0);
        const moversOnline = request.movers.filter((id) => online.has(id)).length;
        const strandedOnline = request.stranded.filter((id) => online.has(id)).length;
        s.last = { owned, moversOnline, strandedOnline };
        if (s.moversOnlineAtMs === null && owned >= request.survivorHives && moversOnline === request.movers.length) {
          s.moversOnlineAtMs = atMs;
        }
        if (s.strandedOfflineAtMs === null && strandedOnline === 0) s.strandedOfflineAtMs = atMs;
      }),
    );
    await sleep(request.pollEveryMs);
  }
  const movers = new Set(request.movers);
  return {
    survivors: survivors.map((s) => {
      const watch = watches[s.queen];
      const after = (times: readonly number[] | undefined): number[] =>
        (times ?? []).filter((t) => t >= request.killedAtMs);
      const strandedTimes = request.stranded.map((id) => after(watch?.offline.get(id))[0]);
      const everyStranded = strandedTimes.every((t) => t !== undefined);
      let moverOfflineEvents = 0;
      for (const [id, times] of watch?.offline ?? []) if (movers.has(id)) moverOfflineEvents += after(times).length;
      return {
        ...s,
        strandedOfflineEventAtMs: everyStranded ? Math.max(...(strandedTimes as number[])) : null,
        moverOfflineEvents,
      };
    }),
  };
}

/**
 * The federation scenario's watchers (see WatchersSpec): one Watch per queen from revision 0; says 'synced' once
 * every one has its snapshot, then answers commands until stopped. A Watch that ends fails the child, unless its
 * queen was announced lost ('lose N').
 */
export async function runWatchers(
  spec: WatchersSpec,
  say: (event: FederationChildEvent) => void,
  stopped: () => boolean,
  onCommand: (listener: (command: string) => void) => void,
): Promise<void> {
  const clients = spec.addresses.map((address) => openClient(address, true));
  const lost = new Set<number>();
  const inEtcd = spec.etcd === undefined ? undefined : new Map<string, number>();
  const etcdWrites: Record<string, { keys: number; revisions: number; last: bigint }> = {};
  let problem: string | undefined;
  const watches = clients.map((client, queen): QueenWatch => {
    const watch: QueenWatch = {
      call: openWatch(client, create(WatchRequestSchema, {})),
      synced: false,
      arrived: new Map(),
      offline: new Map(),
    };
    watch.call.on('data', (event: WatchEvent) => onEvent(watch, event));
    const ended = (why: string): void => {
      if (!stopped() && !lost.has(queen)) problem ??= `the Watch on queen ${queen} ${why}`;
    };
    watch.call.on('error', (error: Error) => ended(`failed: ${error.message}`));
    watch.call.on('end', () => ended('was ended by the queen'));
    return watch;
  });

  onCommand((line) => {
    const text = line.trim();
    const space = text.indexOf(' ');
    const [command, rest] = space < 0 ? [text, ''] : [text.slice(0, space), text.slice(space + 1)];
    if (command === 'lose') lost.add(Number(rest));
    else if (command === 'etcd') {
      const writes = Object.fromEntries(Object.entries(etcdWrites).map(([part, c]) => [part, { keys: c.keys, revisions: c.revisions }]));
      say({ event: 'etcd', writes });
    }
    else if (command === 'report') {
      say({ event: 'report', answer: report(watches, inEtcd, JSON.parse(rest) as ReportRequest) });
    }
    else if (command === 'failover') {
      failover(clients, watches, JSON.parse(rest) as FailoverRequest).then(
        (answer) => say({ event: 'failover', answer }),
        (error: unknown) => {
          problem ??= `failover polling: ${error instanceof Error ? error.message : String(error)}`;
        },
      );
    }
  });

  const stopEtcd =
    spec.etcd === undefined || inEtcd === undefined ? undefined : await watchEtcd(spec.etcd, inEtcd, etcdWrites);
  const started = monotonicMs();
  while (problem === undefined && watches.some((w) => !w.synced) && monotonicMs() - started < SYNC_TIMEOUT_MS) {
    await sleep(10);
  }
  if (problem !== undefined) throw new Error(problem);
  if (watches.some((w) => !w.synced)) throw new Error(`a Watch was not synced within ${SYNC_TIMEOUT_MS} ms`);
  say({ event: 'synced' });
  while (!stopped() && problem === undefined && monotonicMs() - started < spec.maxLifetimeMs) await sleep(20);
  for (const w of watches) w.call.cancel();
  for (const client of clients) client.close();
  stopEtcd?.();
  if (problem !== undefined && !stopped()) throw new Error(problem);
}
