// The heartbeat conversion's reuse of the hive's last snapshot (known-snapshot.ts) is an optimisation only: with or
// without it, every payload gets the same verdict, the same rejection message and the same values. Payloads are the
// known workers and devices sent again, each unchanged, with one field swapped for a hostile value, or replaced by a
// hostile worker, in any order.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { HiveHeartbeatPayloadSchema, type HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb';
import { DomainError } from '../../src/common/domain-error';
import type { Heartbeat, KnownSnapshot } from '../../src/registry/types';
import { payloadToHeartbeat, type PayloadLimits } from '../../src/server/payload-to-heartbeat';
import { propertyParams } from '../helpers/property-params';
import { hostileDevice, hostileWorker, validDevices, validWorkers } from './wire-arbitraries';

const LIMITS: PayloadLimits = { maxWorkersPerHive: 6, maxDevicesPerHive: 4 };
const HIVE = 'hive-k';

function convert(payload: HiveHeartbeatPayload, known?: KnownSnapshot): { heartbeat: Heartbeat } | { rejection: string } {
  try {
    return { heartbeat: payloadToHeartbeat(payload, LIMITS, known) };
  } catch (error) {
    if (error instanceof DomainError && error.reason === 'invalid_argument') return { rejection: error.message };
    throw error;
  }
}

/** The registry's copy of an accepted snapshot: sorted by id. */
function knownOf(heartbeat: Heartbeat): KnownSnapshot {
  return {
    workers: [...heartbeat.workers].sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0)),
    devices: [...heartbeat.devices].sort((a, b) => a.deviceId - b.deviceId),
  };
}

/** `base` with one field taken from `hostile`. */
function swapOne<T extends object>(base: T, hostile: T, field: keyof T): T {
  return { ...base, [field]: hostile[field] };
}

const scenario = fc
  .tuple(validWorkers('w', 4), validDevices)
  .chain(([workers, devices]) => {
    const sentWorker = fc.oneof(
      ...(workers.length === 0
        ? [hostileWorker]
        : [
            fc.constantFrom(...workers),
            fc
              .tuple(fc.constantFrom(...workers), hostileWorker, fc.constantFrom(...Object.keys(workers[0] ?? {})))
              .map(([base, hostile, field]) => swapOne(base, hostile, field as keyof typeof base)),
            hostileWorker,
          ]),
    );
    const sentDevice = fc.oneof(
      ...(devices.length === 0
        ? [hostileDevice]
        : [
            fc.constantFrom(...devices),
            fc
              .tuple(fc.constantFrom(...devices), hostileDevice, fc.constantFrom('backend', 'name', 'vramTotalBytes' as const))
              .map(([base, hostile, field]) => swapOne(base, hostile, field)),
            hostileDevice,
          ]),
    );
    return fc.record({
      workers: fc.constant(workers),
      devices: fc.constant(devices),
      sentWorkers: fc.array(sentWorker, { maxLength: LIMITS.maxWorkersPerHive }),
      sentDevices: fc.array(sentDevice, { maxLength: LIMITS.maxDevicesPerHive }),
    });
  });

describe('payloadToHeartbeat with the hive’s last snapshot', () => {
  it('gives the same verdict, message and values as without it, in memory and after the wire', () => {
    fc.assert(
      fc.property(scenario, ({ workers, devices, sentWorkers, sentDevices }) => {
        const first = convert(create(HiveHeartbeatPayloadSchema, { hiveId: HIVE, sequence: 1n, workers, devices }));
        if (!('heartbeat' in first)) throw new Error(`the valid snapshot was rejected: ${first.rejection}`);
        const known = knownOf(first.heartbeat);
        const payload = create(HiveHeartbeatPayloadSchema, {
          hiveId: HIVE,
          sequence: 2n,
          workers: sentWorkers,
          devices: sentDevices,
        });
        for (const sent of [payload, fromBinary(HiveHeartbeatPayloadSchema, toBinary(HiveHeartbeatPayloadSchema, payload))]) {
          expect(convert(sent, known)).toStrictEqual(convert(sent));
        }
      }),
      propertyParams(300),
    );
  });

  it('reuses the very objects of workers and devices sent again unchanged, and only those', () => {
    const base = {
      hiveId: HIVE,
      sequence: 1n,
      workers: [
        { workerId: 'w-a', url: 'http://10.0.0.1:9300/', state: 1, backend: 2, health: 1, vramBytes: 5n, kvCacheUsage: 0.5 },
        { workerId: 'w-b', url: 'http://10.0.0.2:9300/', state: 1, backend: 2, health: 1, lastHeartbeat: { seconds: 10n, nanos: 5 } },
      ],
      devices: [{ deviceId: 0, backend: 2, name: 'gpu', vramTotalBytes: 80n }],
    };
    const first = convert(create(HiveHeartbeatPayloadSchema, base));
    if (!('heartbeat' in first)) throw new Error(first.rejection);
    const known = knownOf(first.heartbeat);
    // Sent again in the other order, the second worker's load changed.
    const again = convert(
      create(HiveHeartbeatPayloadSchema, {
        ...base,
        sequence: 2n,
        workers: [{ ...base.workers[1], lastHeartbeat: { seconds: 11n, nanos: 5 } }, base.workers[0] ?? {}],
      }),
      known,
    );
    if (!('heartbeat' in again)) throw new Error(again.rejection);
    expect(again.heartbeat.workers[1]).toBe(known.workers[0]);
    expect(again.heartbeat.workers[0]).not.toBe(known.workers[1]);
    expect(again.heartbeat.workers[0]?.lastHeartbeat).toEqual({ seconds: 11, nanos: 5 });
    expect(again.heartbeat.devices[0]).toBe(known.devices[0]);
  });
});
