// Responses spliced from cached worker and device bytes decode to exactly the message the plain encoder builds.
import { create, equals, fromBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  FindBestWorkerForModelResponseSchema,
  GetHiveStateResponseSchema,
  HiveStateSchema,
} from '../../gen/hive/v1/registry_pb';
import { computeResources } from '../../src/registry/resources';
import type { HiveView } from '../../src/registry/types';
import { deviceToProto, entryToProto, resourcesToProto, uint32, wallTimeToProto, workerToProto } from '../../src/server/domain-to-proto';
import { encodedWorker, findBestResponseBytes, getHiveStateResponseBytes } from '../../src/server/wire-splice';
import { makeDevice, makeWorker } from '../helpers/domain-builders';

/** The HiveState the plain encoder makes of `hive`, field by field as the contract defines it. */
function plainHiveState(hive: HiveView, queenId: string) {
  return create(HiveStateSchema, {
    hiveId: hive.hiveId,
    workers: hive.workers.map(workerToProto),
    workerCount: uint32(hive.workers.length),
    online: hive.online,
    lastHeartbeat: timestampFromMs(Math.floor(hive.lastHeartbeatWallMs)),
    senderTimestamp: hive.senderTime === undefined ? undefined : wallTimeToProto(hive.senderTime),
    sequence: hive.sequence,
    resources: resourcesToProto(hive.resources),
    devices: hive.devices.map(deviceToProto),
    queenId: hive.owner ?? queenId,
  });
}

function view(overrides: Partial<HiveView> = {}): HiveView {
  const workers = [
    makeWorker('w-0', { modelId: 'org/m', vramBytes: 20 * 2 ** 30, deviceId: 0, gpuPercent: 12.5, lastHeartbeat: { seconds: 1_700_000_000, nanos: 5 } }),
    makeWorker('w-1', { state: 'busy', requestsRunning: 3, kvCacheUsage: 0.25, engine: 'vllm', statusMessage: 'é'.repeat(300) }),
    // Over 127 bytes encoded, so its length takes two varint bytes.
    makeWorker('w-2', { url: `http://10.0.0.9:8000/${'x'.repeat(200)}` }),
  ];
  const devices = [makeDevice(0, 80 * 2 ** 30, { name: 'NVIDIA H100' }), makeDevice(1, 24 * 2 ** 30)];
  return {
    hiveId: 'hive-s',
    workers,
    devices,
    online: true,
    lastHeartbeatWallMs: 1_765_000_000_123.7,
    senderTime: { seconds: 1_765_000_000, nanos: 42 },
    sequence: 2n ** 40n,
    resources: computeResources(workers, devices, 512 * 2 ** 30),
    ...overrides,
  };
}

describe('spliced responses', () => {
  test.each([
    ['a full hive', view()],
    ['no workers, no devices, no sender time, offline', view({ workers: [], devices: [], senderTime: undefined, online: false })],
    ['a hive another queen owns', view({ owner: 'q2:50051' })],
  ])('GetHiveState: %s decodes as the plain message', (_name, hive) => {
    const decoded = fromBinary(GetHiveStateResponseSchema, getHiveStateResponseBytes(hive, 'q1:50051'));
    const plain = create(GetHiveStateResponseSchema, { hive: plainHiveState(hive, 'q1:50051') });
    expect(equals(GetHiveStateResponseSchema, decoded, plain)).toBe(true);
  });

  test.each([
    ['a reservation, model loaded', true, 'r-17'],
    ['no reservation, model not loaded', false, ''],
  ])('FindBestWorkerForModel: %s decodes as the plain message', (_name, modelLoaded, reservationId) => {
    const worker = view().workers[1] ?? makeWorker('w');
    for (const entry of [
      { hiveId: 'hive-s', worker, hiveOnline: true },
      { hiveId: 'hive-s', worker, hiveOnline: false, queenId: 'q2:50051' },
    ]) {
      const decoded = fromBinary(FindBestWorkerForModelResponseSchema, findBestResponseBytes(entry, 'q1:50051', modelLoaded, reservationId));
      const plain = create(FindBestWorkerForModelResponseSchema, {
        entry: entryToProto(entry, 'q1:50051'),
        modelLoaded,
        reservationId,
      });
      expect(equals(FindBestWorkerForModelResponseSchema, decoded, plain)).toBe(true);
    }
  });

  test('a worker is encoded once per object, again once it changes', () => {
    const worker = makeWorker('w-c', { gpuPercent: 10 });
    expect(encodedWorker(worker)).toBe(encodedWorker(worker));
    expect(encodedWorker({ ...worker, gpuPercent: 11 })).not.toBe(encodedWorker(worker));
  });
});
