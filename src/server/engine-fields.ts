import {
  MAX_ENGINE_LENGTH,
  MAX_ENGINE_REQUESTS,
  MAX_ENGINE_VERSION_LENGTH,
  MAX_STATUS_MESSAGE_LENGTH,
} from '../common/worker.js';
import type { WorkerState } from '../../gen/hive/v1/registry_pb.js';
import { codePoints, quote } from '../registry/ids.js';

/**
 * The rules of a worker's engine fields (requests running and waiting, KV cache usage, engine, its version, context
 * length, status message). Every heartbeat's every worker goes through them: a few comparisons each, and a field's
 * name is only spelt out when it is wrong.
 */

/** Where problems go (payload-to-heartbeat's collector). */
export interface ProblemSink {
  add(problem: string | undefined): void;
}

const ENGINE_PATTERN = /^[a-z0-9.-]+$/;

/** An engine name: 1 to MAX_ENGINE_LENGTH characters of [a-z0-9.-]; names beyond the known engines are fine. */
export function checkEngine(field: string, value: string): string | undefined {
  if (value.length === 0) return `${field}: must not be empty (leave it unset when the engine is unknown)`;
  // value.length counts UTF-16 units: a string over the limit in units may still fit in characters (then the
  // charset check names it).
  if (value.length > MAX_ENGINE_LENGTH && codePoints(value) > MAX_ENGINE_LENGTH) {
    return `${field}: must be at most ${MAX_ENGINE_LENGTH} characters, got ${codePoints(value)}`;
  }
  if (!ENGINE_PATTERN.test(value)) return `${field}: must contain only the characters [a-z0-9.-], got ${quote(value)}`;
  return undefined;
}

function requests(field: string, name: string, value: number | undefined): string | undefined {
  if (value === undefined || value <= MAX_ENGINE_REQUESTS) return undefined;
  return `${field}.${name}: must be at most ${MAX_ENGINE_REQUESTS} requests, got ${value}`;
}

/** At most `max` characters (code points). */
function text(field: string, name: string, value: string | undefined, max: number): string | undefined {
  if (value === undefined || value.length <= max) return undefined;
  const length = codePoints(value);
  return length <= max ? undefined : `${field}.${name}: must be at most ${max} characters, got ${length}`;
}

/**
 * Adds to `problems` what is wrong with `w`'s engine fields, in field order; `field` names the worker
 * (`workers[2]`). `context_length` takes any uint32.
 */
export function checkEngineFields(field: string, w: WorkerState, problems: ProblemSink): void {
  problems.add(requests(field, 'requests_running', w.requestsRunning));
  problems.add(requests(field, 'requests_waiting', w.requestsWaiting));
  const kv = w.kvCacheUsage;
  // Written so that NaN fails too.
  if (kv !== undefined && !(kv >= 0 && kv <= 1)) problems.add(`${field}.kv_cache_usage: must be a number from 0 to 1, got ${kv}`);
  if (w.engine !== undefined) problems.add(checkEngine(`${field}.engine`, w.engine));
  problems.add(text(field, 'engine_version', w.engineVersion, MAX_ENGINE_VERSION_LENGTH));
  problems.add(text(field, 'status_message', w.statusMessage, MAX_STATUS_MESSAGE_LENGTH));
}
