import type { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { quote } from './ids.js';
import type { PendingEvent } from './event-log.js';
import { heartbeatRejection, type StreamRecord } from './heartbeat-rejection.js';
import { newHiveRecord, takeSnapshot, type HiveRecord } from './hive-record.js';
import { RegistryReads } from './registry-reads.js';
import type {
  Departure,
  Heartbeat,
  HeartbeatOutcome,
  PublishedHive,
  RegistryOptions,
  SnapshotObserver,
  StreamId,
} from './types.js';
import { workerEvents } from './worker-diff.js';
import type { OnlineCheck } from './worker-holders.js';

/**
 * The queen's in-memory registry of hives and their workers, fed only by heartbeats.
 *
 * Liveness follows etcd's leases: each accepted payload renews the hive's lease. A hive is online while its
 * stream is open and its last accepted payload is younger than `offlineAfterMs`; it is evicted once that payload
 * is `evictAfterMs` old. Ages are in lease time: the queen's monotonic clock minus the stalls it reported
 * (`reportStall`), when it could not read heartbeats. Detecting what is due (`evictExpired`) and acting on it
 * (ending streams) are separate steps: the registry returns the streams to end, the adapter ends them.
 *
 * Every change watchers care about is an event with its own revision (see `RegistryEvent`), appended once the
 * mutation's state change is complete. Liveness as announced by events is decided when something happens: an
 * accepted payload, a stream's end, or the sweep's `lapsedLeases`; so for up to one sweep after the threshold a hive
 * can be offline by `isHiveOnline` and still announced online.
 *
 * Every method runs to completion without awaiting, so the state is consistent between calls. Reads return
 * snapshots built from immutable worker and device objects.
 */
export class HiveRegistry extends RegistryReads {
  private readonly streams = new Map<StreamId, StreamRecord>();
  private nextStreamId: StreamId = 1;

  /** Throws RangeError for options out of range (see RegistryOptions). */
  constructor(
    clock: Clock,
    options: RegistryOptions,
    private readonly observer?: SnapshotObserver,
  ) {
    super(clock, options);
    const { maxHives } = options;
    if (maxHives !== undefined && (!Number.isSafeInteger(maxHives) || maxHives < 1)) {
      throw new RangeError(`maxHives must be an integer >= 1, got ${maxHives}`);
    }
  }

  // ---- heartbeat streams --------------------------------------------------------------------------------------

  /** Registers a new heartbeat stream; it belongs to no hive until its first accepted payload. */
  openStream(): StreamId {
    const id = this.nextStreamId++;
    this.streams.set(id, {});
    return id;
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * Forgets a stream (client ended it, cancelled, or the server ended it). If it owned its hive, the hive is
   * offline from now on (`hive_offline`, unless a lapse announced it already); its snapshot stays until eviction.
   * Idempotent.
   */
  closeStream(stream: StreamId): void {
    const record = this.streams.get(stream);
    if (record === undefined) return;
    this.streams.delete(stream);
    if (record.hiveId === undefined) return;
    const hive = this.hives.get(record.hiveId);
    if (hive === undefined || hive.stream !== stream) return;
    hive.stream = undefined;
    const events: PendingEvent[] = [];
    this.announceOffline(hive, events);
    this.events.append(events);
  }

  /**
   * Applies one payload received on `stream`. An accepted full snapshot replaces the hive's workers and devices;
   * an accepted tick only renews liveness. Either way the stream becomes the hive's owner, and a previous owner
   * is returned as `superseded` (already closed here; the adapter ends it with ABORTED). Events: `hive_online`
   * if the hive was not announced online, then one per changed worker.
   */
  applyHeartbeat(stream: StreamId, heartbeat: Heartbeat): HeartbeatOutcome {
    const streamRecord = this.streams.get(stream);
    if (streamRecord === undefined) {
      throw new DomainError('failed_precondition', `heartbeat stream ${stream} is not open`);
    }
    let hive = this.hives.get(heartbeat.hiveId);
    // Only a snapshot's workers need the holders' liveness (a tick, the most common payload, reads no clock here).
    let isOnline: OnlineCheck | undefined;
    const rejection = heartbeatRejection(streamRecord, heartbeat, hive?.claimedMeanwhile, (workerId) =>
      this.workerHolders.onlineHolderOtherThan(workerId, heartbeat.hiveId, (isOnline ??= this.onlineCheck())),
    );
    if (rejection !== undefined) return { accepted: false, ...rejection };

    const maxHives = this.options.maxHives ?? Number.POSITIVE_INFINITY;
    if (hive === undefined && this.hives.size >= maxHives) {
      return {
        accepted: false,
        reason: 'max_hives',
        error: `hive_id: the registry already knows its maximum of ${maxHives} hives; hive ${quote(heartbeat.hiveId)} cannot join until one is removed or evicted`,
      };
    }
    if (hive === undefined) {
      hive = newHiveRecord(heartbeat, this.clock.wallNow());
      this.hives.set(hive.hiveId, hive);
      this.sortedHiveIds = undefined;
    }

    // A hive another queen owned is this queen's from its first payload here (the federation settles the claim).
    hive.owner = undefined;
    let superseded: StreamId | undefined;
    if (hive.stream !== undefined && hive.stream !== stream) {
      superseded = hive.stream;
      this.streams.delete(superseded);
    }
    hive.stream = stream;
    streamRecord.hiveId = hive.hiveId;
    streamRecord.lastSequence = heartbeat.sequence;

    const events: PendingEvent[] = [];
    if (hive.announcedOnline !== true) {
      hive.announcedOnline = true;
      events.push({ type: 'hive_online', hiveId: hive.hiveId, hiveOnline: true });
    }
    if (!heartbeat.unchanged) this.replaceSnapshot(hive, heartbeat, events);
    else this.observer?.heartbeatAccepted?.(hive.hiveId);
    hive.sequence = heartbeat.sequence;
    hive.senderTime = heartbeat.senderTime;
    hive.lastAcceptedWallMs = this.clock.wallNow();
    hive.lapseReported = false;
    this.leases.renew(hive);
    if (events.length > 0) this.events.append(events);

    return superseded === undefined
      ? { accepted: true, hiveId: hive.hiveId }
      : { accepted: true, hiveId: hive.hiveId, superseded };
  }

  private replaceSnapshot(hive: HiveRecord, heartbeat: Heartbeat, events: PendingEvent[]): void {
    const previous = takeSnapshot(hive, heartbeat);
    this.workerHolders.replace(hive.hiveId, previous, hive.workers, (holderHiveId, claim) => {
      const holder = this.hives.get(holderHiveId);
      if (holder !== undefined) holder.claimedMeanwhile = claim;
    });
    this.observer?.snapshotReplaced(hive.hiveId, hive.workers, hive.devices);
    workerEvents(hive.hiveId, previous, hive.workers, events);
  }

  // ---- hives other queens own (a federation) --------------------------------------------------------------------

  /**
   * Takes a hive as the queen that owns it published it: read-only here, online while its owner says so, never
   * aged by this queen's clock. If this queen held the hive's stream, the other queen has taken it over: the
   * stream is returned as `superseded` (already closed here; the adapter ends it with ABORTED). Events as for a
   * payload: `hive_online` or `hive_offline` when the published liveness differs from the announced one, and one per
   * changed worker. The owner checked the snapshot (ids, limits, claims), so nothing is rejected here.
   */
  applyRemote(published: PublishedHive): { readonly superseded?: StreamId } {
    let hive = this.hives.get(published.hiveId);
    if (hive === undefined) {
      hive = newHiveRecord(published, published.lastHeartbeatWallMs);
      this.hives.set(hive.hiveId, hive);
      this.sortedHiveIds = undefined;
    }
    let superseded: StreamId | undefined;
    if (hive.stream !== undefined) {
      superseded = hive.stream;
      this.streams.delete(superseded);
      hive.stream = undefined;
    }
    const wasOffline = hive.announcedOnline !== true;
    hive.owner = published.owner;
    hive.lapseReported = false;

    const events: PendingEvent[] = [];
    if (published.online && hive.announcedOnline !== true) {
      hive.announcedOnline = true;
      events.push({ type: 'hive_online', hiveId: hive.hiveId, hiveOnline: true });
    }
    // Published on change only, so each publication is a new snapshot; the diff finds what changed in it.
    this.replaceSnapshot(hive, { ...published, unchanged: false }, events);
    if (!published.online) this.announceOffline(hive, events);
    hive.sequence = published.sequence;
    hive.senderTime = published.senderTime;
    hive.lastAcceptedWallMs = published.lastHeartbeatWallMs;
    // Online: never evicted here (its owner evicts it). Offline: evicted `evictAfterMs` after this queen learned it.
    if (published.online) this.leases.delete(hive.hiveId);
    else if (!wasOffline || hive.renewedAtMs === 0) this.leases.renew(hive);
    if (events.length > 0) this.events.append(events);
    return superseded === undefined ? {} : { superseded };
  }

  /**
   * The hive's owner no longer publishes it (its lease ended: the queen died or was cut off), or this queen lost
   * sight of the federation: the hive is offline here (`hive_offline`) and evicted `evictAfterMs` later, unless a
   * queen publishes it again. `owner` guards against a late notice: nothing happens if another queen (or this one)
   * owns the hive by now. Undefined `owner`: whoever owns it, as long as it is remote.
   */
  remoteGone(hiveId: string, owner?: string): void {
    const hive = this.hives.get(hiveId);
    if (hive === undefined || hive.owner === undefined || (owner !== undefined && hive.owner !== owner)) return;
    if (hive.announcedOnline === true || hive.renewedAtMs === 0) this.leases.renew(hive);
    const events: PendingEvent[] = [];
    this.announceOffline(hive, events);
    this.events.append(events);
  }

  // ---- removal and eviction -----------------------------------------------------------------------------------

  /**
   * Removes a hive now (`hive_removed`). Returns undefined for an unknown hive; else the stream to end, if it had
   * one open.
   */
  removeHive(hiveId: string): Departure | undefined {
    const hive = this.hives.get(hiveId);
    if (hive === undefined) return undefined;
    const events: PendingEvent[] = [];
    const departure = this.drop(hive, events);
    this.events.append(events);
    return departure;
  }

  /**
   * Removes every hive whose last accepted payload is at least `evictAfterMs` old, oldest first, and returns
   * them with the streams still open for them (to be ended by the caller); `hive_removed` for each. Idempotent: a
   * second call at the same time returns nothing.
   */
  evictExpired(): Departure[] {
    const departed: Departure[] = [];
    const events: PendingEvent[] = [];
    for (const hive of this.leases.expired(this.options.evictAfterMs)) departed.push(this.drop(hive, events));
    this.events.append(events);
    return departed;
  }

  /**
   * Hives that went offline by silence since the last call: their stream is still open but no payload was accepted
   * for `offlineAfterMs`. Each lapse is reported once (a hive that ended its stream is not reported: that was
   * already seen). Oldest first. For operators: a hive that stops heartbeating without hanging up is a symptom.
   * This is also where silence is announced: `hive_offline` for each hive reported, so the caller's sweep period
   * bounds how late that comes.
   */
  lapsedLeases(): string[] {
    const lapsed: string[] = [];
    const events: PendingEvent[] = [];
    for (const hive of this.leases.expired(this.options.offlineAfterMs)) {
      if (hive.stream === undefined || hive.lapseReported === true) continue;
      hive.lapseReported = true;
      lapsed.push(hive.hiveId);
      this.announceOffline(hive, events);
    }
    this.events.append(events);
    return lapsed;
  }

  /** Monotonic time (`Clock.now()`) at which the next eviction is due, or undefined when the registry is empty. */
  nextEvictionAt(): number | undefined {
    return this.leases.nextExpiryAt(this.options.evictAfterMs);
  }

  /**
   * The queen could not run for `stalledMs` (event loop blocked, process paused): that time does not count toward
   * any hive's lease.
   */
  reportStall(stalledMs: number): void {
    this.leases.reportStall(stalledMs);
  }

  private drop(hive: HiveRecord, events: PendingEvent[]): Departure {
    events.push({ type: 'hive_removed', hiveId: hive.hiveId, hiveOnline: false });
    this.workerHolders.removeAll(hive.hiveId, hive.workers);
    this.observer?.hiveRemoved(hive.hiveId);
    this.hives.delete(hive.hiveId);
    this.leases.delete(hive.hiveId);
    this.sortedHiveIds = undefined;
    const stream = hive.stream;
    if (stream === undefined) return { hiveId: hive.hiveId };
    this.streams.delete(stream);
    return { hiveId: hive.hiveId, stream };
  }

  private announceOffline(hive: HiveRecord, events: PendingEvent[]): void {
    if (hive.announcedOnline !== true) return;
    hive.announcedOnline = false;
    events.push({ type: 'hive_offline', hiveId: hive.hiveId, hiveOnline: false });
  }
}
