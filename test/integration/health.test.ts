import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, status, type ClientReadableStream } from '@grpc/grpc-js';
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  type HealthCheckResponse,
} from '../../gen/grpc/health/v1/health_pb';
import { grpcServiceDefinition } from '../../src/server/grpc-service';
import { expectRpcError, healthClient } from '../helpers/client';
import { TestQueen } from '../helpers/queen';

describe('grpc.health.v1.Health', () => {
  let q: TestQueen;
  let client: ReturnType<typeof healthClient>;

  beforeEach(async () => {
    q = await TestQueen.start();
    client = healthClient(q.address);
  });

  afterEach(async () => {
    client.close();
    await q.stop();
  });

  it.each(['', 'hive.v1.HiveRegistry'])('Check(%j) answers SERVING', async (service) => {
    const response = await client.health.check({ service });
    expect(HealthCheckResponse_ServingStatus[response.status]).toBe('SERVING');
  });

  it('Check of an unknown service answers NOT_FOUND', async () => {
    await expectRpcError(client.health.check({ service: 'no.such.Service' }), status.NOT_FOUND, /no\.such\.Service/);
  });

  it('stop: a Watch of "" sees SERVING, then NOT_SERVING as soon as the drain begins', async () => {
    const Ctor = makeGenericClientConstructor(grpcServiceDefinition(Health), 'Health');
    const raw = new Ctor(q.address, credentials.createInsecure());
    type Watch = (request: unknown) => ClientReadableStream<HealthCheckResponse>;
    const watchMethod = (raw as unknown as Record<string, Watch | undefined>)['watch'];
    if (watchMethod === undefined) throw new Error('generic Health client has no watch method');
    const watch = watchMethod.call(raw, create(HealthCheckRequestSchema, { service: '' }));
    watch.on('error', () => undefined); // the cancel below ends it with CANCELLED
    const seen: string[] = [];
    const notServing = new Promise<void>((resolve) => {
      watch.on('data', (response: HealthCheckResponse) => {
        seen.push(HealthCheckResponse_ServingStatus[response.status] ?? String(response.status));
        if (seen.length === 1) void q.queen.stop();
        if (response.status === HealthCheckResponse_ServingStatus.NOT_SERVING) resolve();
      });
    });
    await notServing;
    watch.cancel();
    raw.close();
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
    await q.queen.stop();
  });

  it('stop: new calls are refused once the server is stopped', async () => {
    await q.queen.stop();
    const error = await client.health.check({ service: '' }).then(
      () => undefined,
      (e: { code: status }) => e,
    );
    expect(error?.code).toBe(status.UNAVAILABLE);
  });
});
