// The engine fields of a WorkerState at the queen's edge (payloadToHeartbeat): each field's good values and every
// bad case, named with its worker and its limit.
import { create } from '@bufbuild/protobuf';
import { HiveHeartbeatPayloadSchema } from '../../gen/hive/v1/registry_pb';
import { DomainError } from '../../src/common/domain-error';
import { payloadToHeartbeat } from '../../src/server/payload-to-heartbeat';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

const LIMITS = { maxWorkersPerHive: 16, maxDevicesPerHive: 4 };
/** Field overrides of a wire worker. */
type Fields = NonNullable<Parameters<typeof wireWorker>[1]>;

/** The heartbeat of a hive whose third worker has `fields` (the message names `workers[2]`). */
function convert(fields: Fields) {
  const payload = snapshotPayload('hive-a', 1, [wireWorker('w-0'), wireWorker('w-1'), wireWorker('w-2', fields)]);
  return payloadToHeartbeat(create(HiveHeartbeatPayloadSchema, payload), LIMITS);
}

/** The third worker as the domain holds it. */
function accepted(fields: Fields) {
  return convert(fields).workers[2];
}

/** The rejection's message; fails the test when the payload is accepted or refused for another reason. */
function rejection(fields: Fields): string {
  try {
    convert(fields);
  } catch (error) {
    if (error instanceof DomainError && error.reason === 'invalid_argument') return error.message;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(fields)}`);
}

describe('payloadToHeartbeat: engine fields', () => {
  test('all seven reported: carried as they came', () => {
    const worker = accepted({
      requestsRunning: 3,
      requestsWaiting: 1,
      kvCacheUsage: 0.5,
      engine: 'vllm',
      engineVersion: '0.6.3.post1',
      contextLength: 131_072,
      statusMessage: 'serving',
    });
    expect(worker).toMatchObject({
      requestsRunning: 3,
      requestsWaiting: 1,
      kvCacheUsage: 0.5,
      engine: 'vllm',
      engineVersion: '0.6.3.post1',
      contextLength: 131_072,
      statusMessage: 'serving',
    });
  });

  test('none reported: every key is still there, undefined (one object shape for all workers)', () => {
    const worker = accepted({});
    const keys = ['requestsRunning', 'requestsWaiting', 'kvCacheUsage', 'engine', 'engineVersion', 'contextLength', 'statusMessage'];
    expect(keys.filter((key) => !Object.hasOwn(worker ?? {}, key))).toEqual([]);
    expect(keys.map((key) => (worker as unknown as Record<string, unknown>)[key])).toEqual(keys.map(() => undefined));
    // The same keys in the same order as a worker that reports everything.
    expect(Object.keys(worker ?? {})).toEqual(Object.keys(accepted({ engine: 'tgi', requestsRunning: 0, statusMessage: '' }) ?? {}));
  });

  test.each<[string, Fields]>([
    ['requests at 0', { requestsRunning: 0, requestsWaiting: 0 }],
    ['requests at the limit, 1,000,000', { requestsRunning: 1_000_000, requestsWaiting: 1_000_000 }],
    ['kv_cache_usage 0', { kvCacheUsage: 0 }],
    ['kv_cache_usage 1', { kvCacheUsage: 1 }],
    ['each known engine', { engine: 'llama.cpp' }],
    ['an engine beyond the six named', { engine: 'my-engine2.0' }],
    ['an engine of 32 characters', { engine: 'e'.repeat(32) }],
    ['an engine_version of 64 characters', { engineVersion: 'v'.repeat(64) }],
    ['an engine_version of 64 astral characters (128 UTF-16 units)', { engineVersion: '😀'.repeat(64) }],
    ['an empty engine_version', { engineVersion: '' }],
    ['a status_message of 256 characters', { statusMessage: 's'.repeat(256) }],
    ['a status_message of 256 astral characters', { statusMessage: '😀'.repeat(256) }],
    ['a status_message with newlines and any text', { statusMessage: 'connection refused\n(ECONNREFUSED 127.0.0.1:8000)' }],
    ['context_length 0', { contextLength: 0 }],
    ['context_length at the uint32 limit', { contextLength: 0xffff_ffff }],
  ])('accepted: %s', (_name, fields) => {
    expect(accepted(fields)).toMatchObject(fields);
  });

  test.each(['vllm', 'llama.cpp', 'ollama', 'sglang', 'tgi', 'simulated'])('the known engine %s is accepted', (engine) => {
    expect(accepted({ engine })?.engine).toBe(engine);
  });

  test.each<[string, Fields, string]>([
    ['requests_running over 1,000,000', { requestsRunning: 1_000_001 }, 'workers[2].requests_running: must be at most 1000000 requests, got 1000001'],
    ['requests_running at the uint32 limit', { requestsRunning: 0xffff_ffff }, 'workers[2].requests_running: must be at most 1000000 requests, got 4294967295'],
    ['requests_waiting over 1,000,000', { requestsWaiting: 2_000_000 }, 'workers[2].requests_waiting: must be at most 1000000 requests, got 2000000'],
    ['kv_cache_usage over 1', { kvCacheUsage: 1.5 }, 'workers[2].kv_cache_usage: must be a number from 0 to 1, got 1.5'],
    ['kv_cache_usage below 0', { kvCacheUsage: -0.25 }, 'workers[2].kv_cache_usage: must be a number from 0 to 1, got -0.25'],
    ['kv_cache_usage NaN', { kvCacheUsage: Number.NaN }, 'workers[2].kv_cache_usage: must be a number from 0 to 1, got NaN'],
    ['kv_cache_usage infinite', { kvCacheUsage: Number.POSITIVE_INFINITY }, 'workers[2].kv_cache_usage: must be a number from 0 to 1, got Infinity'],
    ['kv_cache_usage as a percentage', { kvCacheUsage: 45 }, 'workers[2].kv_cache_usage: must be a number from 0 to 1, got 45'],
    ['an empty engine', { engine: '' }, 'workers[2].engine: must not be empty (leave it unset when the engine is unknown)'],
    ['an engine of 33 characters', { engine: 'e'.repeat(33) }, 'workers[2].engine: must be at most 32 characters, got 33'],
    ['an engine in capitals', { engine: 'vLLM' }, 'workers[2].engine: must contain only the characters [a-z0-9.-], got "vLLM"'],
    ['an engine with a space', { engine: 'llama cpp' }, 'workers[2].engine: must contain only the characters [a-z0-9.-], got "llama cpp"'],
    ['an engine with an underscore', { engine: 'llama_cpp' }, 'workers[2].engine: must contain only the characters [a-z0-9.-], got "llama_cpp"'],
    ['an engine with a non-ASCII letter', { engine: 'vllé' }, 'workers[2].engine: must contain only the characters [a-z0-9.-], got "vllé"'],
    ['an engine of 20 astral characters', { engine: '😀'.repeat(20) }, `workers[2].engine: must contain only the characters [a-z0-9.-], got "${'😀'.repeat(20)}"`],
    ['an engine_version of 65 characters', { engineVersion: 'v'.repeat(65) }, 'workers[2].engine_version: must be at most 64 characters, got 65'],
    ['an engine_version of 65 astral characters', { engineVersion: '😀'.repeat(65) }, 'workers[2].engine_version: must be at most 64 characters, got 65'],
    ['a status_message of 257 characters', { statusMessage: 's'.repeat(257) }, 'workers[2].status_message: must be at most 256 characters, got 257'],
    ['a status_message of 1,000 characters', { statusMessage: 'x'.repeat(1_000) }, 'workers[2].status_message: must be at most 256 characters, got 1000'],
  ])('rejected: %s', (_name, fields, message) => {
    expect(rejection(fields)).toBe(message);
  });

  test('several bad fields are named together, in field order', () => {
    expect(rejection({ statusMessage: 'x'.repeat(300), kvCacheUsage: 2, engine: 'A', requestsWaiting: 1_000_001 }).split('; ')).toEqual([
      'workers[2].requests_waiting: must be at most 1000000 requests, got 1000001',
      'workers[2].kv_cache_usage: must be a number from 0 to 1, got 2',
      'workers[2].engine: must contain only the characters [a-z0-9.-], got "A"',
      'workers[2].status_message: must be at most 256 characters, got 300',
    ]);
  });

  test('a bad engine field beside a bad older field: both named', () => {
    expect(rejection({ gpuPercent: 101, kvCacheUsage: 1.01 })).toBe(
      'workers[2].gpu_percent: must be a number from 0 to 100, got 101; workers[2].kv_cache_usage: must be a number from 0 to 1, got 1.01',
    );
  });
});
