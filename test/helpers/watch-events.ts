// Test helpers for hive.v1.HiveRegistry/Watch: a raw grpc-js Watch call that records what it receives, compact
// summaries of events, and a local model of the registry built from the typed client's WatchUpdates.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { credentials, status, type Client, type ClientReadableStream, type StatusObject } from '@grpc/grpc-js';
import { HiveRegistry, WatchEventType, WatchRequestSchema, type WatchEvent } from '../../gen/hive/v1/registry_pb';
import type { WatchUpdate } from '../../src/client/watch-stream';
import type { Worker, WorkerEntry } from '../../src/common/worker';
import { rawClient } from '../../src/client/unary-client';
import type { QueenServer } from '../../src/server/queen-server';

export type WatchRequestInit = MessageInitShape<typeof WatchRequestSchema>;

/** How long a wait for events or a status lasts before the test fails with a readable message. */
export const WATCH_WAIT_MS = 5_000;

/** Open Watch calls on the queen. */
export function openWatchCount(queen: QueenServer): number {
  return queen.openWatches;
}

/** "HIVE_ONLINE hive-a online @1", "WORKER_UPSERTED hive-a/w-1 online @2", "SYNCED @0". */
export function summary(event: WatchEvent): string {
  const type = WatchEventType[event.type] ?? String(event.type);
  if (event.type === WatchEventType.SYNCED || event.type === WatchEventType.RESYNC) {
    return `${type}${event.hiveId === '' ? '' : ` ${event.hiveId}`} @${event.revision}`;
  }
  const subject = event.worker === undefined ? event.hiveId : `${event.hiveId}/${event.worker.workerId}`;
  return `${type} ${subject} ${event.hiveOnline ? 'online' : 'offline'} @${event.revision}`;
}

export function summaries(events: readonly WatchEvent[]): string[] {
  return events.map(summary);
}

/** Resolves with `promise`, or rejects after `ms` with `what` in the message. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One raw Watch call on its own channel. Every event received is kept in `events`; `take(n)` hands out the next n
 * not taken yet (waiting for them, bounded). `status` resolves with the call's final status.
 */
export class RawWatch {
  readonly events: WatchEvent[] = [];
  readonly status: Promise<StatusObject>;
  private taken = 0;
  private finalStatus: StatusObject | undefined;
  private readonly wakers = new Set<() => void>();
  private readonly client: Client;
  private readonly call: ClientReadableStream<WatchEvent>;

  constructor(address: string, request: WatchRequestInit = {}) {
    this.client = rawClient(HiveRegistry, address, credentials.createInsecure());
    const method = (this.client as unknown as Record<string, ((request: unknown) => unknown) | undefined>)['watch'];
    if (method === undefined) throw new Error('generic HiveRegistry client has no watch method');
    this.call = method.call(this.client, create(WatchRequestSchema, request)) as ClientReadableStream<WatchEvent>;
    this.call.on('data', (event: WatchEvent) => {
      this.events.push(event);
      this.wake();
    });
    this.call.on('error', () => undefined); // reported through 'status'
    this.status = new Promise((resolve) => {
      this.call.on('status', (callStatus: StatusObject) => {
        this.finalStatus = callStatus;
        resolve(callStatus);
        this.wake();
      });
    });
  }

  /** True once the call has its final status. */
  get ended(): boolean {
    return this.finalStatus !== undefined;
  }

  /** Events received and not yet taken. */
  get untaken(): number {
    return this.events.length - this.taken;
  }

  /** Waits (bounded) until `condition` holds; re-checked on every event and on the status. */
  async until(condition: () => boolean, what: string, timeoutMs = WATCH_WAIT_MS): Promise<void> {
    if (condition()) return;
    let waker: (() => void) | undefined;
    const met = new Promise<void>((resolve) => {
      waker = () => {
        if (condition()) resolve();
      };
      this.wakers.add(waker);
    });
    try {
      await within(met, timeoutMs, `${what}; received so far: ${JSON.stringify(summaries(this.events))}${this.statusText()}`);
    } finally {
      if (waker !== undefined) this.wakers.delete(waker);
    }
  }

  /** The next `count` events not taken yet; fails if they do not all arrive in time or the call ends first. */
  async take(count: number, timeoutMs = WATCH_WAIT_MS): Promise<WatchEvent[]> {
    const want = this.taken + count;
    await this.until(() => this.events.length >= want || this.ended, `${count} more event(s)`, timeoutMs);
    if (this.events.length < want) {
      throw new Error(
        `the call ended${this.statusText()} after ${this.events.length - this.taken} of ${count} more event(s): ` +
          JSON.stringify(summaries(this.events.slice(this.taken))),
      );
    }
    const events = this.events.slice(this.taken, want);
    this.taken = want;
    return events;
  }

  /** The events up to and including the first (not taken yet) that matches `predicate`. */
  async takeThrough(predicate: (event: WatchEvent) => boolean, timeoutMs = WATCH_WAIT_MS): Promise<WatchEvent[]> {
    const found = (): number => this.events.findIndex((event, index) => index >= this.taken && predicate(event));
    await this.until(() => found() >= 0 || this.ended, 'a matching event', timeoutMs);
    const index = found();
    if (index < 0) throw new Error(`the call ended${this.statusText()} without a matching event`);
    const events = this.events.slice(this.taken, index + 1);
    this.taken = index + 1;
    return events;
  }

  /** Through the next SYNCED. */
  takeSynced(timeoutMs = WATCH_WAIT_MS): Promise<WatchEvent[]> {
    return this.takeThrough((event) => event.type === WatchEventType.SYNCED, timeoutMs);
  }

  /** The final status, bounded. */
  ends(timeoutMs = WATCH_WAIT_MS): Promise<StatusObject> {
    return within(this.status, timeoutMs, 'the end of the Watch call');
  }

  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  cancel(): void {
    this.call.cancel();
  }

  /** Cancels the call if still open and closes the channel. */
  close(): void {
    if (!this.ended) this.call.cancel();
    this.client.close();
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }

  private statusText(): string {
    const s = this.finalStatus;
    return s === undefined ? '' : ` (status ${status[s.code]} "${s.details}")`;
  }
}

/** Every RawWatch opened through it, closed by `closeAll()` (call it in afterEach). */
export class RawWatches {
  private readonly open: RawWatch[] = [];

  constructor(private readonly address: () => string) {}

  watch(request: WatchRequestInit = {}): RawWatch {
    const watch = new RawWatch(this.address(), request);
    this.open.push(watch);
    return watch;
  }

  closeAll(): void {
    for (const watch of this.open.splice(0)) watch.close();
  }
}

/** One hive as a watcher knows it. */
export interface ModelHive {
  online: boolean;
  readonly workers: Map<string, Worker>;
}

/**
 * A watcher's local copy of the registry, built only from WatchUpdates: RESYNC clears it, snapshot events fill it,
 * SYNCED marks it caught up. Records every breach of the Watch contract it can see (revision gaps, an event for an
 * unknown hive or worker, a snapshot event off the snapshot's revision) in `violations`.
 *
 * `position` is where a consumer may resume: the revision of the last SYNCED, or of the last live or replayed
 * event. It does not move inside a snapshot: a snapshot event's revision is the state's as of the whole snapshot, which
 * the consumer holds only once SYNCED arrives.
 */
export class WatchModel {
  readonly hives = new Map<string, ModelHive>();
  synced = false;
  position: { revision: number; epoch: string } = { revision: 0, epoch: '' };
  readonly violations: string[] = [];
  /** Counts of what happened, for asserting that the run exercised replays and resyncs. */
  readonly counts = { events: 0, resync: 0, synced: 0, snapshotEvents: 0, liveEvents: 0 };
  /** Inside a call, before SYNCED: whether a snapshot is coming (a call from 0, or after RESYNC) or a replay. */
  private expectSnapshot = false;
  private snapshotRevision: number | undefined;
  private readonly listeners = new Set<() => void>();

  /** A new call begins, from `position` (0: a snapshot follows; else a replay, or RESYNC and a snapshot). */
  beginCall(): void {
    if (this.position.revision === 0) this.hives.clear();
    this.synced = false;
    this.expectSnapshot = this.position.revision === 0;
    this.snapshotRevision = undefined;
  }

  apply(update: WatchUpdate): void {
    this.counts.events += 1;
    const where = `${update.type} ${update.hiveId}${update.workerId === undefined ? '' : `/${update.workerId}`} @${update.revision}`;
    switch (update.type) {
      case 'resync':
        this.counts.resync += 1;
        // Also what a self-resuming iterator yields after its own reconnect: a new call's start.
        this.hives.clear();
        this.synced = false;
        this.expectSnapshot = true;
        this.snapshotRevision = update.revision;
        break;
      case 'synced':
        this.counts.synced += 1;
        if (this.expectSnapshot) {
          if (this.snapshotRevision !== undefined && update.revision !== this.snapshotRevision) {
            this.violations.push(`${where}: SYNCED off the snapshot's revision ${this.snapshotRevision}`);
          }
        } else if (update.revision !== this.position.revision) {
          this.violations.push(`${where}: SYNCED after a replay that ended at ${this.position.revision}`);
        }
        this.synced = true;
        this.position = { revision: update.revision, epoch: update.epoch };
        break;
      default:
        this.applyChange(update, where);
    }
    for (const listener of [...this.listeners]) listener();
  }

  /** Waits (bounded) until `condition` holds, re-checked after every update. */
  async until(condition: () => boolean, what: string, timeoutMs = WATCH_WAIT_MS): Promise<void> {
    if (condition()) return;
    let listener: (() => void) | undefined;
    const met = new Promise<void>((resolve) => {
      listener = () => {
        if (condition()) resolve();
      };
      this.listeners.add(listener);
    });
    try {
      await within(met, timeoutMs, `${what} (model at ${JSON.stringify(this.position)}, synced ${this.synced})`);
    } finally {
      if (listener !== undefined) this.listeners.delete(listener);
    }
  }

  /** Hive ids, sorted. */
  hiveIds(): string[] {
    return [...this.hives.keys()].sort();
  }

  /** Online hive ids, sorted. */
  onlineHiveIds(): string[] {
    return this.hiveIds().filter((id) => this.hives.get(id)?.online === true);
  }

  /** Every worker as ListAllWorkers reports it: sorted by hive id, then worker id. */
  entries(): WorkerEntry[] {
    const entries: WorkerEntry[] = [];
    for (const hiveId of this.hiveIds()) {
      const hive = this.hives.get(hiveId) as ModelHive;
      for (const workerId of [...hive.workers.keys()].sort()) {
        entries.push({ hiveId, worker: hive.workers.get(workerId) as Worker, hiveOnline: hive.online });
      }
    }
    return entries;
  }

  private applyChange(update: WatchUpdate, where: string): void {
    const snapshotEvent = !this.synced && this.expectSnapshot;
    if (snapshotEvent) {
      this.counts.snapshotEvents += 1;
      this.snapshotRevision ??= update.revision;
      if (update.revision !== this.snapshotRevision) {
        this.violations.push(`${where}: snapshot event off the snapshot's revision ${this.snapshotRevision}`);
      }
    } else {
      // A live event, or one of a replay: each at its own next revision, in the epoch of the position.
      this.counts.liveEvents += 1;
      if (update.revision !== this.position.revision + 1) {
        this.violations.push(`${where}: expected revision ${this.position.revision + 1}`);
      }
      if (update.epoch !== this.position.epoch) {
        this.violations.push(`${where}: epoch ${update.epoch}, expected ${this.position.epoch}`);
      }
      this.position = { revision: update.revision, epoch: update.epoch };
    }
    let hive = this.hives.get(update.hiveId);
    switch (update.type) {
      case 'hive_online':
      case 'hive_offline':
        if (update.hiveOnline !== (update.type === 'hive_online')) this.violations.push(`${where}: hive_online flag`);
        if (hive === undefined) {
          if (!snapshotEvent && update.type === 'hive_offline') this.violations.push(`${where}: unknown hive`);
          hive = { online: update.hiveOnline, workers: new Map() };
          this.hives.set(update.hiveId, hive);
        } else if (!snapshotEvent && hive.online === (update.type === 'hive_online')) {
          this.violations.push(`${where}: the hive was already announced ${hive.online ? 'online' : 'offline'}`);
        }
        hive.online = update.type === 'hive_online';
        break;
      case 'hive_removed':
        if (hive === undefined) this.violations.push(`${where}: removal of a hive the watcher does not hold`);
        if (update.hiveOnline) this.violations.push(`${where}: hive_online true on removal`);
        this.hives.delete(update.hiveId);
        break;
      case 'worker_upserted':
        if (hive === undefined || update.worker === undefined) {
          this.violations.push(`${where}: worker of a hive the watcher does not hold, or without a worker`);
          break;
        }
        if (update.hiveOnline !== hive.online) this.violations.push(`${where}: hive_online ${update.hiveOnline} vs ${hive.online}`);
        hive.workers.set(update.worker.workerId, update.worker);
        break;
      case 'worker_removed':
        if (hive === undefined || update.workerId === undefined || !hive.workers.delete(update.workerId)) {
          this.violations.push(`${where}: removal of a worker the watcher does not hold`);
        }
        break;
    }
  }
}
