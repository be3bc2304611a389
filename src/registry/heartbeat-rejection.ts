import { quote } from './ids.js';
import type { Heartbeat, HeartbeatRejection } from './types.js';
import type { Claim } from './worker-holders.js';

function reject(reason: HeartbeatRejection['reason'], error: string): HeartbeatRejection {
  return { reason, error };
}

/** What a heartbeat stream has accepted so far. */
export interface StreamRecord {
  /** Set by the stream's first accepted payload. */
  hiveId?: string;
  /** The last accepted sequence in this stream. */
  lastSequence?: bigint;
}

/**
 * Why a payload received on `stream` must be rejected (the reason class and the message), or undefined when it
 * may be applied. Reads only.
 * `claimedMeanwhile` is the payload's hive's (see `WorkerHolders.replace`); `onlineHolderOtherThan` names the
 * online hive, other than the payload's, that holds a worker id, if any.
 */
export function heartbeatRejection(
  stream: StreamRecord,
  heartbeat: Heartbeat,
  claimedMeanwhile: Claim | undefined,
  onlineHolderOtherThan: (workerId: string) => string | undefined,
): HeartbeatRejection | undefined {
  if (stream.hiveId !== undefined && heartbeat.hiveId !== stream.hiveId) {
    return reject(
      'wrong_hive',
      `hive_id: this stream belongs to hive ${quote(stream.hiveId)}, got ${quote(heartbeat.hiveId)}`,
    );
  }
  if (stream.lastSequence !== undefined && heartbeat.sequence <= stream.lastSequence) {
    return reject(
      'sequence',
      `sequence: must be greater than ${stream.lastSequence} (the last accepted in this stream), got ${heartbeat.sequence}`,
    );
  }
  if (heartbeat.unchanged) {
    if (stream.hiveId === undefined) {
      return reject(
        'invalid_payload',
        'unchanged: the first payload of a stream must be a full snapshot, got a liveness tick',
      );
    }
    if (heartbeat.workers.length > 0) {
      return reject(
        'invalid_payload',
        `workers: must be empty when unchanged is set, got ${heartbeat.workers.length}`,
      );
    }
    if (heartbeat.devices.length > 0) {
      return reject(
        'invalid_payload',
        `devices: must be empty when unchanged is set, got ${heartbeat.devices.length}`,
      );
    }
    // While this hive was offline another hive claimed one of its workers: a tick would bring that worker back
    // with two holders, so the hive must send a full snapshot (whose worker ids are checked below).
    if (claimedMeanwhile !== undefined) {
      return reject(
        'worker_claimed',
        `unchanged: worker ${quote(claimedMeanwhile.workerId)} of the last snapshot was claimed by hive ${quote(claimedMeanwhile.byHive)} meanwhile; send a full snapshot`,
      );
    }
    return undefined;
  }
  const workerIds = new Set<string>();
  for (const [i, worker] of heartbeat.workers.entries()) {
    if (workerIds.has(worker.workerId)) {
      const first = heartbeat.workers.findIndex((w) => w.workerId === worker.workerId);
      return reject(
        'invalid_payload',
        `workers[${i}].worker_id: ${quote(worker.workerId)} duplicates workers[${first}]`,
      );
    }
    workerIds.add(worker.workerId);
    const holder = onlineHolderOtherThan(worker.workerId);
    if (holder !== undefined) {
      return reject(
        'worker_claimed',
        `workers[${i}].worker_id: ${quote(worker.workerId)} is held by online hive ${quote(holder)}`,
      );
    }
  }
  const deviceIds = new Set<number>();
  for (const [i, device] of heartbeat.devices.entries()) {
    if (deviceIds.has(device.deviceId)) {
      const first = heartbeat.devices.findIndex((d) => d.deviceId === device.deviceId);
      return reject('invalid_payload', `devices[${i}].device_id: ${device.deviceId} duplicates devices[${first}]`);
    }
    deviceIds.add(device.deviceId);
  }
  return undefined;
}
