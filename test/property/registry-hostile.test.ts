import fc from 'fast-check';
import { ManualClock } from '../../src/common/manual-clock';
import { HiveRegistry } from '../../src/registry/hive-registry';
import { makeWorker, snapshot, tick } from '../helpers/domain-builders';
import { propertyParams } from '../helpers/property-params';
import {
  claimAction,
  EVICT_AFTER_MS,
  malformedAction,
  OFFLINE_AFTER_MS,
  scenario,
  validAction,
  type Action,
} from './domain-arbitraries';
import { RegistryHarness, type HarnessOptions } from './registry-harness';

/** Up to this many actions per run, after every hive's first snapshot. */
const MAX_ACTIONS = 30;

/** The property: the harness runs `actions` without a failed check. */
function holds(options: HarnessOptions): (actions: readonly Action[]) => void {
  return (actions) => new RegistryHarness(options).run(actions);
}

describe('HiveRegistry under hostile heartbeat streams', () => {
  // Each run drives one registry through a random interleaving of several hives' streams (open, close, supersede,
  // full snapshots, ticks, out-of-order and foreign payloads), time (thresholds, stalls), the sweep's calls and
  // removals. After every step: each payload met the fate the contract gives it; a rejection left every read of
  // the registry deep-equal to before (hives, workers, lookups, lists, scheduling picks, revision, streams); an
  // accepted payload of hive A left every other hive's reads as they were; lists, lookups and the scheduling
  // index agree with a brute-force scan; a watcher replaying the events holds exactly the watch snapshot.
  it('keeps every documented invariant through interleaved streams of field-valid payloads', () => {
    fc.assert(
      fc.property(scenario(validAction(), MAX_ACTIONS), holds({ validInput: true, exclusiveWorkerIds: false })),
      propertyParams(200),
    );
  });

  // The same checks, with hives claiming each other's worker ids while the claimed hive is offline (the only way one
  // hive's payload may change what another hive's reads or payloads do). Worker-id exclusivity is left to the
  // skipped test below, which fails on the bug it names.
  it('lets a worker id move between hives only as the contract allows', () => {
    fc.assert(
      fc.property(scenario(claimAction(), MAX_ACTIONS), holds({ validInput: true, exclusiveWorkerIds: false })),
      propertyParams(200),
    );
  });

  // A full snapshot re-sending a worker id another hive claimed meanwhile takes it back: the other hive, offline,
  // must send a full snapshot before ticking again (else two online hives would hold one id).
  it('keeps at most one online holder per worker id, refusing a tick after a claim', () => {
    fc.assert(
      fc.property(scenario(claimAction(), MAX_ACTIONS), holds({ validInput: true, exclusiveWorkerIds: true })),
      propertyParams(200),
    );
  });

  // The smallest sequence that showed it.
  it('reproduction: a hive whose worker was re-sent by another hive while it was offline cannot tick back', () => {
    const clock = new ManualClock();
    const registry = new HiveRegistry(clock, { offlineAfterMs: OFFLINE_AFTER_MS, evictAfterMs: EVICT_AFTER_MS });
    const a = registry.openStream();
    const b = registry.openStream();
    expect(registry.applyHeartbeat(a, snapshot('h-a', 1, [makeWorker('w-1')])).accepted).toBe(true);
    clock.advance(OFFLINE_AFTER_MS); // h-a offline by silence; its stream stays open
    expect(registry.applyHeartbeat(b, snapshot('h-b', 1, [makeWorker('w-1')])).accepted).toBe(true); // h-b claims w-1
    clock.advance(OFFLINE_AFTER_MS); // h-b offline by silence too
    expect(registry.applyHeartbeat(a, snapshot('h-a', 2, [makeWorker('w-1')])).accepted).toBe(true); // h-a takes it back
    // h-b's last snapshot lists w-1, now held by online h-a: a tick would put it back online with w-1.
    expect(registry.applyHeartbeat(b, tick('h-b', 2))).toMatchObject({ accepted: false });
    const online = registry.listWorkers((w) => w.workerId === 'w-1', false).map((e) => e.hiveId);
    expect(online).toStrictEqual(['h-a']);
  });

  // Payloads outside the adapter's field rules (odd strings, negative and huge sequences, NaN and infinite numbers,
  // ids past every limit): the registry is documented to receive validated input, but it must still never throw
  // anything but DomainError, and a rejection must still lose nothing. Scheduling picks are not compared here: a NaN
  // load has no place in the scheduling order.
  it('never throws anything but DomainError and loses nothing on rejection, even with malformed payloads', () => {
    fc.assert(
      fc.property(scenario(malformedAction(), MAX_ACTIONS), holds({ validInput: false, exclusiveWorkerIds: false })),
      propertyParams(100),
    );
  });
});
