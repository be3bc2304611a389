import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import type { Worker } from '../src/common/worker.js';
import { HeartbeatAckSchema, HiveHeartbeatPayloadSchema } from '../gen/hive/v1/registry_pb.js';
import { HiveRegistry } from '../src/registry/hive-registry.js';
import type { Heartbeat } from '../src/registry/types.js';
import { pickWorker } from '../src/scheduler/pick-worker.js';
import { SchedulingIndex } from '../src/scheduler/scheduling-index.js';
import { wallMsToProto } from '../src/server/domain-to-proto.js';
import { getHiveStateResponseBytes } from '../src/server/wire-splice.js';
import { payloadToHeartbeat } from '../src/server/payload-to-heartbeat.js';
import { DEVICES_PER_HIVE, SCHEDULED_MODEL, WORKERS_PER_HIVE, hiveId, snapshotPayload } from './fleet.js';
import { ManualClock } from '../src/common/manual-clock.js';
import type { DomainFigure, DomainSpec } from './protocol.js';
import { timePerOp } from './stats.js';

/** The production defaults (see src/cli/config.ts). */
const LIMITS = { maxWorkersPerHive: 1_024, maxDevicesPerHive: 64 };
const OPTIONS = { offlineAfterMs: 15_000, evictAfterMs: 600_000 };

function heapUsedAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** V8's %HasFastProperties when node runs with --allow-natives-syntax; undefined otherwise. */
function fastPropertiesProbe(): ((value: object) => boolean) | undefined {
  try {
    // A V8 intrinsic is not TypeScript syntax: it can only be compiled at run time.
    return new Function('o', 'return %HasFastProperties(o)') as (value: object) => boolean;
  } catch {
    return undefined;
  }
}

/** Hive `i`'s snapshot as the server gets it: encoded, decoded, then validated and converted by the adapter. */
function adapterHeartbeat(i: number, sequence: bigint): Heartbeat {
  const bytes = toBinary(HiveHeartbeatPayloadSchema, snapshotPayload(i, sequence));
  return payloadToHeartbeat(fromBinary(HiveHeartbeatPayloadSchema, bytes), LIMITS);
}

interface Filled {
  readonly registry: HiveRegistry;
  readonly scheduling: SchedulingIndex;
  readonly streams: Int32Array;
  readonly heapBytes: number;
}

/** A registry with `hives` hives, each fed one snapshot from `build`; heapBytes is what it retains after gc. */
function fill(hives: number, build: (i: number) => Heartbeat): Filled {
  const streams = new Int32Array(hives);
  const clock = new ManualClock();
  const before = heapUsedAfterGc();
  const scheduling = new SchedulingIndex();
  const registry = new HiveRegistry(clock, OPTIONS, scheduling);
  for (let i = 0; i < hives; i++) {
    const stream = registry.openStream();
    streams[i] = stream;
    const outcome = registry.applyHeartbeat(stream, build(i));
    if (!outcome.accepted) throw new Error(`hive ${i} rejected: ${outcome.error}`);
  }
  const heapBytes = heapUsedAfterGc() - before;
  return { registry, scheduling, streams, heapBytes };
}

const us = (ns: number): number => ns / 1_000;

/** `list[index]`, which must exist. */
function at<T>(list: readonly T[], index: number): T {
  const value = list[index];
  if (value === undefined) throw new RangeError(`no element ${index}`);
  return value;
}

/** Heap per hive, dictionary-mode workers and pickWorker time for a registry filled by `build`. */
function storedVariant(spec: DomainSpec, label: string, build: (i: number) => Heartbeat): DomainFigure[] {
  const { hives, maxMsPerTiming } = spec;
  const workers = hives * WORKERS_PER_HIVE;
  const n = (value: number): string => value.toLocaleString('en-US');
  const { registry, scheduling, heapBytes } = fill(hives, build);
  const allWorkers = registry.listWorkers(() => true, true);
  const figures: DomainFigure[] = [
    {
      name: `heap per hive, ${label}`,
      value: heapBytes / hives,
      unit: 'bytes',
      detail: `${n(hives)} hives x ${WORKERS_PER_HIVE} workers + ${DEVICES_PER_HIVE} devices: ${(heapBytes / 2 ** 20).toFixed(1)} MiB in all (heapUsed after gc)`,
    },
  ];
  const probe = fastPropertiesProbe();
  if (probe !== undefined) {
    let slow = 0;
    for (const entry of allWorkers) if (!probe(entry.worker)) slow++;
    figures.push({
      name: `Worker objects in dictionary mode, ${label}`,
      value: slow,
      unit: `of ${n(workers)}`,
      detail: 'V8 %HasFastProperties false (slow properties)',
    });
  }
  const indexed = timePerOp(() => scheduling.pick({ modelId: SCHEDULED_MODEL }, registry.onlineCheck()), 1, 400, maxMsPerTiming);
  figures.push({
    name: `SchedulingIndex.pick, ${n(workers)} workers on ${n(hives)} hives`,
    value: indexed.medianNs / 1e3,
    unit: 'µs/call',
    detail: `what FindBestWorkerForModel runs: the first online candidate of the model's ranked heap; ${indexed.ops} calls`,
  });
  const fallback = timePerOp(() => scheduling.pick({ modelId: 'no/such-model' }, registry.onlineCheck()), 1, 400, maxMsPerTiming);
  figures.push({
    name: `SchedulingIndex.pick, fallback (model loaded nowhere)`,
    value: fallback.medianNs / 1e3,
    unit: 'µs/call',
    detail: `the first online candidate of the fleet-wide ranked heap of idle workers; ${fallback.ops} calls`,
  });
  const scheduled = allWorkers.map((e) => ({ ...e, reserved: 0, excluded: false, cordoned: false, labels: {}, lastPicked: 0 }));
  const flat = timePerOp(() => pickWorker(scheduled, { modelId: SCHEDULED_MODEL }), 1, 400, maxMsPerTiming);
  figures.push({
    name: `pickWorker over ${n(workers)} workers (flat reference policy)`,
    value: flat.medianNs / 1e6,
    unit: 'ms/call',
    detail: `the policy over a prebuilt list of every worker, for scale: ${(flat.medianNs / workers).toFixed(0)} ns per worker; ${flat.ops} calls`,
  });
  return figures;
}

/** A scheduling index alone, with `workers` equal-model idle workers of varied load (8 per hive). */
function schedulingFleet(workers: number, clock: ManualClock): SchedulingIndex {
  const index = new SchedulingIndex(() => clock.now());
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let h = 0; h < workers / WORKERS_PER_HIVE; h++) {
    const list: Worker[] = [];
    for (let w = 0; w < WORKERS_PER_HIVE; w++) {
      list.push({
        workerId: `w-${h}-${w}`,
        state: 'idle',
        url: `http://10.0.${h % 250}.${w}:8000`,
        modelId: SCHEDULED_MODEL,
        backend: 'cuda',
        health: 'healthy',
        gpuPercent: Math.floor(random() * 100),
        maxConcurrency: 16,
      });
    }
    index.snapshotReplaced(hiveId(h), list, []);
  }
  return index;
}

/**
 * Reserving picks (each followed by the release of the oldest live reservation, so 1,000 stay live throughout) at
 * 1,000, 10,000 and 100,000 workers: the time per pick must not grow with the fleet (no scan).
 */
function reservingPickFigures(maxMsPerTiming: number): DomainFigure[] {
  const figures: DomainFigure[] = [];
  const perWorkers = new Map<number, number>();
  const plainPerWorkers = new Map<number, number>();
  const online = (): boolean => true;
  for (const workers of [1_000, 10_000, 100_000]) {
    const clock = new ManualClock();
    const index = schedulingFleet(workers, clock);
    const live: string[] = [];
    const reserve = (): void => {
      const pick = index.pick({ modelId: SCHEDULED_MODEL, reserve: true, reservationTtlMs: 600_000 }, online);
      if (pick.kind !== 'picked' || pick.reservation === undefined) throw new Error(`no pick: ${pick.kind}`);
      live.push(pick.reservation.reservationId);
    };
    for (let i = 0; i < 1_000; i++) reserve();
    const timing = timePerOp(
      () => {
        reserve();
        index.release(live.shift() as string, true);
      },
      1_000,
      2_000_000,
      maxMsPerTiming,
    );
    perWorkers.set(workers, timing.medianNs);
    figures.push({
      name: `reserving pick + release, ${workers.toLocaleString('en-US')} workers, 1,000 live reservations`,
      value: us(timing.medianNs),
      unit: 'µs/op',
      detail: `SchedulingIndex.pick with reserve, then ReleaseWorker's release of the oldest; ${timing.ops.toLocaleString('en-US')} ops`,
    });
    const plain = timePerOp(() => index.pick({ modelId: SCHEDULED_MODEL }, online), 1_000, 2_000_000, maxMsPerTiming);
    plainPerWorkers.set(workers, plain.medianNs);
    figures.push({
      name: `plain pick, ${workers.toLocaleString('en-US')} workers, 1,000 live reservations`,
      value: us(plain.medianNs),
      unit: 'µs/op',
      detail: `${plain.ops.toLocaleString('en-US')} ops`,
    });
  }
  const small = perWorkers.get(1_000) ?? Number.NaN;
  const large = perWorkers.get(100_000) ?? Number.NaN;
  figures.push({
    name: 'plain pick at 100,000 workers / at 1,000 workers',
    value: (plainPerWorkers.get(100_000) ?? Number.NaN) / (plainPerWorkers.get(1_000) ?? Number.NaN),
    unit: 'x',
    detail: 'no scan: a pick that looked at every worker would take about 100x as long (the requirement is within 2x)',
  });
  figures.push({
    name: 'reserving pick + release at 100,000 workers / at 1,000 workers',
    value: large / small,
    unit: 'x',
    detail: 'no scan either, but each reservation moves its worker in four heaps and back (O(log n)), and at 100,000 workers those moves miss the CPU cache',
  });
  return figures;
}

/**
 * The pure domain in-process, no gRPC: memory per hive, time per applyHeartbeat and per pickWorker, and the
 * adapter steps of one heartbeat. Absolute figures: there is no network baseline to compare with.
 */
export function runDomainBench(spec: DomainSpec): DomainFigure[] {
  const { hives, maxMsPerTiming } = spec;
  const n = (value: number): string => value.toLocaleString('en-US');
  const figures: DomainFigure[] = [];

  // ---- memory and scheduling, as stored by the server, then with workers that kept fast properties -----------
  // Each variant in its own call, so its registry is garbage before the next one is measured.
  // In its own call, so its registry is garbage before the next one is measured.
  figures.push(...storedVariant(spec, 'as the server stores it', (i) => adapterHeartbeat(i, 1n)));

  figures.push(...reservingPickFigures(maxMsPerTiming));

  // ---- time per heartbeat ------------------------------------------------------------------------------------
  const { registry, streams } = fill(hives, (i) => adapterHeartbeat(i, 1n));
  const snapshots = Array.from({ length: hives }, (_, i) => adapterHeartbeat(i, 1n));
  const hiveIds = Array.from({ length: hives }, (_, i) => hiveId(i));
  const sequences: bigint[] = new Array<bigint>(hives).fill(1n);
  const nextSequence = (i: number): bigint => {
    const sequence = (sequences[i] ?? 1n) + 1n;
    sequences[i] = sequence;
    return sequence;
  };
  const apply = (i: number, heartbeat: Heartbeat): void => {
    const outcome = registry.applyHeartbeat(streams[i] ?? 0, heartbeat);
    if (!outcome.accepted) throw new Error(`hive ${i} rejected: ${outcome.error}`);
  };

  const snapshot = timePerOp(
    (k) => {
      const i = k % hives;
      const base = snapshots[i];
      if (base !== undefined) apply(i, { ...base, sequence: nextSequence(i) });
    },
    1_000,
    2_000_000,
    maxMsPerTiming,
  );
  figures.push({
    name: 'applyHeartbeat, full snapshot',
    value: us(snapshot.medianNs),
    unit: 'µs/op',
    detail: `${WORKERS_PER_HIVE} workers, registry of ${n(hives)} hives; mean with GC ${us(snapshot.meanNs).toFixed(2)} µs; ${n(snapshot.ops)} ops`,
  });
  const tick = timePerOp(
    (k) => {
      const i = k % hives;
      apply(i, { hiveId: hiveIds[i] ?? '', sequence: nextSequence(i), unchanged: true, workers: [], devices: [] });
    },
    1_000,
    5_000_000,
    maxMsPerTiming,
  );
  figures.push({
    name: 'applyHeartbeat, liveness tick',
    value: us(tick.medianNs),
    unit: 'µs/op',
    detail: `mean with GC ${us(tick.meanNs).toFixed(2)} µs; ${n(tick.ops)} ops`,
  });

  // ---- the adapter's share of one heartbeat and one GetHiveState ----------------------------------------------
  const encoded = Array.from({ length: 100 }, (_, i) => toBinary(HiveHeartbeatPayloadSchema, snapshotPayload(i, 2n)));
  const decoded = encoded.map((bytes) => fromBinary(HiveHeartbeatPayloadSchema, bytes));
  const decode = timePerOp(
    (k) => fromBinary(HiveHeartbeatPayloadSchema, at(encoded, k % 100)),
    1_000,
    2_000_000,
    maxMsPerTiming,
  );
  figures.push({
    name: 'decode one full payload (fromBinary)',
    value: us(decode.medianNs),
    unit: 'µs/op',
    detail: `${encoded[0]?.byteLength ?? 0} bytes; also paid by the baseline server`,
  });
  const validate = timePerOp((k) => payloadToHeartbeat(at(decoded, k % 100), LIMITS), 1_000, 2_000_000, maxMsPerTiming);
  figures.push({
    name: 'payloadToHeartbeat, full payload',
    value: us(validate.medianNs),
    unit: 'µs/op',
    detail: 'validate + convert 8 workers and 4 devices (the queen only)',
  });
  const again = timePerOp(
    (k) => payloadToHeartbeat(at(decoded, k % 100), LIMITS, registry.knownSnapshot(at(hiveIds, k % 100))),
    1_000,
    2_000_000,
    maxMsPerTiming,
  );
  figures.push({
    name: 'payloadToHeartbeat, full payload sent again',
    value: us(again.medianNs),
    unit: 'µs/op',
    detail: "the same, the hive's last snapshot at hand: unchanged workers and devices are reused, not checked again",
  });
  const ack = timePerOp(
    (k) =>
      toBinary(
        HeartbeatAckSchema,
        create(HeartbeatAckSchema, {
          sequence: BigInt(k),
          accepted: true,
          heartbeatInterval: durationFromMs(5_000),
          receivedAt: wallMsToProto(Date.now()),
        }),
      ),
    1_000,
    5_000_000,
    maxMsPerTiming,
  );
  figures.push({
    name: 'build + encode one ack',
    value: us(ack.medianNs),
    unit: 'µs/op',
    detail: 'also paid by the baseline server',
  });
  const hiveState = timePerOp(
    (k) => {
      // The unary scenario's 1,000 hives, in turn: after the first round every worker's bytes are cached.
      const view = registry.getHive(at(hiveIds, k % Math.min(hives, 1_000)));
      if (view === undefined) throw new Error('hive missing');
      getHiveStateResponseBytes(view, 'bench-queen:50051');
    },
    1_000,
    2_000_000,
    maxMsPerTiming,
  );
  figures.push({
    name: 'getHive + response bytes',
    value: us(hiveState.medianNs),
    unit: 'µs/op',
    detail: 'the GetHiveState handler minus request validation, 1,000 hives in turn: the response encoded, its workers and devices spliced in from their cached bytes',
  });
  return figures;
}
