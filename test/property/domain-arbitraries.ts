import fc from 'fast-check';
import type { Backend, Device, Health, WallTime, Worker, WorkerStatus } from '../../src/common/worker';

/**
 * Arbitraries for the registry's domain inputs. Ids come from small pools so that the interesting collisions
 * (two hives claiming one worker id, a stream sending for another hive, duplicate ids in one payload) happen in
 * most runs instead of almost never.
 */

export const HIVE_IDS = ['h-a', 'h-b', 'h-c'] as const;
export const WORKER_IDS = ['w-0', 'w-1', 'w-2', 'w-3', 'w-4', 'w-5'] as const;
/** Models workers may load, plus one no worker ever loads (the scheduler's fallback path). */
export const MODEL_IDS = ['m/a', 'm/b'] as const;
export const PICKED_MODELS: readonly string[] = [...MODEL_IDS, 'm/none'];

/** Liveness thresholds of every registry under test: short eviction so that runs reach it. */
export const OFFLINE_AFTER_MS = 15_000;
export const EVICT_AFTER_MS = 60_000;

const STATES: readonly WorkerStatus[] = ['unspecified', 'idle', 'busy', 'loading', 'error', 'stopping'];
const BACKENDS: readonly Backend[] = ['unspecified', 'cpu', 'cuda', 'metal', 'rocm'];
const HEALTHS: readonly Health[] = ['unspecified', 'healthy', 'degraded'];

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

const wallTime: fc.Arbitrary<WallTime> = fc.record({
  seconds: fc.integer({ min: -62_135_596_800, max: 253_402_300_799 }),
  nanos: fc.integer({ min: 0, max: 999_999_999 }),
});

/**
 * A worker as payloadToHeartbeat can produce it: every field valid. Loads come from a few values (ties exercise
 * the scheduler's tie-break), -0 included because validation lets it through.
 */
export const validWorker: fc.Arbitrary<Worker> = fc.record({
  workerId: fc.constantFrom(...WORKER_IDS),
  state: fc.constantFrom(...STATES, 'idle', 'idle'),
  url: fc.constantFrom('http://10.0.0.1:9300/', 'https://gpu.example:8443/v1'),
  modelId: optional(fc.constantFrom(...MODEL_IDS)),
  backend: fc.constantFrom(...BACKENDS),
  deviceId: optional(fc.integer({ min: 0, max: 2 })),
  vramBytes: optional(fc.constantFrom(0, 1, 2 ** 30, Number.MAX_SAFE_INTEGER)),
  ramBytes: optional(fc.constantFrom(0, 2 ** 33, Number.MAX_SAFE_INTEGER)),
  cpuPercent: optional(fc.constantFrom(0, 12.5, 100)),
  gpuPercent: optional(fc.constantFrom(-0, 0, 10, 10, 55.5, 100)),
  health: fc.constantFrom(...HEALTHS),
  lastHeartbeat: optional(wallTime),
  requestsRunning: optional(fc.constantFrom(0, 1, 7, 1_000_000)),
  requestsWaiting: optional(fc.constantFrom(0, 3)),
  kvCacheUsage: optional(fc.constantFrom(-0, 0, 0.5, 1)),
  engine: optional(fc.constantFrom('vllm', 'llama.cpp', 'other-engine')),
  engineVersion: optional(fc.constantFrom('0.6.3', '')),
  contextLength: optional(fc.constantFrom(0, 8192, 0xffff_ffff)),
  statusMessage: optional(fc.constantFrom('', 'Loading model')),
});

export const validDevice: fc.Arbitrary<Device> = fc.record({
  deviceId: fc.integer({ min: 0, max: 3 }),
  backend: fc.constantFrom(...BACKENDS),
  name: fc.constantFrom('gpu', 'NVIDIA A100-SXM4-80GB', ''),
  vramTotalBytes: fc.constantFrom(0, 2 ** 30, 80 * 2 ** 30, Number.MAX_SAFE_INTEGER),
});

/**
 * Strings the registry never sees from the adapter (empty, huge, control characters, lone surrogates, prototype
 * keys): the registry stores ids in Maps and compares them with `<`, so it must stay total on them.
 */
const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '__proto__', 'constructor', '\u0000', '\ud800', '\u202e', 'w-0', 'h-a'),
  fc.constantFrom(129, 5_000).map((n) => 'x'.repeat(n)),
);

/** Numbers outside every documented range: NaN, infinities, negatives, fractions. */
const oddNumber: fc.Arbitrary<number> = fc.oneof(
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 0.5, 2 ** 53 + 2),
);

/**
 * A worker with any field out of contract, except byte figures: those stay integers because the registry turns them
 * into bigint sums (computeResources), which is only defined for integers; the adapter guarantees safe integers.
 */
export const malformedWorker: fc.Arbitrary<Worker> = fc.record({
  workerId: fc.oneof(fc.constantFrom(...WORKER_IDS), oddString),
  state: fc.constantFrom(...STATES),
  url: oddString,
  modelId: optional(fc.oneof(fc.constantFrom(...MODEL_IDS), oddString)),
  backend: fc.constantFrom(...BACKENDS),
  deviceId: optional(oddNumber),
  vramBytes: optional(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })),
  ramBytes: optional(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })),
  cpuPercent: optional(oddNumber),
  gpuPercent: optional(oddNumber),
  health: fc.constantFrom(...HEALTHS),
  lastHeartbeat: optional(fc.record({ seconds: oddNumber, nanos: oddNumber })),
  requestsRunning: optional(oddNumber),
  requestsWaiting: optional(oddNumber),
  kvCacheUsage: optional(oddNumber),
  engine: optional(oddString),
  engineVersion: optional(oddString),
  contextLength: optional(oddNumber),
  statusMessage: optional(oddString),
});

export const malformedDevice: fc.Arbitrary<Device> = fc.record({
  deviceId: oddNumber,
  backend: fc.constantFrom(...BACKENDS),
  name: oddString,
  vramTotalBytes: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
});

/** How a payload's sequence relates to the last one its stream had accepted. */
export type SequenceSpec =
  | { readonly kind: 'next'; readonly step: bigint }
  | { readonly kind: 'same' }
  | { readonly kind: 'lower' }
  | { readonly kind: 'absolute'; readonly value: bigint };

/**
 * The workers of a full snapshot. Most real heartbeats resend the hive's current workers, so 'same' (what the
 * registry holds for the hive now) and 'sameWith' (those plus one worker, replacing any of the same id: a change,
 * or a claim of another hive's id) are common, and 'claim' aims at another hive's worker on purpose; 'exactly' is an
 * arbitrary list, duplicates included.
 */
export type WorkersSpec =
  | { readonly kind: 'same' }
  | { readonly kind: 'sameWith'; readonly worker: Worker }
  /** The current workers plus `worker` under the id of another hive's worker (by ordinal): a deliberate claim. */
  | { readonly kind: 'claim'; readonly worker: Worker; readonly victim: number; readonly ordinal: number }
  | { readonly kind: 'exactly'; readonly workers: readonly Worker[] };

/** One payload sent on one of the streams opened so far (by ordinal, closed ones included). */
export interface SendAction {
  readonly kind: 'send';
  readonly stream: number;
  /** An index into the hive pool, or 'own': the stream's own hive once bound (the honest case). */
  readonly hive: number | 'own';
  readonly sequence: SequenceSpec;
  readonly unchanged: boolean;
  readonly workers: WorkersSpec;
  readonly devices: readonly Device[];
  readonly ramTotalBytes?: number;
  readonly senderTime?: WallTime;
}

/** What happens to the registry: streams, payloads, time, the sweep's calls, removals. */
export type Action =
  | { readonly kind: 'open' }
  | { readonly kind: 'close'; readonly stream: number }
  | SendAction
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'stall'; readonly ms: number }
  | { readonly kind: 'lapse' }
  | { readonly kind: 'evict' }
  | { readonly kind: 'evictAtNext' }
  | { readonly kind: 'remove'; readonly hive: number };

const streamIndex = fc.nat({ max: 7 });

function sendAction(
  worker: fc.Arbitrary<Worker>,
  device: fc.Arbitrary<Device>,
  hiveIds: fc.Arbitrary<number | 'own'>,
  sequence: fc.Arbitrary<bigint>,
): fc.Arbitrary<SendAction> {
  const exactly = fc.record({ kind: fc.constant('exactly' as const), workers: fc.array(worker, { maxLength: 4 }) });
  const workers: fc.Arbitrary<WorkersSpec> = fc.oneof(
    { arbitrary: fc.constant({ kind: 'same' as const }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('sameWith' as const), worker }), weight: 2 },
    {
      arbitrary: fc.record({
        kind: fc.constant('claim' as const),
        worker,
        victim: fc.nat({ max: HIVE_IDS.length - 1 }),
        ordinal: fc.nat({ max: 3 }),
      }),
      weight: 2,
    },
    { arbitrary: exactly, weight: 1 },
  );
  const devices = fc.array(device, { maxLength: 2 });
  const none = fc.constant<readonly never[]>([]);
  // Mostly honest ticks (empty); sometimes a tick that carries workers or devices, which must be refused.
  const tickWorkers: fc.Arbitrary<WorkersSpec> = fc.oneof(
    { arbitrary: fc.constant({ kind: 'exactly' as const, workers: [] }), weight: 4 },
    { arbitrary: exactly, weight: 1 },
  );
  const tickDevices = fc.oneof({ arbitrary: none, weight: 4 }, { arbitrary: devices, weight: 1 });
  const sequenceSpec: fc.Arbitrary<SequenceSpec> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('next'), step: fc.bigInt({ min: 1n, max: 3n }) }), weight: 12 },
    { arbitrary: fc.record({ kind: fc.constant('same') }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('lower') }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('absolute'), value: sequence }), weight: 1 },
  );
  // A third of the payloads are ticks, the rest full snapshots.
  return fc.integer({ min: 0, max: 2 }).map((n) => n === 0).chain((unchanged) =>
    fc.record({
      kind: fc.constant('send'),
      stream: streamIndex,
      hive: hiveIds,
      sequence: sequenceSpec,
      unchanged: fc.constant(unchanged),
      workers: unchanged ? tickWorkers : workers,
      devices: unchanged ? tickDevices : devices,
      ramTotalBytes: optional(fc.constantFrom(0, 2 ** 36)),
      senderTime: optional(wallTime),
    }),
  );
}

/** Actions over field-valid payloads: what the adapter can hand the registry. */
export function validAction(): fc.Arbitrary<Action> {
  const hive = fc.oneof(
    { arbitrary: fc.constant<'own'>('own'), weight: 5 },
    { arbitrary: fc.nat({ max: HIVE_IDS.length - 1 }), weight: 1 },
  );
  const sequence = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 2n ** 64n - 1n));
  return actions(sendAction(validWorker, validDevice, hive, sequence));
}

/** Actions whose payloads break every field rule the adapter enforces (the registry's precondition). */
export function malformedAction(): fc.Arbitrary<Action> {
  const hive = fc.oneof(
    fc.constant<'own'>('own'),
    fc.nat({ max: HIVE_IDS.length - 1 }),
    // Beyond the pool: the harness maps these to odd hive ids.
    fc.integer({ min: HIVE_IDS.length, max: HIVE_IDS.length + ODD_HIVE_IDS.length - 1 }),
  );
  const sequence = fc.oneof(fc.bigInt(), fc.constantFrom(-1n, -(2n ** 64n), 2n ** 64n, 2n ** 200n));
  return actions(sendAction(malformedWorker, malformedDevice, hive, sequence));
}

/** Hive ids only the malformed actions use (indices past HIVE_IDS). */
export const ODD_HIVE_IDS = ['', '__proto__', '\ud800', 'h a', 'x'.repeat(300)] as const;

function actions(send: fc.Arbitrary<SendAction>): fc.Arbitrary<Action> {
  return fc.oneof(
    { arbitrary: send, weight: 12 },
    { arbitrary: fc.constant({ kind: 'open' as const }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('close' as const), stream: streamIndex }), weight: 2 },
    {
      // Around the thresholds: just under, exactly at, and well past them.
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.constantFrom(1, 1_000, 5_000, OFFLINE_AFTER_MS - 1, OFFLINE_AFTER_MS, 20_000, EVICT_AFTER_MS),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({ kind: fc.constant('stall' as const), ms: fc.constantFrom(1, 10_000, EVICT_AFTER_MS) }),
      weight: 1,
    },
    { arbitrary: fc.constant({ kind: 'lapse' as const }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'evict' as const }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'evictAtNext' as const }), weight: 1 },
    {
      arbitrary: fc.record({ kind: fc.constant('remove' as const), hive: fc.nat({ max: HIVE_IDS.length - 1 }) }),
      weight: 1,
    },
  );
}

/**
 * A run: every hive of the pool first opens a stream and sends a full snapshot (so actions go to the interplay
 * between hives rather than to binding streams), then up to `maxActions` actions.
 */
export function scenario(action: fc.Arbitrary<Action>, maxActions: number): fc.Arbitrary<Action[]> {
  const connect = (stream: number, workers: readonly Worker[]): Action[] => [
    { kind: 'open' },
    {
      kind: 'send',
      stream,
      hive: 'own',
      sequence: { kind: 'next', step: 1n },
      unchanged: false,
      workers: { kind: 'exactly', workers },
      devices: [],
    },
  ];
  const prelude = fc.tuple(
    ...HIVE_IDS.map(() => fc.uniqueArray(validWorker, { maxLength: 3, selector: (w) => w.workerId })),
  );
  return fc
    .tuple(prelude, fc.array(action, { maxLength: maxActions, size: 'max' }))
    .map(([initial, rest]) => [...initial.flatMap((workers, i) => connect(i, workers)), ...rest]);
}

/**
 * Actions aimed at worker-id ownership: every hive keeps its stream and sends in order, full snapshots often claim
 * another hive's worker, and time jumps straight to the offline threshold, so hives keep going offline and
 * claiming each other's workers.
 */
export function claimAction(): fc.Arbitrary<Action> {
  const next = fc.constant<SequenceSpec>({ kind: 'next', step: 1n });
  const snapshotWorkers: fc.Arbitrary<WorkersSpec> = fc.oneof(
    { arbitrary: fc.constant({ kind: 'same' as const }), weight: 3 },
    {
      arbitrary: fc.record({
        kind: fc.constant('claim' as const),
        worker: validWorker,
        victim: fc.nat({ max: HIVE_IDS.length - 1 }),
        ordinal: fc.nat({ max: 3 }),
      }),
      weight: 3,
    },
    { arbitrary: fc.record({ kind: fc.constant('sameWith' as const), worker: validWorker }), weight: 1 },
  );
  const noWorkers = fc.constant<WorkersSpec>({ kind: 'exactly', workers: [] });
  const send: fc.Arbitrary<SendAction> = fc.boolean().chain((unchanged) =>
    fc.record({
      kind: fc.constant('send' as const),
      stream: fc.nat({ max: HIVE_IDS.length - 1 }),
      hive: fc.constant<'own'>('own'),
      sequence: next,
      unchanged: fc.constant(unchanged),
      workers: unchanged ? noWorkers : snapshotWorkers,
      devices: fc.constant([]),
    }),
  );
  return fc.oneof(
    { arbitrary: send, weight: 10 },
    { arbitrary: fc.constant({ kind: 'advance' as const, ms: OFFLINE_AFTER_MS }), weight: 3 },
    { arbitrary: fc.constant({ kind: 'advance' as const, ms: 1_000 }), weight: 1 },
    { arbitrary: fc.constant({ kind: 'lapse' as const }), weight: 1 },
  );
}
