import type { HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb';
import type { PayloadLimits } from '../../src/server/payload-to-heartbeat';
import { MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS } from './wire-arbitraries';

/**
 * The contract's field rules for a heartbeat payload, written out independently of payload-to-heartbeat.ts: which
 * fields a payload gets wrong. A rule whose unit the contract leaves open ("256 characters": code points or UTF-16
 * units) marks the values in between as `either`, so the property holds the adapter to what is unambiguous.
 */
export interface FieldVerdicts {
  /** Fields that break a rule: the payload must be refused, and these are the fields it may name. */
  readonly bad: readonly string[];
  /** Fields that break a rule under one reading of a limit and not under the other. */
  readonly either: readonly string[];
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const ID = /^[A-Za-z0-9._:-]{1,128}$/;

const codePoints = (s: string): number => [...s].length;

export function fieldVerdicts(p: HiveHeartbeatPayload, limits: PayloadLimits): FieldVerdicts {
  const bad: string[] = [];
  const either: string[] = [];
  const rule = (field: string, ok: boolean): void => {
    if (!ok) bad.push(field);
  };
  /** A length limit in "characters": ok in both readings, bad in both, or in between. */
  const length = (field: string, value: string, max: number): void => {
    if (value.length <= max) return;
    if (codePoints(value) <= max) either.push(field);
    else bad.push(field);
  };
  const timestamp = (field: string, t: { seconds: bigint; nanos: number } | undefined): void => {
    if (t === undefined) return;
    const seconds = t.seconds >= MIN_TIMESTAMP_SECONDS && t.seconds <= MAX_TIMESTAMP_SECONDS;
    rule(field, seconds && t.nanos >= 0 && t.nanos <= 999_999_999);
  };
  const bytes = (field: string, value: bigint | undefined): void => rule(field, value === undefined || value <= MAX_SAFE);
  const percent = (field: string, value: number | undefined): void =>
    rule(field, value === undefined || (Number.isFinite(value) && value >= 0 && value <= 100));

  rule('hive_id', ID.test(p.hiveId));
  timestamp('timestamp', p.timestamp);
  const workersFit = p.workers.length <= limits.maxWorkersPerHive;
  const devicesFit = p.devices.length <= limits.maxDevicesPerHive;
  rule('workers', workersFit);
  rule('devices', devicesFit);
  bytes('ram_total_bytes', p.ramTotalBytes);
  // Past the count limit the entries are not looked at: the count is the problem.
  if (workersFit) {
    p.workers.forEach((w, i) => {
      const f = `workers[${i}]`;
      rule(`${f}.worker_id`, ID.test(w.workerId));
      if (w.url.length > 2048) length(`${f}.url`, w.url, 2048);
      if (codePoints(w.url) <= 2048) rule(`${f}.url`, isHttpUrl(w.url));
      if (w.modelId !== undefined) {
        rule(`${f}.model_id`, w.modelId.length > 0 && codePoints(w.modelId) <= 256 && !/\s/.test(w.modelId));
      }
      rule(`${f}.state`, Number.isInteger(w.state) && w.state >= 0 && w.state <= 5);
      rule(`${f}.backend`, Number.isInteger(w.backend) && w.backend >= 0 && w.backend <= 4);
      rule(`${f}.health`, Number.isInteger(w.health) && w.health >= 0 && w.health <= 2);
      bytes(`${f}.vram_bytes`, w.vramBytes);
      bytes(`${f}.ram_bytes`, w.ramBytes);
      percent(`${f}.cpu_percent`, w.cpuPercent);
      percent(`${f}.gpu_percent`, w.gpuPercent);
      timestamp(`${f}.last_heartbeat`, w.lastHeartbeat);
      rule(`${f}.requests_running`, w.requestsRunning === undefined || w.requestsRunning <= 1_000_000);
      rule(`${f}.requests_waiting`, w.requestsWaiting === undefined || w.requestsWaiting <= 1_000_000);
      const kv = w.kvCacheUsage;
      rule(`${f}.kv_cache_usage`, kv === undefined || (Number.isFinite(kv) && kv >= 0 && kv <= 1));
      if (w.engine !== undefined) rule(`${f}.engine`, /^[a-z0-9.-]{1,32}$/.test(w.engine));
      if (w.engineVersion !== undefined) length(`${f}.engine_version`, w.engineVersion, 64);
      if (w.statusMessage !== undefined) length(`${f}.status_message`, w.statusMessage, 256);
    });
  }
  if (devicesFit) {
    p.devices.forEach((d, i) => {
      const f = `devices[${i}]`;
      length(`${f}.name`, d.name, 256);
      rule(`${f}.backend`, Number.isInteger(d.backend) && d.backend >= 0 && d.backend <= 4);
      bytes(`${f}.vram_total_bytes`, d.vramTotalBytes);
    });
  }
  return { bad, either };
}

/** An absolute http(s) URL with a host (the WHATWG parser decides what "absolute" means). */
function isHttpUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}

/**
 * Splits a rejection message into its problems: `field: text` joined by '; '. Quoted client values (JSON strings)
 * may themselves contain '; ', so separators inside a string literal do not count.
 */
export function problemsOf(message: string): string[] {
  const problems: string[] = [];
  let inString = false;
  let start = 0;
  for (let i = 0; i < message.length; i++) {
    const c = message[i];
    if (inString && c === '\\') i++;
    else if (c === '"') inString = !inString;
    else if (!inString && c === ';' && message[i + 1] === ' ') {
      problems.push(message.slice(start, i));
      start = i + 2;
      i++;
    }
  }
  problems.push(message.slice(start));
  return problems;
}

/** The field a problem names: everything before the first ': '. */
export function fieldOf(problem: string): string {
  const end = problem.indexOf(': ');
  return end < 0 ? problem : problem.slice(0, end);
}
