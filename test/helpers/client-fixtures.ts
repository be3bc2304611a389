import { connect, createServer, type Socket } from 'node:net';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { Backend, HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { ClientError } from '../../src/client/client-error';
import type { HeartbeatStream } from './client';
import type { TestQueen } from './queen';
import { wireDevice, wireWorker } from './wire-builders';

/** Byte figures: `GiB` as the domain's numbers (Worker, Device), `GiBn` as its bigints (Resources, the wire). */
export const GiB = 2 ** 30;
export const GiBn = 1n << 30n;

/** hive-a's sender clock and w-a2's own last report, both wall-clock instants with sub-second parts. */
export const SENDER_MS = Date.UTC(2025, 11, 31, 23, 59, 58, 250);
export const WORKER_REPORT_MS = Date.UTC(2025, 11, 31, 23, 59, 57, 125);

/** The two hives most client tests read, with the wall time at which the queen received each snapshot. */
export interface Fleet {
  readonly hiveA: HeartbeatStream;
  readonly hiveB: HeartbeatStream;
  /** The ManualClock's wall time when hive-a's snapshot arrived (the clock only moves when a test moves it). */
  readonly hiveAReceivedMs: number;
}

/**
 * hive-a (sequence 7, two CUDA workers on two devices, RAM reported) and hive-b (four workers, one per remaining
 * state and backend, no capacity report). Each hive sends its workers out of order: answers must come back sorted.
 * hive-b streams first, so lists sorted by hive id put it second although it arrived first.
 */
export async function connectFleet(q: TestQueen): Promise<Fleet> {
  const hiveB = await q.connectHive('hive-b', [
    wireWorker('w-b4', { state: WorkerStatus.STOPPING, backend: Backend.CPU, health: HealthStatus.UNSPECIFIED }),
    wireWorker('w-b1', { modelId: 'org/llama', backend: Backend.METAL, gpuPercent: 50 }),
    wireWorker('w-b3', { state: WorkerStatus.ERROR, backend: Backend.CPU }),
    wireWorker('w-b2', { state: WorkerStatus.LOADING, backend: Backend.ROCM, health: HealthStatus.DEGRADED }),
  ]);
  q.clock.advance(2_500);
  const hiveAReceivedMs = q.clock.wallNow();
  const hiveA = await q.connectHive(
    'hive-a',
    [
      wireWorker('w-a2', {
        modelId: 'org/mistral',
        deviceId: 1,
        vramBytes: 3n * GiBn,
        ramBytes: 1n * GiBn,
        gpuPercent: 40,
        lastHeartbeat: timestampFromMs(WORKER_REPORT_MS),
      }),
      wireWorker('w-a1', {
        state: WorkerStatus.BUSY,
        modelId: 'org/llama',
        deviceId: 0,
        vramBytes: 2n * GiBn,
        ramBytes: 2n * GiBn,
        cpuPercent: 12.5,
      }),
    ],
    {
      sequence: 7n,
      timestamp: timestampFromMs(SENDER_MS),
      devices: [wireDevice(1, 8n * GiBn), wireDevice(0, 16n * GiBn, { name: 'H100 80GB' })],
      ramTotalBytes: 64n * GiBn,
    },
  );
  return { hiveA, hiveB, hiveAReceivedMs };
}

/** A port on 127.0.0.1 where nothing listens: bound by the OS, read, released. */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return address.port;
}

/**
 * A TCP server on 127.0.0.1:0 that accepts connections and never writes a byte (no HTTP/2 settings, no answer):
 * a hung queen. Only the caller's deadline can end a call against it.
 */
export async function silentServer(): Promise<{ readonly address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return {
    address: `127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Awaits a call that must fail and returns what it rejected with (fails the test if the call succeeded). */
export async function rejection(call: Promise<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await call;
  } catch (error) {
    return error;
  }
  const json = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  throw new Error(`expected the call to fail, but it returned ${json}`);
}

/**
 * Asserts that `call` rejects with a ClientError of `code` for `rpc` (`Service/Method`), whose details match
 * `details` and whose message is `rpc: CODE_NAME: details`. Compares as one object, so a failure shows every field.
 */
export async function expectClientError(
  call: Promise<unknown>,
  code: status,
  rpc: string,
  details: RegExp,
): Promise<ClientError> {
  const error = await rejection(call);
  const e = error as Partial<ClientError>;
  expect({
    isClientError: error instanceof ClientError,
    isError: error instanceof Error,
    name: e.name,
    code: typeof e.code === 'number' ? status[e.code] : e.code,
    codeName: e.codeName,
    rpc: e.rpc,
    details: e.details,
  }).toEqual({
    isClientError: true,
    isError: true,
    name: 'ClientError',
    code: status[code],
    codeName: status[code],
    rpc,
    details: expect.stringMatching(details),
  });
  expect(e.message).toBe(`${rpc}: ${status[code]}: ${e.details ?? ''}`);
  return error as ClientError;
}

/**
 * A TCP proxy on 127.0.0.1:0 to `target` (host:port) that counts the connections it accepted: shows how many
 * HTTP/2 connections a client opened.
 */
export async function countingProxy(
  target: string,
): Promise<{ readonly address: string; readonly connections: number; close(): Promise<void> }> {
  const [host = '127.0.0.1', port = '0'] = target.split(':');
  const sockets = new Set<Socket>();
  let connections = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server = createServer((inbound) => {
    connections += 1;
    const outbound = connect(Number(port), host);
    track(inbound);
    track(outbound);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return {
    address: `127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
