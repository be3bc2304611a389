import type { Device, Worker } from '../common/worker.js';
import type { PublishedHive } from '../registry/types.js';

// A hive's record in etcd (`<prefix>hives/<hive id>`): JSON, written by the queen that owns the hive under its
// lease. Every queen of a federation is the same program, but a record is still read defensively: one unreadable
// record is skipped and logged, never a crash or a hive made up from half a value.

/** The record's shape version: a reader skips records of a version it does not know. */
const VERSION = 1;

/** What a hive's key holds: its publication, or a removal every queen must apply (then the key is deleted). */
export type HiveRecordValue =
  | { readonly kind: 'hive'; readonly hive: PublishedHive }
  | { readonly kind: 'removed'; readonly hiveId: string; readonly by: string };

interface StoredHive {
  readonly v: number;
  readonly owner: string;
  readonly online: boolean;
  readonly sequence: string;
  readonly lastHeartbeatWallMs: number;
  readonly senderTime?: { readonly seconds: number; readonly nanos: number };
  readonly ramTotalBytes?: number;
  readonly workers: readonly Worker[];
  readonly devices: readonly Device[];
}

interface StoredRemoval {
  readonly v: number;
  readonly removedBy: string;
}

export function encodePublishedHive(hive: PublishedHive): string {
  const stored: StoredHive = {
    v: VERSION,
    owner: hive.owner,
    online: hive.online,
    sequence: hive.sequence.toString(),
    lastHeartbeatWallMs: hive.lastHeartbeatWallMs,
    ...(hive.senderTime === undefined ? {} : { senderTime: hive.senderTime }),
    ...(hive.ramTotalBytes === undefined ? {} : { ramTotalBytes: hive.ramTotalBytes }),
    workers: hive.workers,
    devices: hive.devices,
  };
  return JSON.stringify(stored);
}

/** The value that removes a hive from every queen (RemoveHive, eviction): `by` is the queen that removed it. */
export function encodeRemoval(by: string): string {
  const stored: StoredRemoval = { v: VERSION, removedBy: by };
  return JSON.stringify(stored);
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** The record's value, or a reason it cannot be read. */
export function decodeHiveRecord(hiveId: string, raw: Buffer): HiveRecordValue | { readonly error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { error: 'not JSON' };
  }
  if (!isObject(parsed)) return { error: 'not an object' };
  if (parsed.v !== VERSION) return { error: `unknown version ${JSON.stringify(parsed.v)}` };
  if (typeof parsed.removedBy === 'string') return { kind: 'removed', hiveId, by: parsed.removedBy };
  const { owner, online, sequence, lastHeartbeatWallMs, senderTime, ramTotalBytes, workers, devices } = parsed;
  if (typeof owner !== 'string' || owner === '') return { error: 'owner: must be a queen id' };
  if (typeof online !== 'boolean') return { error: 'online: must be a boolean' };
  if (typeof sequence !== 'string' || !/^\d{1,20}$/.test(sequence)) return { error: 'sequence: must be a decimal string' };
  if (!isCount(lastHeartbeatWallMs)) return { error: 'lastHeartbeatWallMs: must be epoch milliseconds' };
  let sender: PublishedHive['senderTime'];
  if (senderTime !== undefined) {
    if (!(isObject(senderTime) && isCount(senderTime.seconds) && isCount(senderTime.nanos))) {
      return { error: 'senderTime: must be {seconds, nanos}' };
    }
    sender = { seconds: senderTime.seconds, nanos: senderTime.nanos };
  }
  if (ramTotalBytes !== undefined && !isCount(ramTotalBytes)) return { error: 'ramTotalBytes: must be a byte count' };
  if (!Array.isArray(workers) || !workers.every((w) => isObject(w) && typeof w.workerId === 'string' && typeof w.url === 'string')) {
    return { error: 'workers: must be a list of workers' };
  }
  if (!Array.isArray(devices) || !devices.every((d) => isObject(d) && isCount(d.deviceId))) {
    return { error: 'devices: must be a list of devices' };
  }
  const hive: PublishedHive = {
    hiveId,
    owner,
    online,
    sequence: BigInt(sequence),
    lastHeartbeatWallMs,
    workers: workers as Worker[],
    devices: devices as Device[],
    ...(sender === undefined ? {} : { senderTime: sender }),
    ...(ramTotalBytes === undefined ? {} : { ramTotalBytes }),
  };
  return { kind: 'hive', hive };
}
