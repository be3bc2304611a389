import type { Logger } from 'pino';
import type { Clock } from '../common/clock.js';
import type { HiveRegistry } from '../registry/hive-registry.js';
import { EtcdUnavailableError, type EtcdCompare, type EtcdStore } from './etcd-store.js';
import type { FleetMirror } from './fleet-mirror.js';
import { decodeHiveRecord, encodePublishedHive, encodeRemoval } from './published-hive-codec.js';

/** Shortest time between two publications of one hive (the contract: at most once per hive per second). */
const MIN_PUBLISH_INTERVAL_MS = 1_000;
/**
 * A hive that has to wait for its second is published at its due time rounded up to a multiple of this, so one run
 * of the timer publishes every hive that came due within the slot: hives changing all the time take at most
 * 1000 / SLOT_MS runs a second between them, however many there are.
 */
const SLOT_MS = 50;
/** The slot of a hive that may be written at once: the timer fires as soon as the event loop is free. */
const AT_ONCE = Number.NEGATIVE_INFINITY;
/** Wait before trying again after etcd failed a publication. */
const RETRY_AFTER_FAILURE_MS = 500;
/** Claims that found the old owner still publishing, tried again before giving up. */
const MAX_CLAIM_ATTEMPTS = 4;

/** What the publisher reads of the registry. */
export type PublisherRegistry = Pick<HiveRegistry, 'allHiveIds' | 'hasHive' | 'ownsHive' | 'publication'>;
/** What the publisher reads and tells of the mirror of etcd's hive keys. */
export type PublisherMirror = Pick<FleetMirror, 'applyRemote' | 'claimSettled' | 'keyOf' | 'noteOwn' | 'stateOf'>;

/** What the publisher tells the rest of the queen. */
export interface PublisherEffects {
  /** Another queen won the hive: this queen's stream for it must end with ABORTED. */
  lostClaim(hiveId: string, owner: string): void;
}

/**
 * Writes the hives this queen owns to etcd under its lease, on change only and at most once per hive per second:
 * ticks never reach etcd. Each write compares the key's mod revision with the last one this queen wrote, so a
 * hive another queen took over is never written back:
 *
 * - a hive this queen publishes already: compare with its last write; on conflict the key is read, and another
 *   owner means the hive moved (that queen's stream supersedes this one's);
 * - a hive whose stream just opened here (a claim): compare with the revision the mirror last saw, so the claim
 *   takes over from a queen whose stream is older; a different queen claiming in between wins (the transaction
 *   decides);
 * - a rejoin (a new lease after a loss), or a hive offline here that this queen does not hold: only if no queen has
 *   a record of it;
 * - whatever the case, a hive online here (its stream is here) takes over a record that says it is offline;
 * - a hive removed here (RemoveHive, eviction, deregistration): a removal record every queen applies, then the
 *   key is deleted.
 */
export class HivePublisher {
  /** Hives whose key this queen wrote last: the mod revision of that write. */
  private readonly owned = new Map<string, bigint>();
  /** Hives to claim only if nobody owns them (this queen's keys went with an old lease). */
  private readonly rejoining = new Set<string>();
  /** Hives with something to write, and when it may be written (monotonic ms). */
  private readonly due = new Map<string, number>();
  /**
   * The hives of `due` not in flight, by the slot the timer publishes them in (AT_ONCE, or a multiple of SLOT_MS at
   * or after their due time). While a lease is held, slots span at most a second and a half ahead, so there are a
   * few dozen at most and the timer finds the next one without walking the hives. An entry whose hive was published or forgotten since,
   * or is due later now, is skipped when its slot comes: every due time set has its own entry.
   */
  private readonly slots = new Map<number, string[]>();
  private readonly lastWrite = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (a slot), +Infinity when none is armed. */
  private timerAt = Number.POSITIVE_INFINITY;
  private lease: string | undefined;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly self: string,
    private readonly registry: PublisherRegistry,
    private readonly mirror: PublisherMirror,
    private readonly clock: Clock,
    private readonly effects: PublisherEffects,
    private readonly logger: Logger,
  ) {}

  /** Whether this queen is claiming the hive: streamed here, not held in etcd, its claim due or in flight. */
  claiming(hiveId: string): boolean {
    return !this.owned.has(hiveId) && (this.due.has(hiveId) || this.inFlight.has(hiveId)) && this.registry.ownsHive(hiveId);
  }

  /** A payload was accepted for the hive: a hive this queen does not hold in etcd yet is claimed. Hot path: O(1). */
  accepted(hiveId: string): void {
    if (!this.owned.has(hiveId) && !this.due.has(hiveId) && !this.inFlight.has(hiveId)) this.touch(hiveId);
  }

  /** Something watchers see changed for the hive (a registry event). */
  changed(hiveId: string): void {
    if (this.owned.has(hiveId) || this.registry.ownsHive(hiveId)) this.touch(hiveId);
  }

  /** The hive is another queen's now, or removed, or its key is gone: forget this queen's write. */
  ownershipLost(hiveId: string): void {
    this.owned.delete(hiveId);
    this.rejoining.delete(hiveId);
    // A hive still streamed here whose key went with an old lease: claimed again once a lease is held.
    if (this.registry.ownsHive(hiveId)) {
      this.rejoining.add(hiveId);
      this.touch(hiveId);
    } else {
      this.due.delete(hiveId);
    }
  }

  /** A lease is held: write under it. After a loss every hive still streamed here is claimed again, if free. */
  leaseGranted(lease: string, afterLoss: boolean): void {
    this.lease = lease;
    if (afterLoss) {
      this.owned.clear();
      const now = this.clock.now();
      for (const hiveId of this.registry.allHiveIds()) {
        if (this.registry.ownsHive(hiveId)) {
          this.rejoining.add(hiveId);
          this.setDue(hiveId, now, now);
        }
      }
    }
    this.armEarliest();
  }

  /** No lease now: nothing is written until the next one. */
  leaseLost(): void {
    this.lease = undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private touch(hiveId: string): void {
    if (this.due.has(hiveId)) return;
    const last = this.lastWrite.get(hiveId);
    const now = this.clock.now();
    this.setDue(hiveId, last === undefined ? now : Math.max(now, last + MIN_PUBLISH_INTERVAL_MS), now);
  }

  /**
   * The hive may be written from `at` (monotonic ms) on. O(1): its slot's timer is armed unless one fires earlier.
   * A hive in flight is slotted when its publication settles.
   */
  private setDue(hiveId: string, at: number, now: number): void {
    this.due.set(hiveId, at);
    if (this.inFlight.has(hiveId)) return;
    // Rounded up, never down: no hive is written before its due time, so the second between two writes holds.
    const slot = at <= now ? AT_ONCE : Math.ceil(at / SLOT_MS) * SLOT_MS;
    const hiveIds = this.slots.get(slot);
    if (hiveIds === undefined) this.slots.set(slot, [hiveId]);
    else hiveIds.push(hiveId);
    this.arm(slot);
  }

  /** Arms the timer for `slot` unless it fires by then already. */
  private arm(slot: number): void {
    // Without a lease nothing can be written: what is due waits, and the next lease arms the timer.
    if (this.stopped || this.lease === undefined || slot >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = slot;
    this.timer = setTimeout(() => this.run(), Math.max(0, slot - this.clock.now()));
    this.timer.unref();
  }

  private armEarliest(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const slot of this.slots.keys()) if (slot < next) next = slot;
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }

  /** Publishes the hives of every slot that has come: one batch per run. */
  private run(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.stopped || this.lease === undefined) return;
    const lease = this.lease;
    const now = this.clock.now();
    for (const [slot, hiveIds] of this.slots) {
      if (slot > now) continue;
      this.slots.delete(slot);
      for (const hiveId of hiveIds) {
        const at = this.due.get(hiveId);
        // Published or forgotten since, in flight (slotted again when it settles), or due later (slotted for then).
        if (at === undefined || at > now || this.inFlight.has(hiveId)) continue;
        this.due.delete(hiveId);
        this.inFlight.add(hiveId);
        this.lastWrite.set(hiveId, now);
        this.publish(hiveId, lease).then(
          () => this.settled(hiveId, true),
          (error: unknown) => this.failed(hiveId, error),
        );
      }
    }
    this.armEarliest();
  }

  private settled(hiveId: string, ok: boolean): void {
    this.inFlight.delete(hiveId);
    this.mirror.claimSettled(hiveId);
    if (ok && this.failing) {
      this.failing = false;
      this.logger.info('publishing hives to etcd again');
    }
    // Changed while in flight: written a second after the write that just settled.
    const at = this.due.get(hiveId);
    if (at !== undefined) this.setDue(hiveId, at, this.clock.now());
  }

  private failed(hiveId: string, error: unknown): void {
    if (!(error instanceof EtcdUnavailableError)) {
      this.logger.error({ hiveId, err: error }, 'publishing a hive failed');
    } else if (!this.failing) {
      this.failing = true;
      this.logger.warn({ err: error.message }, 'cannot publish hives to etcd; retrying until it answers');
    }
    this.inFlight.delete(hiveId);
    // Written again later, whatever changed meanwhile: the latest state is read at that time.
    const now = this.clock.now();
    this.setDue(hiveId, this.due.get(hiveId) ?? now + RETRY_AFTER_FAILURE_MS, now);
    this.mirror.claimSettled(hiveId);
  }

  private async publish(hiveId: string, lease: string): Promise<void> {
    const key = this.mirror.keyOf(hiveId);
    const publication = this.registry.publication(hiveId, this.self);
    const ownRevision = this.owned.get(hiveId);
    if (publication === undefined) {
      // Gone from this queen (removed or evicted) while it held the key: a removal every queen applies.
      if (ownRevision !== undefined && !this.registry.hasHive(hiveId)) await this.remove(hiveId, ownRevision);
      else this.owned.delete(hiveId);
      return;
    }
    const value = encodePublishedHive(publication);
    let expected: EtcdCompare;
    let claimFrom: string | undefined;
    if (ownRevision !== undefined) {
      expected = { key, target: 'mod', op: '=', revision: ownRevision };
    } else if (this.rejoining.has(hiveId) || !publication.online) {
      // A rejoin, or a hive whose stream here has ended: written only where no queen has a record.
      expected = { key, target: 'create', op: '=', revision: 0n };
    } else {
      const seen = this.mirror.stateOf(hiveId);
      claimFrom = seen?.owner;
      expected = seen === undefined ? { key, target: 'create', op: '=', revision: 0n } : { key, target: 'mod', op: '=', revision: seen.modRevision };
    }
    for (let attempt = 1; ; attempt += 1) {
      const result = await this.store.txn([expected], [{ put: key, value, lease }], [{ get: key }]);
      if (result.succeeded) {
        this.owned.set(hiveId, result.revision);
        this.rejoining.delete(hiveId);
        this.mirror.noteOwn(hiveId, { owner: this.self, modRevision: result.revision });
        return;
      }
      const current = result.gets[0];
      if (current === undefined) {
        // The key is gone (its lease ended, or a removal was cleared): free to take, whoever held it.
        expected = { key, target: 'create', op: '=', revision: 0n };
        this.owned.delete(hiveId);
        if (attempt < MAX_CLAIM_ATTEMPTS) continue;
        return;
      }
      const decoded = decodeHiveRecord(hiveId, current.value);
      const record = 'error' in decoded || decoded.kind !== 'hive' ? undefined : decoded.hive;
      const owner = record?.owner;
      // Written over, from the record's revision: our own record, newer than we knew (a write whose answer was
      // lost); a record saying the hive is offline while its stream is here (no queen holds it: such a record is
      // what a queen back from a partition writes for a hive whose stream ended there while it moved here); or,
      // for a fresh claim, the previous owner still writing (its stream's end, a last change).
      const fresh = ownRevision === undefined && !this.rejoining.has(hiveId);
      const takeOver =
        owner === this.self ||
        (record !== undefined && ((publication.online && !record.online) || (fresh && record.owner === claimFrom)));
      if (takeOver && attempt < MAX_CLAIM_ATTEMPTS) {
        expected = { key, target: 'mod', op: '=', revision: current.modRevision };
        continue;
      }
      if (owner === this.self) return;
      // Another queen owns the hive: the transaction decided.
      this.owned.delete(hiveId);
      this.rejoining.delete(hiveId);
      if (record !== undefined) {
        this.mirror.noteOwn(hiveId, { owner: record.owner, modRevision: current.modRevision });
        this.mirror.applyRemote(record);
      }
      this.logger.info({ hiveId, owner: owner ?? '(removed)' }, 'hive owned by another queen: this queen lets it go');
      this.effects.lostClaim(hiveId, owner ?? '');
      return;
    }
  }

  /** Writes the removal record (every queen removes the hive), then deletes it. */
  private async remove(hiveId: string, ownRevision: bigint): Promise<void> {
    const key = this.mirror.keyOf(hiveId);
    const result = await this.store.txn([{ key, target: 'mod', op: '=', revision: ownRevision }], [{ put: key, value: encodeRemoval(this.self) }]);
    this.owned.delete(hiveId);
    if (!result.succeeded) return; // another queen owns it by now: its record stands
    this.mirror.noteOwn(hiveId, undefined);
    await this.store.txn([{ key, target: 'mod', op: '=', revision: result.revision }], [{ delete: key }]);
  }

  /** RemoveHive of a hive another queen owns: the removal record, which its owner and every queen apply. */
  async removeRemote(hiveId: string): Promise<void> {
    const key = this.mirror.keyOf(hiveId);
    const revision = await this.store.put(key, encodeRemoval(this.self));
    this.mirror.noteOwn(hiveId, undefined);
    await this.store.txn([{ key, target: 'mod', op: '=', revision }], [{ delete: key }]);
  }
}
