// A single queen's catalog moved into a federation: `catalog export --db` from its file, `catalog import --etcd`
// into etcd, and a queen started with --etcd serves it (labels, cordon, and tokens that still admit their hive);
// `catalog export --etcd` reads it back; importing it twice, or naming --db with --etcd, is refused.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { QueenClient } from '../helpers/client';
import { EtcdProcess } from '../helpers/etcd-process';
import { run } from '../helpers/run';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

jest.setTimeout(60_000);

let dir: string;
let etcd: EtcdProcess;
let server: ServerProcess | undefined;
const clients: QueenClient[] = [];

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd.stop();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-registry-federate-'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  if (server !== undefined) await stopServer(server);
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => run(process.execPath, [CLI, ...args]);

test('export from a file, import into etcd, and a federated queen serves it; export --etcd reads it back', async () => {
  const from = join(dir, 'from.db');
  server = await startServer(['--db', from]);
  let queen = new QueenClient(server.address);
  clients.push(queen);
  await queen.catalog.registerHive({ hiveId: 'gpu-1', labels: { zone: 'eu-1' }, description: 'rack 4' });
  await queen.catalog.cordonHive({ hiveId: 'gpu-1' });
  const issued = await queen.catalog.issueHiveToken({ hiveId: 'gpu-1' });
  expect(await stopServer(server)).toBe(0);
  server = undefined;

  const exported = await cli('catalog', 'export', '--db', from);
  expect([exported.code, exported.stderr]).toEqual([0, '']);
  const file = join(dir, 'catalog.json');
  writeFileSync(file, exported.stdout);

  const prefix = '/moved/';
  const imported = await cli('catalog', 'import', file, '--etcd', etcd.endpoint, '--etcd-prefix', prefix);
  expect([imported.code, imported.stderr]).toEqual([0, '']);
  expect(imported.stdout).toBe(`imported 1 hives and 1 tokens into etcd ${etcd.endpoint} ${prefix}\n`);
  const again = await cli('catalog', 'import', file, '--etcd', etcd.endpoint, '--etcd-prefix', prefix);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/already in the catalog: hive "gpu-1", token .* nothing was imported/);

  const back = await cli('catalog', 'export', '--etcd', etcd.endpoint, '--etcd-prefix', prefix);
  expect(back.code).toBe(0);
  const strip = (text: string): unknown => {
    const { exportedAt: _ignored, ...rest } = JSON.parse(text) as Record<string, unknown>;
    return rest;
  };
  expect(strip(back.stdout)).toEqual(strip(exported.stdout));

  // A federated queen serves it: the cordon and labels, and the old token admits its hive in required registration.
  server = await startServer(
    ['--etcd', etcd.endpoint, '--etcd-prefix', prefix, '--registration', 'required', '--queen-id', 'q1', '--etcd-lease-ttl', '3s'],
  );
  queen = new QueenClient(server.address, issued.token);
  clients.push(queen);
  const { hive } = await queen.catalog.getCatalogHive({ hiveId: 'gpu-1' });
  expect([hive?.labels, hive?.cordoned, hive?.description]).toEqual([{ zone: 'eu-1' }, true, 'rack 4']);
  const stream = queen.heartbeat();
  expect((await stream.send(snapshotPayload('gpu-1', 1, [wireWorker('gpu-1-w0')]))).accepted).toBe(true);
  stream.end();
});

test('--etcd with --db, or a bad endpoint, exits 2 naming the flags', async () => {
  const both = await cli('catalog', 'export', '--etcd', etcd.endpoint, '--db', join(dir, 'x.db'));
  expect(both.code).toBe(2);
  expect(both.stderr).toContain('--etcd and --db exclude each other');
  const bad = await cli('catalog', 'import', 'x.json', '--etcd', 'etcd:2379');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--etcd: entry 1');
  const stray = await cli('catalog', 'export', '--etcd-prefix', '/x/', '--db', join(dir, 'x.db'));
  expect(stray.code).toBe(2);
  expect(stray.stderr).toContain('--etcd-prefix needs --etcd');
});

test('--etcd-cert without --etcd-key, or the key alone, exits 2 naming both flags; stray etcd flags are all named', async () => {
  const pem = join(dir, 'client.pem');
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  for (const flag of ['--etcd-cert', '--etcd-key']) {
    const result = await cli('catalog', 'export', '--etcd', etcd.endpoint, flag, pem);
    expect([result.code, result.stdout]).toEqual([2, '']);
    expect(result.stderr).toBe(
      'hive-registry catalog export: bad flags\n  - --etcd-cert and --etcd-key go together: give both, or neither\n',
    );
  }
  const stray = await cli('catalog', 'export', '--etcd-prefix', '/x/', '--etcd-cert', pem, '--db', join(dir, 'x.db'));
  expect(stray.code).toBe(2);
  expect(stray.stderr).toContain('--etcd-prefix needs --etcd');
  expect(stray.stderr).toContain('--etcd-cert needs --etcd');
});
