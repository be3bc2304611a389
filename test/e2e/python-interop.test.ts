// Interop with an independent gRPC stack: Debian's python3-grpcio (gRPC C core) with messages built from a
// descriptor set of proto/. CI installs both packages; on a machine without them this suite is skipped, and
// under CI=true it fails instead of skipping.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUF, REPO_ROOT, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { run } from '../helpers/run';

const PYTHON = '/usr/bin/python3';
const hasPythonGrpc = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf']).status === 0;
if (!hasPythonGrpc && process.env.CI === 'true') {
  throw new Error('python3-grpcio and python3-protobuf are required in CI (.ci/run installs them)');
}
const describeIfPython = hasPythonGrpc ? describe : describe.skip;

describeIfPython('python3-grpcio client against the real CLI', () => {
  let server: ServerProcess;
  let dir: string;
  let descriptorSet: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-py-'));
    descriptorSet = join(dir, 'hive.binpb');
    const built = await run(BUF, ['build', REPO_ROOT, '--as-file-descriptor-set', '-o', descriptorSet]);
    expect(built.stderr).toBe('');
    server = await startServer();
  });

  afterAll(async () => {
    expect(await stopServer(server)).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  test('heartbeats, lookups, scheduling and error codes agree with the contract', async () => {
    const script = join(__dirname, 'python', 'interop_client.py');
    const result = await run(PYTHON, [script, server.address, descriptorSet], { timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const seen = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(seen.acks).toEqual({
      'py-hive-1': [
        { sequence: 10, accepted: true, error: '', interval_s: 5 },
        { sequence: 11, accepted: true, error: '', interval_s: 5 },
        {
          sequence: 11,
          accepted: false,
          error: 'sequence: must be greater than 11 (the last accepted in this stream), got 11',
          interval_s: 5,
        },
      ],
      'py-hive-2': [{ sequence: 1, accepted: true, error: '', interval_s: 5 }],
    });
    expect(seen.active).toEqual({ code: 'OK', body: { hiveIds: ['py-hive-1', 'py-hive-2'] } });
    expect(seen.best).toMatchObject({
      code: 'OK',
      body: { entry: { hiveId: 'py-hive-2', hiveOnline: true, worker: { workerId: 'py-w2' } }, modelLoaded: true },
    });
    expect(seen.resources).toEqual({
      code: 'OK',
      body: {
        resources: {
          workerCount: 1,
          vramUsedBytes: '8000000000',
          vramTotalBytes: '24000000000',
          vramFreeBytes: '16000000000',
        },
      },
    });
    expect(seen.not_found).toMatchObject({ code: 'NOT_FOUND', details: expect.stringContaining('hive_id') });
    expect(seen.invalid).toMatchObject({ code: 'INVALID_ARGUMENT', details: expect.stringContaining('backend') });
    // py-hive-1 joined the catalog with its first heartbeat (open registration); the mask kept its description.
    expect(seen.catalog_update).toMatchObject({
      code: 'OK',
      body: { hive: { hiveId: 'py-hive-1', labels: { zone: 'py-1' }, online: true } },
    });
    expect(seen.catalog_update).not.toHaveProperty('body.hive.description');
    expect(seen.catalog_list).toMatchObject({ code: 'OK', body: { hives: [{ hiveId: 'py-hive-1' }] } });
    expect(seen.catalog_bad_path).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: expect.stringContaining('update_mask.paths[0]'),
    });
    expect(seen.catalog_not_found).toMatchObject({ code: 'NOT_FOUND', details: expect.stringContaining('hive_id') });
    expect(seen.final).toEqual({ 'py-hive-1': 'OK', 'py-hive-2': 'OK' });
    expect(seen.after_goodbye).toEqual({ code: 'OK', body: {} });
  });
});
