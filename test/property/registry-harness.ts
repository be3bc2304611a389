import { DomainError } from '../../src/common/domain-error';
import { ManualClock } from '../../src/common/manual-clock';
import type { Worker } from '../../src/common/worker';
import { HiveRegistry } from '../../src/registry/hive-registry';
import { compareIds } from '../../src/registry/ids';
import type { Heartbeat, HeartbeatOutcome, StreamId } from '../../src/registry/types';
import { SchedulingIndex } from '../../src/scheduler/scheduling-index';
import {
  EVICT_AFTER_MS,
  HIVE_IDS,
  ODD_HIVE_IDS,
  OFFLINE_AFTER_MS,
  type Action,
  type SendAction,
} from './domain-arbitraries';
import { EventReplica } from './event-replica';
import { checkInvariants, expectSame, takeSnapshot, type RegistrySnapshot } from './registry-invariants';

export interface HarnessOptions {
  /** Payloads are field-valid (what the adapter hands over): picks are compared and sequences stay uint64. */
  readonly validInput: boolean;
  /**
   * Hold the registry to worker-id exclusivity: at most one online holder per id, and a tick refused after another
   * hive claimed one of the hive's workers while it was offline.
   */
  readonly exclusiveWorkerIds: boolean;
}

/** The test's own record of one stream: what the contract says the registry must remember about it. */
interface StreamModel {
  readonly id: StreamId;
  open: boolean;
  /** Bound by the first accepted payload. */
  hiveId?: string;
  lastSequence?: bigint;
}

const MAX_UINT64 = 2n ** 64n - 1n;
/** Every rejection names the field at fault first. */
const NAMES_A_FIELD = /^(hive_id|sequence|unchanged|workers|devices)\b/;
const CLAIMED_MEANWHILE = 'a worker of its last snapshot was claimed while it was offline';

/**
 * Drives a HiveRegistry (with its SchedulingIndex, as the server wires them) through actions, predicting from the
 * contract alone what each payload's fate must be and what it may change, and checking the documented invariants
 * after every step. A watcher's replica fed only by the registry's events must always equal its watch snapshot.
 */
export class RegistryHarness {
  private readonly clock = new ManualClock();
  private readonly index = new SchedulingIndex();
  private readonly registry = new HiveRegistry(
    this.clock,
    { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS },
    this.index,
  );
  private readonly streams: StreamModel[] = [];
  private readonly owners = new Map<string, StreamId>();
  /** Hives that must send a full snapshot before a tick is accepted (README, Liveness). */
  private readonly mustResnapshot = new Set<string>();
  private readonly replica = new EventReplica();

  constructor(private readonly options: HarnessOptions) {
    this.registry.onEvent((event) => this.replica.apply(event));
  }

  run(actions: readonly Action[]): void {
    for (const action of actions) {
      this.step(action);
      this.checkAll();
    }
  }

  private snapshot(): RegistrySnapshot {
    return takeSnapshot(this.registry, this.index, this.options.validInput);
  }

  private checkAll(): void {
    const s = this.snapshot();
    checkInvariants(s, this.options.exclusiveWorkerIds);
    expectSame(this.replica.eventProblems, []);
    expectSame(this.replica.asWatchSnapshot(), s.watch);
    // Each open stream is the registry's, and a bound one owns its hive (a superseded or removed one is closed).
    const open = this.streams.filter((m) => m.open);
    expectSame(s.streamCount, open.length);
    for (const m of open) {
      if (m.hiveId === undefined) continue;
      expectSame({ ownerOf: m.hiveId, stream: this.owners.get(m.hiveId) }, { ownerOf: m.hiveId, stream: m.id });
    }
    expectSame(s.hiveIds.filter((id, i) => s.hives[i]?.online && !this.owners.has(id)), []);
  }

  private step(action: Action): void {
    switch (action.kind) {
      case 'open':
        this.streams.push({ id: this.registry.openStream(), open: true });
        expectSame(new Set(this.streams.map((m) => m.id)).size, this.streams.length);
        return;
      case 'close':
        return this.close(action.stream);
      case 'send':
        return this.send(action);
      case 'advance':
        this.clock.advance(action.ms);
        return;
      case 'stall':
        // A stall the queen measured exactly: the time passed, and none of it counts toward leases.
        this.clock.advance(action.ms);
        this.registry.reportStall(action.ms);
        return;
      case 'lapse':
        return this.lapse();
      case 'evict':
        this.departed(this.snapshot(), this.registry.evictExpired());
        // Nothing is left due.
        expectSame((this.registry.nextEvictionAt() ?? Number.POSITIVE_INFINITY) > this.clock.now(), true);
        return;
      case 'evictAtNext':
        return this.evictAtNext();
      case 'remove':
        return this.remove(HIVE_IDS[action.hive] as string);
    }
  }

  private streamAt(ordinal: number): StreamModel {
    if (this.streams.length === 0) this.step({ kind: 'open' });
    return this.streams[ordinal % this.streams.length] as StreamModel;
  }

  private close(ordinal: number): void {
    const model = this.streamAt(ordinal);
    const before = this.snapshot();
    this.registry.closeStream(model.id);
    if (!model.open) {
      expectSame(this.snapshot(), before);
      return;
    }
    model.open = false;
    if (model.hiveId !== undefined && this.owners.get(model.hiveId) === model.id) {
      this.owners.delete(model.hiveId);
      const online = this.registry.isHiveOnline(model.hiveId);
      expectSame({ hiveId: model.hiveId, online }, { hiveId: model.hiveId, online: false });
    }
  }

  private heartbeatOf(action: SendAction, model: StreamModel): Heartbeat {
    const hiveId =
      action.hive === 'own'
        ? (model.hiveId ?? HIVE_IDS[model.id % HIVE_IDS.length])
        : (HIVE_IDS[action.hive] ?? ODD_HIVE_IDS[action.hive - HIVE_IDS.length]);
    const last = model.lastSequence ?? 0n;
    const sequenceSpec = action.sequence;
    let sequence: bigint;
    if (sequenceSpec.kind === 'next') sequence = last + sequenceSpec.step;
    else if (sequenceSpec.kind === 'same') sequence = last;
    else if (sequenceSpec.kind === 'lower') sequence = last - 1n;
    else sequence = sequenceSpec.value;
    if (this.options.validInput) sequence = sequence < 0n ? 0n : sequence > MAX_UINT64 ? MAX_UINT64 : sequence;
    const workersSpec = action.workers;
    const current = this.registry.workersOnHive(hiveId as string);
    let workers: readonly Worker[];
    if (workersSpec.kind === 'exactly') workers = workersSpec.workers;
    else if (workersSpec.kind === 'same') workers = current;
    else {
      let added = workersSpec.worker;
      if (workersSpec.kind === 'claim') {
        const victim = this.registry.workersOnHive(HIVE_IDS[workersSpec.victim] as string);
        const target = victim[workersSpec.ordinal % Math.max(victim.length, 1)];
        if (target !== undefined) added = { ...added, workerId: target.workerId };
      }
      workers = [...current.filter((w) => w.workerId !== added.workerId), added];
    }
    return {
      hiveId: hiveId as string,
      sequence,
      unchanged: action.unchanged,
      workers,
      devices: action.devices,
      ramTotalBytes: action.ramTotalBytes,
      senderTime: action.senderTime,
    };
  }

  private send(action: SendAction): void {
    const model = this.streamAt(action.stream);
    const heartbeat = this.heartbeatOf(action, model);
    const before = this.snapshot();
    let outcome: HeartbeatOutcome;
    try {
      outcome = this.registry.applyHeartbeat(model.id, heartbeat);
    } catch (error) {
      // Only a stream that is not open may throw, and only failed_precondition: never another exception.
      const thrown = error instanceof DomainError ? { reason: error.reason } : { notADomainError: String(error) };
      expectSame({ thrown, streamOpen: model.open }, { thrown: { reason: 'failed_precondition' }, streamOpen: false });
      expectSame(this.snapshot(), before);
      return;
    }
    if (!model.open) throw new Error(`a stream that is not open answered a payload: ${JSON.stringify(outcome)}`);
    const reasons = this.rejectionReasons(model, heartbeat, before);
    if (!outcome.accepted) {
      if (!NAMES_A_FIELD.test(outcome.error)) expect(outcome.error).toMatch(NAMES_A_FIELD);
      if (reasons.length === 0) throw new Error(`rejected a payload the contract accepts: ${outcome.error}`);
      // A rejection changes nothing: not the hive, not any other, not the event log, not the stream's binding
      // (the model did not bind it, so later predictions check that too).
      expectSame(this.snapshot(), before);
      return;
    }
    const binding = reasons.filter((r) => this.options.exclusiveWorkerIds || r !== CLAIMED_MEANWHILE);
    if (binding.length > 0) throw new Error(`accepted a payload the contract rejects: ${binding.join('; ')}`);
    this.accepted(model, heartbeat, outcome, before);
  }

  /** Why the contract says this payload must be refused; empty when it must be accepted. */
  private rejectionReasons(model: StreamModel, hb: Heartbeat, before: RegistrySnapshot): string[] {
    const reasons: string[] = [];
    if (model.hiveId !== undefined && hb.hiveId !== model.hiveId) reasons.push('hive_id other than the stream hive');
    if (model.lastSequence !== undefined && hb.sequence <= model.lastSequence) {
      reasons.push('sequence not above the last accepted');
    }
    if (hb.unchanged) {
      if (model.hiveId === undefined) reasons.push('a tick as the first payload');
      if (hb.workers.length > 0 || hb.devices.length > 0) reasons.push('a tick with workers or devices');
      if (this.mustResnapshot.has(hb.hiveId)) reasons.push(CLAIMED_MEANWHILE);
      return reasons;
    }
    if (new Set(hb.workers.map((w) => w.workerId)).size < hb.workers.length) reasons.push('duplicate worker ids');
    if (new Set(hb.devices.map((d) => d.deviceId)).size < hb.devices.length) reasons.push('duplicate device ids');
    const ids = new Set(hb.workers.map((w) => w.workerId));
    const held = before.onlineWorkers.filter((e) => e.hiveId !== hb.hiveId && ids.has(e.worker.workerId));
    if (held.length > 0) reasons.push('a worker id held by another online hive');
    return reasons;
  }

  private accepted(
    model: StreamModel,
    hb: Heartbeat,
    outcome: Extract<HeartbeatOutcome, { accepted: true }>,
    before: RegistrySnapshot,
  ): void {
    const previousOwner = this.owners.get(hb.hiveId);
    const superseded = previousOwner !== undefined && previousOwner !== model.id ? previousOwner : undefined;
    const expectedOutcome = { accepted: true, hiveId: hb.hiveId };
    expectSame(outcome, superseded === undefined ? expectedOutcome : { ...expectedOutcome, superseded });
    if (superseded !== undefined) this.closeModel(superseded);
    model.hiveId = hb.hiveId;
    model.lastSequence = hb.sequence;
    this.owners.set(hb.hiveId, model.id);

    const after = this.snapshot();
    const beforeIndex = before.hiveIds.indexOf(hb.hiveId);
    const previous = before.hives[beforeIndex]?.view;
    const view = after.hives[after.hiveIds.indexOf(hb.hiveId)]?.view;
    const expectedWorkers = hb.unchanged
      ? (previous?.workers ?? [])
      : [...hb.workers].sort((a, b) => compareIds(a.workerId, b.workerId));
    const expectedDevices = hb.unchanged
      ? (previous?.devices ?? [])
      : [...hb.devices].sort((a, b) => a.deviceId - b.deviceId);
    const expectedRam = hb.unchanged ? (previous?.resources.ramTotalBytes ?? 0n) : BigInt(hb.ramTotalBytes ?? 0);
    const expected = {
      hiveId: hb.hiveId,
      workers: expectedWorkers,
      devices: expectedDevices,
      online: true,
      lastHeartbeatWallMs: this.clock.wallNow(),
      sequence: hb.sequence,
      resources: expectedRam,
    };
    expectSame(
      view === undefined ? undefined : { ...view, resources: view.resources.ramTotalBytes },
      hb.senderTime === undefined ? expected : { ...expected, senderTime: hb.senderTime },
    );

    // Hive A's payload leaves every other hive as it was; only lookups of the worker ids A dropped or claimed may
    // now answer differently (README: worker ids of offline hives may be claimed).
    const others = (s: RegistrySnapshot) => s.hives.filter((h) => h.view?.hiveId !== hb.hiveId);
    expectSame(others(after), others(before));
    expectSame(after.hiveIds.filter((id) => id !== hb.hiveId), before.hiveIds.filter((id) => id !== hb.hiveId));
    const touched = new Set([...(previous?.workers ?? []), ...hb.workers].map((w) => w.workerId));
    const untouched = (s: RegistrySnapshot) => s.lookups.filter(([id]) => !touched.has(id));
    expectSame(untouched(after), untouched(before));
    expectSame(this.replica.events.slice(before.revision).filter((e) => e.hiveId !== hb.hiveId), []);

    if (!hb.unchanged) {
      this.mustResnapshot.delete(hb.hiveId);
      const ids = new Set(hb.workers.map((w) => w.workerId));
      for (const e of before.allWorkers) {
        if (e.hiveId !== hb.hiveId && ids.has(e.worker.workerId)) this.mustResnapshot.add(e.hiveId);
      }
    }
  }

  private closeModel(stream: StreamId): void {
    const model = this.streams.find((m) => m.id === stream);
    expectSame({ stream, open: model?.open }, { stream, open: true });
    if (model !== undefined) model.open = false;
  }

  private remove(hiveId: string): void {
    const before = this.snapshot();
    const departure = this.registry.removeHive(hiveId);
    if (!before.hiveIds.includes(hiveId)) {
      expectSame(departure, undefined);
      expectSame(this.snapshot(), before);
      return;
    }
    if (departure === undefined) throw new Error(`removeHive(${JSON.stringify(hiveId)}) did not find a hive it holds`);
    this.departed(before, [departure]);
  }

  /** Hives that left: each was in the registry, and the stream handed back is the one the model says owned it. */
  private departed(before: RegistrySnapshot, departures: readonly { hiveId: string; stream?: StreamId }[]): void {
    for (const departure of departures) {
      expectSame(before.hiveIds.includes(departure.hiveId), true);
      const owner = this.owners.get(departure.hiveId);
      const expected = { hiveId: departure.hiveId };
      expectSame(departure, owner === undefined ? expected : { ...expected, stream: owner });
      if (owner !== undefined) this.closeModel(owner);
      this.owners.delete(departure.hiveId);
      this.mustResnapshot.delete(departure.hiveId);
      expectSame(this.registry.getHive(departure.hiveId), undefined);
    }
  }

  private lapse(): void {
    const lapsed = this.registry.lapsedLeases();
    for (const hiveId of lapsed) {
      const seen = { hiveId, online: this.registry.isHiveOnline(hiveId), owned: this.owners.has(hiveId) };
      expectSame(seen, { hiveId, online: false, owned: true });
    }
    // Right after the sweep's call, what watchers were told is what the registry's clock says.
    const watch = this.registry.watchSnapshot();
    const byClock = watch.hives.map((h) => [h.hiveId, this.registry.isHiveOnline(h.hiveId)]);
    expectSame(watch.hives.map((h) => [h.hiveId, h.online]), byClock);
  }

  /** nextEvictionAt is exact: nothing is due a millisecond before it, something is at it. */
  private evictAtNext(): void {
    const due = this.registry.nextEvictionAt();
    if (due === undefined) {
      expectSame(this.registry.hiveCount, 0);
      return;
    }
    if (due > this.clock.now()) {
      if (due - 1 > this.clock.now()) {
        this.clock.advance(due - 1 - this.clock.now());
        expectSame(this.registry.evictExpired(), []);
      }
      this.clock.advance(due - this.clock.now());
    }
    const before = this.snapshot();
    const departures = this.registry.evictExpired();
    expectSame(departures.length > 0, true);
    this.departed(before, departures);
  }
}
