import fc from 'fast-check';
import type { PayloadInit } from '../helpers/client';
import type { DeviceInit, WorkerInit } from '../helpers/wire-builders';

/**
 * Arbitraries for hive.v1 wire messages (protobuf-es init shapes). Every value is representable on the wire (a
 * uint64 stays in 0..2^64-1, an enum in int32, nanos in int32), so a message survives toBinary/fromBinary; within
 * that, anything goes. `mixed` fields are valid most of the time and hostile otherwise, so a payload is usually
 * broken in only a few places, as a buggy or malicious hive would send it, rather than everywhere at once.
 */

export const MAX_UINT64 = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_INT32 = -(2 ** 31);
const MAX_INT32 = 2 ** 31 - 1;
// google.protobuf.Timestamp's valid range, years 1 to 9999.
export const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
export const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

/** Valid 3 times out of 4, hostile otherwise. */
function mixed<T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: hostile, weight: 1 });
}

const ID_CHARS = 'abcXYZ019._:-'.split('');
/** NUL, DEL, é, right-to-left override, lone surrogates, an astral emoji, BOM, ideographic space. */
const ODD_CHARACTERS = ['\u0000', '\u007f', '\u00e9', '\u202e', '\ud800', '\udfff', '😀', '\ufeff', '\u3000'];
const ALMOST_URLS = ['http://[::1', 'javascript:alert(1)', 'http:/x', 'file:///etc/passwd'];

/** A valid hive or worker id (1-128 characters of [A-Za-z0-9._:-]), short or at the limit. */
export const validId: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 12 }),
  fc.constantFrom('a', 'h-1', 'w:0', 'x'.repeat(128)),
);

/**
 * Strings a fuzzer would send: any code point (lone surrogates included), control and format characters,
 * whitespace, prototype keys, almost-valid values, and long strings around every length limit (in UTF-16 units
 * and in code points: '😀' is two units) and well past them.
 */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({
    unit: fc.constantFrom(...['a', 'Z', '0', '-', '.', ':', '/', ' ', '\t', '\n'], ...ODD_CHARACTERS),
    maxLength: 40,
  }),
  fc.constantFrom(...['', ' ', '__proto__', 'constructor', 'localhost:9300', 'ftp://10.0.0.1/', 'http://'], ...ALMOST_URLS),
  fc
    .tuple(fc.constantFrom(127, 128, 129, 255, 256, 257, 2047, 2048, 2049, 5_000), fc.constantFrom('a', '😀', ' ', '\u0000'))
    .map(([n, c]) => c.repeat(n)),
);

const enumNumber = (max: number): fc.Arbitrary<number> =>
  mixed(
    fc.integer({ min: 0, max }),
    fc.oneof(fc.integer({ min: max + 1, max: max + 3 }), fc.integer({ min: MIN_INT32, max: MAX_INT32 })),
  );

const uint64Hostile: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_UINT64 }),
  fc.constantFrom(MAX_SAFE, MAX_SAFE + 1n, MAX_UINT64),
);
const bytes = mixed(fc.bigInt({ min: 0n, max: MAX_SAFE }), uint64Hostile);

/** A float32 load: 0..100 when valid; NaN, infinities, negatives and values just past 100 when not. */
const percent = mixed(
  fc.float({ min: 0, max: 100, noNaN: true }),
  fc.oneof(
    fc.float(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, -1e-45, 100.0001, 3.4e38),
  ),
);

/** A Timestamp within years 1 to 9999. */
const validTimestamp = fc.record({
  seconds: fc.bigInt({ min: MIN_TIMESTAMP_SECONDS, max: MAX_TIMESTAMP_SECONDS }),
  nanos: fc.integer({ min: 0, max: 999_999_999 }),
});

const timestamp = mixed(
  validTimestamp,
  fc.record({
    seconds: fc.oneof(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.constantFrom(MIN_TIMESTAMP_SECONDS - 1n, MAX_TIMESTAMP_SECONDS + 1n, MIN_TIMESTAMP_SECONDS, MAX_TIMESTAMP_SECONDS),
    ),
    nanos: fc.oneof(fc.integer({ min: MIN_INT32, max: MAX_INT32 }), fc.constantFrom(-1, 1_000_000_000, 999_999_999)),
  }),
);

const url = mixed(
  fc.constantFrom('http://10.0.0.1:9300/', 'https://gpu.example:8443/v1', 'http://[::1]:80/x'),
  hostileString,
);
const modelId = mixed(fc.constantFrom('org/model', 'm', '😀'.repeat(256)), hostileString);

/** A uint32 count of requests: 0..1,000,000 when valid, just past it or the uint32 limit when not. */
const requests = mixed(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(1_000_001, 2 ** 31, 0xffff_ffff));
/** A float32 fraction: 0..1 when valid; NaN, infinities, negatives, a percentage or just past 1 when not. */
const fraction = mixed(
  fc.float({ min: 0, max: 1, noNaN: true }),
  fc.oneof(fc.float(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1e-45, Math.fround(1.0000001), 45)),
);
const engine = mixed(fc.constantFrom('vllm', 'llama.cpp', 'ollama', 'sglang', 'tgi', 'simulated', 'my-engine-2.0', 'e'.repeat(32)), hostileString);
const engineVersion = mixed(fc.constantFrom('0.6.3', 'b4567 (3f1d6f9)', '', 'v'.repeat(64), '😀'.repeat(64)), hostileString);
const statusMessage = mixed(fc.constantFrom('Loading model', 'connection refused', '', 's'.repeat(256)), hostileString);
const contextLength = fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.constant(0xffff_ffff));

export const hostileWorker: fc.Arbitrary<WorkerInit> = fc.record({
  workerId: mixed(validId, hostileString),
  state: enumNumber(5),
  url,
  modelId: optional(modelId),
  backend: enumNumber(4),
  deviceId: optional(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(0xffff_ffff))),
  vramBytes: optional(bytes),
  ramBytes: optional(bytes),
  cpuPercent: optional(percent),
  gpuPercent: optional(percent),
  health: enumNumber(2),
  lastHeartbeat: optional(timestamp),
  requestsRunning: optional(requests),
  requestsWaiting: optional(requests),
  kvCacheUsage: optional(fraction),
  engine: optional(engine),
  engineVersion: optional(engineVersion),
  contextLength: optional(contextLength),
  statusMessage: optional(statusMessage),
});

export const hostileDevice: fc.Arbitrary<DeviceInit> = fc.record({
  deviceId: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(0xffff_ffff)),
  backend: enumNumber(4),
  name: mixed(fc.constantFrom('NVIDIA A100-SXM4-80GB', ''), hostileString),
  vramTotalBytes: bytes,
});

/** A payload of any shape; at most `maxWorkers` workers and `maxDevices` devices. */
export function hostilePayload(maxWorkers = 5, maxDevices = 3): fc.Arbitrary<PayloadInit> {
  return fc.record({
    hiveId: mixed(validId, hostileString),
    timestamp: optional(timestamp),
    workers: fc.array(hostileWorker, { maxLength: maxWorkers }),
    sequence: uint64Hostile,
    devices: fc.array(hostileDevice, { maxLength: maxDevices }),
    ramTotalBytes: optional(bytes),
    unchanged: fc.boolean(),
  });
}

// ---- valid messages ---------------------------------------------------------------------------------------------

/** A valid worker under the given id (float32 loads, so they come back from the wire bit for bit). */
export function validWorkerInit(workerId: string): fc.Arbitrary<WorkerInit> {
  return fc.record({
    workerId: fc.constant(workerId),
    state: fc.integer({ min: 0, max: 5 }),
    url: fc.constantFrom('http://10.0.0.1:9300/', 'https://gpu.example:8443/v1'),
    modelId: optional(fc.constantFrom('org/m-a', 'org/m-b')),
    backend: fc.integer({ min: 0, max: 4 }),
    deviceId: optional(fc.integer({ min: 0, max: 3 })),
    vramBytes: optional(fc.bigInt({ min: 0n, max: MAX_SAFE })),
    ramBytes: optional(fc.bigInt({ min: 0n, max: MAX_SAFE })),
    cpuPercent: optional(fc.float({ min: 0, max: 100, noNaN: true })),
    gpuPercent: optional(fc.float({ min: 0, max: 100, noNaN: true })),
    health: fc.integer({ min: 0, max: 2 }),
    lastHeartbeat: optional(validTimestamp),
    requestsRunning: optional(fc.integer({ min: 0, max: 1_000_000 })),
    requestsWaiting: optional(fc.integer({ min: 0, max: 1_000_000 })),
    kvCacheUsage: optional(fc.float({ min: 0, max: 1, noNaN: true })),
    engine: optional(fc.constantFrom('vllm', 'llama.cpp', 'simulated', 'other-engine')),
    engineVersion: optional(fc.constantFrom('0.6.3', '', '😀'.repeat(64))),
    contextLength: optional(contextLength),
    statusMessage: optional(fc.constantFrom('Loading model', '', 'é'.repeat(256))),
  });
}

/** Valid workers with distinct ids `${prefix}${n}`. */
export function validWorkers(prefix: string, maxLength: number): fc.Arbitrary<WorkerInit[]> {
  return fc
    .uniqueArray(fc.nat({ max: 2 * maxLength }), { maxLength })
    .chain((ns) => fc.tuple(...ns.map((n) => validWorkerInit(`${prefix}${n}`))));
}

/** Valid devices with distinct ids. */
export const validDevices: fc.Arbitrary<DeviceInit[]> = fc.uniqueArray(
  fc.record({
    deviceId: fc.integer({ min: 0, max: 7 }),
    backend: fc.integer({ min: 0, max: 4 }),
    name: fc.constantFrom('gpu', 'NVIDIA A100-SXM4-80GB', ''),
    vramTotalBytes: fc.bigInt({ min: 0n, max: MAX_SAFE }),
  }),
  { maxLength: 3, selector: (d) => d.deviceId },
);
