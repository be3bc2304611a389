import type { HeartbeatAck } from '../../gen/hive/v1/registry_pb';
import type { RegistryClient } from './client';

/** The parts of an ack a test compares as a whole. */
export function ackSummary(ack: HeartbeatAck): { sequence: bigint; accepted: boolean; error: string } {
  return { sequence: ack.sequence, accepted: ack.accepted, error: ack.error };
}

/** The summary of an accepted ack for `sequence`. */
export function accepted(sequence: number | bigint): ReturnType<typeof ackSummary> {
  return { sequence: BigInt(sequence), accepted: true, error: '' };
}

/** The summary of a rejected ack for `sequence` whose error matches `error`. */
export function rejected(sequence: number | bigint, error: RegExp): ReturnType<typeof ackSummary> {
  return { sequence: BigInt(sequence), accepted: false, error: expect.stringMatching(error) as unknown as string };
}

/** Worker ids, device ids, sequence and liveness of a hive as GetHiveState reports them. */
export async function snapshotOf(rpc: RegistryClient, hiveId: string) {
  const { hive } = await rpc.getHiveState({ hiveId });
  return {
    workers: hive?.workers.map((w) => w.workerId),
    devices: hive?.devices.map((d) => d.deviceId),
    sequence: hive?.sequence,
    online: hive?.online,
  };
}
