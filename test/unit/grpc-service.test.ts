import { create, equals } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  Backend,
  HiveHeartbeatPayloadSchema,
  HiveRegistry,
  WorkerStatus,
  GetHiveStateRequestSchema,
} from '../../gen/hive/v1/registry_pb';
import { grpcServiceDefinition } from '../../src/server/grpc-service';

describe('grpcServiceDefinition', () => {
  const definition = grpcServiceDefinition(HiveRegistry);

  test('has every method of the service, keyed by local name, with the proto path and name', () => {
    expect(Object.keys(definition)).toHaveLength(HiveRegistry.methods.length);
    expect(definition.getHiveState).toMatchObject({
      path: '/hive.v1.HiveRegistry/GetHiveState',
      originalName: 'GetHiveState',
      requestStream: false,
      responseStream: false,
    });
    expect(definition.heartbeat).toMatchObject({
      path: '/hive.v1.HiveRegistry/Heartbeat',
      originalName: 'Heartbeat',
      requestStream: true,
      responseStream: true,
    });
  });

  test('round-trips a full heartbeat payload through its serializer and deserializer', () => {
    const payload = create(HiveHeartbeatPayloadSchema, {
      hiveId: 'hive-a',
      sequence: 18_446_744_073_709_551_615n,
      timestamp: timestampFromMs(1_700_000_000_123),
      workers: [
        {
          workerId: 'w-1',
          state: WorkerStatus.BUSY,
          url: 'https://10.0.0.1:8443/v1',
          modelId: 'org/model',
          backend: Backend.ROCM,
          deviceId: 3,
          vramBytes: 9_007_199_254_740_991n,
          gpuPercent: 0,
        },
      ],
      devices: [{ deviceId: 3, backend: Backend.ROCM, name: 'MI300X', vramTotalBytes: 206_158_430_208n }],
      unchanged: false,
    });
    const method = definition.heartbeat!;
    const bytes = method.requestSerialize(payload);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    const back = method.requestDeserialize(bytes);
    expect(equals(HiveHeartbeatPayloadSchema, back as typeof payload, payload)).toBe(true);
    // Explicit presence survives: gpu_percent 0 is set, cpu_percent is absent.
    expect((back as typeof payload).workers[0]?.gpuPercent).toBe(0);
    expect((back as typeof payload).workers[0]?.cpuPercent).toBeUndefined();
  });

  test('the deserializer refuses bytes that are not the message', () => {
    const method = definition.getHiveState!;
    expect(() => method.requestDeserialize(Buffer.from([0x0a, 0xff]))).toThrow();
    const ok = method.requestDeserialize(Buffer.from(method.requestSerialize(create(GetHiveStateRequestSchema, { hiveId: 'x' }))));
    expect(ok).toMatchObject({ hiveId: 'x' });
  });
});
