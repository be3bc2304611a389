import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Server, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  FindBestWorkerForModelResponseSchema,
  GetHiveStateResponseSchema,
  HeartbeatAckSchema,
  HiveRegistry,
  type FindBestWorkerForModelResponse,
  type GetHiveStateResponse,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
} from '../gen/hive/v1/registry_pb.js';
import { grpcServiceDefinition } from '../src/server/grpc-service.js';
import { DEVICES_PER_HIVE, WORKERS_PER_HIVE, hiveId, wireDevices, wireWorkers } from './fleet.js';

/** The heartbeat interval the baseline puts in its acks, as the queen's default does: same ack size. */
const HEARTBEAT_INTERVAL_MS = 5_000;

/**
 * The baseline: a bare grpc-js server with the same service definition (built from our protobuf-es descriptors
 * by the same grpcServiceDefinition, so requests are decoded and responses encoded exactly as in the queen) and
 * handlers that do no work: each heartbeat payload is answered with an ack (sequence echoed, accepted = true,
 * the same interval and receive-time fields as the queen's acks), and each unary call with a fixed response of
 * the shape and size the queen returns for the benchmark's fleet. Methods the benchmark does not call answer
 * UNIMPLEMENTED (grpc-js's default).
 */
export function bareServer(): Server {
  const server = new Server();
  const gpuWorker = wireWorkers(0)[1];
  const bestWorker: FindBestWorkerForModelResponse = create(FindBestWorkerForModelResponseSchema, {
    entry: { hiveId: hiveId(0), worker: gpuWorker, hiveOnline: true },
    modelLoaded: true,
  });
  const hiveState: GetHiveStateResponse = create(GetHiveStateResponseSchema, {
    hive: {
      hiveId: hiveId(0),
      workers: wireWorkers(0),
      workerCount: WORKERS_PER_HIVE,
      online: true,
      lastHeartbeat: timestampFromMs(Date.now()),
      senderTimestamp: timestampFromMs(Date.now()),
      sequence: 1n,
      resources: {
        workerCount: WORKERS_PER_HIVE,
        vramUsedBytes: 100n * 2n ** 30n,
        ramUsedBytes: 28n * 2n ** 30n,
        vramTotalBytes: BigInt(DEVICES_PER_HIVE) * 80n * 2n ** 30n,
        vramFreeBytes: 220n * 2n ** 30n,
        ramTotalBytes: 512n * 2n ** 30n,
      },
      devices: wireDevices(),
    },
  });

  server.addService(grpcServiceDefinition(HiveRegistry), {
    heartbeat: (call: ServerDuplexStream<HiveHeartbeatPayload, HeartbeatAck>) => {
      call.on('data', (payload: HiveHeartbeatPayload) => {
        const ack = create(HeartbeatAckSchema, {
          sequence: payload.sequence,
          accepted: true,
          heartbeatInterval: durationFromMs(HEARTBEAT_INTERVAL_MS),
          receivedAt: timestampFromMs(Date.now()),
        });
        // The same backpressure as the queen's stream handler.
        if (!call.write(ack)) {
          call.pause();
          call.once('drain', () => call.resume());
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    findBestWorkerForModel: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
      callback(null, bestWorker),
    getHiveState: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
      callback(null, hiveState),
  });
  return server;
}
