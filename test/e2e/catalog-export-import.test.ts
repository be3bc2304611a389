// `hive-registry catalog export` and `catalog import` on real catalog files: a queen's catalog (labels, description,
// cordon, last sighting, token hashes) moved whole into another file, which a second queen then serves; what is
// already there, a bad document and a missing file are refused, naming the problem.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { QueenClient } from '../helpers/client';
import { run } from '../helpers/run';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

describe('catalog export and import (real CLI)', () => {
  let dir: string;
  let server: ServerProcess | undefined;
  const clients: QueenClient[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-export-'));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    if (server !== undefined) await stopServer(server);
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args]);

  test('a catalog moves whole into another file, which a queen then serves as it was', async () => {
    const from = join(dir, 'from.db');
    server = await startServer(['--db', from]);
    const queen = new QueenClient(server.address);
    clients.push(queen);
    await queen.catalog.registerHive({ hiveId: 'gpu-2', labels: { zone: 'eu-1', gpu: 'h100' }, description: 'rack 4, slot 1' });
    await queen.catalog.cordonHive({ hiveId: 'gpu-2' });
    const issued = await queen.catalog.issueHiveToken({ hiveId: 'gpu-2' });
    const stream = queen.heartbeat();
    expect((await stream.send(snapshotPayload('gpu-1', 1, [wireWorker('gpu-1-w0')]))).accepted).toBe(true);
    stream.end();
    expect(await stopServer(server)).toBe(0);
    server = undefined;

    const exported = await cli('catalog', 'export', '--db', from);
    expect([exported.code, exported.stderr]).toEqual([0, '']);
    const document = JSON.parse(exported.stdout) as {
      format: string;
      hives: { hiveId: string; labels: Record<string, string>; cordoned: boolean; lastSeen?: string; lastPeer: string }[];
      tokens: { tokenId: string; hiveId: string; sha256: string }[];
    };
    expect(document.format).toBe('hive-registry.catalog.v1');
    expect(document.hives.map((h) => [h.hiveId, h.labels, h.cordoned, h.lastSeen !== undefined, h.lastPeer.startsWith('127.0.0.1:')])).toEqual([
      ['gpu-1', {}, false, true, true],
      ['gpu-2', { gpu: 'h100', zone: 'eu-1' }, true, false, false],
    ]);
    expect(document.tokens.map((t) => [t.tokenId, t.hiveId])).toEqual([[issued.tokenId, 'gpu-2']]);
    expect(exported.stdout).not.toContain(issued.token);

    const file = join(dir, 'catalog.json');
    writeFileSync(file, exported.stdout);
    const to = join(dir, 'to', 'catalog.db');
    const imported = await cli('catalog', 'import', file, '--db', to);
    expect([imported.code, imported.stdout, imported.stderr]).toEqual([0, `imported 2 hives and 1 tokens into ${to}\n`, '']);

    server = await startServer(['--db', to]);
    const second = new QueenClient(server.address);
    clients.push(second);
    const listed = await second.catalog.listCatalogHives({});
    expect(listed.hives.map((h) => [h.hiveId, h.labels, h.description, h.cordoned, h.online])).toEqual([
      ['gpu-1', {}, '', false, false],
      ['gpu-2', { gpu: 'h100', zone: 'eu-1' }, 'rack 4, slot 1', true, false],
    ]);
    const tokensNow = await second.catalog.listHiveTokens({ hiveId: 'gpu-2' });
    expect(tokensNow.tokens.map((t) => t.tokenId)).toEqual([issued.tokenId]);
    // The export of the new file is the same document (but for when it was made).
    await stopServer(server);
    server = undefined;
    const again = await cli('catalog', 'export', '--db', to);
    const strip = (text: string) => text.replace(/"exportedAt": "[^"]+"/, '');
    expect(strip(again.stdout)).toBe(strip(exported.stdout));
  });

  test('refuses what is already there (nothing imported), a bad document and a missing file', async () => {
    const doc = (hives: string) => `{"format": "hive-registry.catalog.v1", "hives": [${hives}], "tokens": []}`;
    const file = join(dir, 'one.json');
    writeFileSync(file, doc('{"hiveId": "gpu-1", "createdAt": "2026-12-07T14:00:00.000Z"}'));
    const db = join(dir, 'catalog.db');
    expect((await cli('catalog', 'import', file, '--db', db)).code).toBe(0);
    const twice = await cli('catalog', 'import', file, '--db', db);
    expect([twice.code, twice.stderr]).toEqual([1, 'hive-registry catalog import: already in the catalog: hive "gpu-1"; nothing was imported\n']);

    writeFileSync(file, doc('{"hiveId": "gpu-2", "createdAt": "2026-12-07T14:00:00.000Z", "labels": {"zone": "eu 1"}}'));
    const bad = await cli('catalog', 'import', file, '--db', db);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining(`${file}: hives[0].labels`)]);

    const missing = await cli('catalog', 'export', '--db', join(dir, 'nope.db'));
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('no such catalog file')]);
    const noFile = await cli('catalog', 'import', join(dir, 'nope.json'), '--db', db);
    expect([noFile.code, noFile.stderr]).toEqual([2, expect.stringContaining('cannot be read (ENOENT)')]);
  });
});
