// A queen's identity: ListQueens lists this queen (the only one without a federation), and every HiveState and
// WorkerEntry it answers names it in queen_id. ListQueensRequest has no fields, so there is no bad input to refuse:
// its other side is access (read role, as for every lookup).
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { Backend, QueenInfoSchema } from '../../gen/hive/v1/registry_pb';
import type { Caller } from '../../src/server/callers';
import { QueenIdentityError, QueenServer } from '../../src/server/queen-server';
import { ManualClock } from '../../src/common/manual-clock';
import { expectRpcError, expectStatus } from '../helpers/client';
import { TEST_CONFIG, TestQueen } from '../helpers/queen';
import { wireWorker } from '../helpers/wire-builders';

const STARTED_AT_MS = Date.UTC(2026, 0, 1); // the ManualClock's wall time at start

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('ListQueens on a queen of its own', () => {
  let q: TestQueen | undefined;

  afterEach(async () => {
    await q?.stop();
    q = undefined;
  });

  test('lists exactly this queen: its default id (host name and bound port), its address, no HTTP listener', async () => {
    q = await TestQueen.start();
    const { queens } = await q.rpc.listQueens({});
    expect(queens).toEqual([
      create(QueenInfoSchema, {
        queenId: `${hostname()}:${q.queen.port}`,
        address: `127.0.0.1:${q.queen.port}`,
        httpAddress: '',
        startedAt: timestampFromMs(STARTED_AT_MS),
        hives: 0,
        self: true,
      }),
    ]);
  });

  test('--queen-id and --advertise are reported as given; http_address is the HTTP listener as bound', async () => {
    q = await TestQueen.start({ queenId: 'queen-eu-1', advertise: 'queen.example:443', httpListen: '127.0.0.1:0' });
    const { queens } = await q.rpc.listQueens({});
    expect(queens).toEqual([
      create(QueenInfoSchema, {
        queenId: 'queen-eu-1',
        address: 'queen.example:443',
        httpAddress: `127.0.0.1:${q.httpPort}`,
        startedAt: timestampFromMs(STARTED_AT_MS),
        hives: 0,
        self: true,
      }),
    ]);
  });

  test('a wildcard listen address is advertised with the host name, for gRPC and HTTP alike', async () => {
    q = await TestQueen.start({ listen: '0.0.0.0:0', httpListen: '0.0.0.0:0' }, undefined, { hostName: 'gpu-queen-1' });
    const { queens } = await q.rpc.listQueens({});
    expect(queens.map((queen) => [queen.queenId, queen.address, queen.httpAddress])).toEqual([
      [`gpu-queen-1:${q.queen.port}`, `gpu-queen-1:${q.queen.port}`, `gpu-queen-1:${q.httpPort}`],
    ]);
    expect(q.queen.identity.queenId).toBe(`gpu-queen-1:${q.queen.port}`);
  });

  test('hives counts the online hives only: a stream that ends and a hive gone silent drop out', async () => {
    q = await TestQueen.start();
    const hives = async (): Promise<number> => (await q!.rpc.listQueens({})).queens[0]?.hives ?? -1;
    const a = await q.connectHive('hive-a');
    const b = await q.connectHive('hive-b', [wireWorker('b-0')]);
    await q.connectHive('hive-c');
    expect(await hives()).toBe(3);

    b.end();
    expectStatus(await b.status, status.OK);
    expect(await hives()).toBe(2);

    // hive-c goes silent past the offline threshold while hive-a keeps beating; both streams stay open.
    q.clock.advance(TEST_CONFIG.offlineAfterMs - 1);
    await a.send({ hiveId: 'hive-a', sequence: 2n, unchanged: true });
    q.clock.advance(1);
    expect(await hives()).toBe(1);
    // Offline hives are still in the registry, only not counted.
    expect((await q.rpc.hiveCount({})).count).toBe(3);
  });

  test('the start log line names the queen id and the advertised address', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    q = await TestQueen.start({ queenId: 'queen-log', advertise: 'queen.example:50051' }, pino({ level: 'info' }, sink));
    expect(lines.find((line) => line.msg === 'hive-registry serving')).toMatchObject({
      queenId: 'queen-log',
      advertise: 'queen.example:50051',
      port: q.queen.port,
    });
  });

  test('a host name that makes no valid id stops the start (QueenIdentityError naming --queen-id) and frees the port', async () => {
    const port = await freePort();
    const config = { ...TEST_CONFIG, listen: `127.0.0.1:${port}` };
    const start = QueenServer.start(config, pino({ level: 'silent' }), new ManualClock(), { hostName: 'bad host' });
    // Should it start after all, stop it so the run does not hang on its port.
    void start.then((server) => server.stop(), () => undefined);
    await expect(start).rejects.toThrow(QueenIdentityError);
    await expect(start).rejects.toThrow(
      'the default queen id (the host name and gRPC port): must contain only the characters [A-Za-z0-9._:-], got "bad host:',
    );
    await expect(start).rejects.toThrow(/; set one with --queen-id$/);
    // With an explicit id the same host name is fine, and the port is free again.
    q = await TestQueen.start({ queenId: 'queen-1', listen: `127.0.0.1:${port}` }, undefined, { hostName: 'bad host' });
    expect((await q.rpc.listQueens({})).queens.map((queen) => [queen.queenId, queen.address])).toEqual([
      ['queen-1', `127.0.0.1:${port}`],
    ]);
  });
});

describe('queen_id on every HiveState and WorkerEntry', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start({ queenId: 'queen-a' });
    await q.connectHive('hive-a', [
      wireWorker('a-0', { modelId: 'org/llama', gpuPercent: 10 }),
      wireWorker('a-1', { backend: Backend.CPU }),
    ]);
  });
  afterEach(async () => {
    await q.stop();
  });

  test('GetHiveState', async () => {
    expect((await q.rpc.getHiveState({ hiveId: 'hive-a' })).hive?.queenId).toBe('queen-a');
  });

  test('GetWorker and FindBestWorkerForModel', async () => {
    expect((await q.rpc.getWorker({ workerId: 'a-1' })).entry?.queenId).toBe('queen-a');
    const best = await q.rpc.findBestWorkerForModel({ modelId: 'org/llama' });
    expect([best.entry?.worker?.workerId, best.entry?.queenId]).toEqual(['a-0', 'queen-a']);
  });

  test('ListAllWorkers and the Find* lists', async () => {
    const lists = await Promise.all([
      q.rpc.listAllWorkers({}),
      q.rpc.findIdleWorkers({}),
      q.rpc.findWorkersByModel({ modelId: 'org/llama' }),
      q.rpc.findWorkersByBackend({ backend: Backend.CPU }),
    ]);
    expect(lists.map(({ workers }) => workers.map((e) => `${e.worker?.workerId ?? '?'}@${e.queenId}`))).toEqual([
      ['a-0@queen-a', 'a-1@queen-a'],
      ['a-0@queen-a', 'a-1@queen-a'],
      ['a-0@queen-a'],
      ['a-1@queen-a'],
    ]);
  });
});

describe('ListQueens with auth on', () => {
  const READ_TOKEN = 'read-token-for-list-queens';
  const callers: Caller[] = [{ name: 'router', role: 'read', tokenSha256: createHash('sha256').update(READ_TOKEN).digest() }];
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start({ callers, queenId: 'queen-auth' });
  });
  afterEach(async () => {
    await q.stop();
  });

  test('a read token is let in', async () => {
    const { queens } = await q.newClient(READ_TOKEN).rpc.listQueens({});
    expect(queens.map((queen) => [queen.queenId, queen.self])).toEqual([['queen-auth', true]]);
  });

  test('no token: UNAUTHENTICATED', async () => {
    await expectRpcError(q.newClient().rpc.listQueens({}), status.UNAUTHENTICATED, /ListQueens: authentication required/);
  });

  test('a hive token: PERMISSION_DENIED', async () => {
    const admin: Caller = { name: 'ops', role: 'admin', tokenSha256: createHash('sha256').update('admin').digest() };
    q.queen.reloadCallers([...callers, admin]);
    const ops = q.newClient('admin');
    await ops.catalog.registerHive({ hiveId: 'hive-a' });
    const { token } = await ops.catalog.issueHiveToken({ hiveId: 'hive-a' });
    await expectRpcError(
      q.newClient(token).rpc.listQueens({}),
      status.PERMISSION_DENIED,
      /ListQueens: a hive token \(hive "hive-a"\) may only open a Heartbeat stream/,
    );
  });
});
