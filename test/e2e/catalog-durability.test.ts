// The catalog across the life of the real CLI: restart, SIGKILL under load, and files it must refuse.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { QueenClient, type HeartbeatStream } from '../helpers/client';
import { run } from '../helpers/run';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

describe('catalog durability (real CLI)', () => {
  let dir: string;
  let db: string;
  let server: ServerProcess | undefined;
  const clients: QueenClient[] = [];

  const client = (address: string): QueenClient => {
    const c = new QueenClient(address);
    clients.push(c);
    return c;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-catalog-'));
    db = join(dir, 'nested', 'catalog.db');
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    if (server !== undefined) {
      server.child.kill('SIGKILL');
      await server.exited;
      server = undefined;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** Connects `hiveId` with one snapshot and returns the stream and the ack's receive time in epoch ms. */
  async function connect(c: QueenClient, hiveId: string): Promise<{ stream: HeartbeatStream; receivedMs: number }> {
    const stream = c.heartbeat();
    const ack = await stream.send(snapshotPayload(hiveId, 1, [wireWorker(`${hiveId}-w0`)]));
    expect({ hiveId, accepted: ack.accepted, error: ack.error }).toEqual({ hiveId, accepted: true, error: '' });
    return { stream, receivedMs: timestampMs(ack.receivedAt!) };
  }

  test('after a restart every known hive is listed offline with its stored last_seen, until it reconnects', async () => {
    server = await startServer(['--db', db]);
    const first = client(server.address);
    await first.catalog.registerHive({ hiveId: 'hive-reg', labels: { zone: 'eu-1' }, description: 'spare' });
    const a = await connect(first, 'hive-a');
    const b = await connect(first, 'hive-b');
    expect(await stopServer(server)).toBe(0);
    server = undefined;

    server = await startServer(['--db', db]);
    const second = client(server.address);
    const listed = await second.catalog.listCatalogHives({});
    expect(
      listed.hives.map((h) => ({
        id: h.hiveId,
        online: h.online,
        lastSeenMs: h.lastSeen === undefined ? undefined : timestampMs(h.lastSeen),
        labels: h.labels,
        peer: h.lastPeer !== '',
      })),
    ).toEqual([
      { id: 'hive-a', online: false, lastSeenMs: a.receivedMs, labels: {}, peer: true },
      { id: 'hive-b', online: false, lastSeenMs: b.receivedMs, labels: {}, peer: true },
      { id: 'hive-reg', online: false, lastSeenMs: undefined, labels: { zone: 'eu-1' }, peer: false },
    ]);
    // The registry itself starts empty: liveness is only ever learned from heartbeats.
    expect((await second.rpc.listAllHives({})).hiveIds).toEqual([]);

    const again = await connect(second, 'hive-a');
    const hiveA = (await second.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive!;
    expect({ online: hiveA.online, lastSeenMs: timestampMs(hiveA.lastSeen!) }).toEqual({
      online: true,
      lastSeenMs: again.receivedMs,
    });
    expect((await second.catalog.getCatalogHive({ hiveId: 'hive-b' })).hive?.online).toBe(false);
  });

  test('SIGKILL during heavy heartbeat traffic leaves a readable catalog that lost at most about one flush interval', async () => {
    const flushMs = 300;
    server = await startServer(['--db', db, '--catalog-flush-interval', `${flushMs}ms`, '--heartbeat-interval', '1s']);
    const c = client(server.address);
    const hives = Array.from({ length: 40 }, (_, i) => `load-${String(i).padStart(2, '0')}`);
    const lastAckMs = new Map<string, number>();
    const streams = await Promise.all(
      hives.map(async (hiveId) => {
        const { stream, receivedMs } = await connect(c, hiveId);
        lastAckMs.set(hiveId, receivedMs);
        return { hiveId, stream };
      }),
    );
    // Every hive ticks as fast as its acks come back, for a few flush intervals; then the queen is killed mid-flow.
    let running = true;
    const loops = streams.map(async ({ hiveId, stream }) => {
      for (let sequence = 2n; running; sequence++) {
        let ack;
        try {
          ack = await stream.send({ hiveId, sequence, unchanged: true });
        } catch {
          return; // the queen is gone
        }
        if (ack.accepted) lastAckMs.set(hiveId, timestampMs(ack.receivedAt!));
      }
    });
    await new Promise((resolve) => setTimeout(resolve, flushMs * 5));
    server.child.kill('SIGKILL');
    expect(await server.exited).toBe('SIGKILL');
    server = undefined;
    running = false;
    await Promise.all(loops);

    const file = new Database(db);
    try {
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = file.prepare('SELECT hive_id, last_seen FROM hives ORDER BY hive_id').all() as {
        hive_id: string;
        last_seen: number | null;
      }[];
      expect(rows.map((r) => r.hive_id)).toEqual(hives);
      // Lost = heartbeats the queen acked but never wrote. The bound is one flush interval plus how late the
      // checkpoint timer may run on a loaded 2-core machine (the same slack for every hive).
      const lostMs = rows.map((r) => (lastAckMs.get(r.hive_id) ?? 0) - (r.last_seen ?? 0));
      expect(Math.max(...lostMs)).toBeLessThanOrEqual(flushMs * 2);
      expect(Math.min(...lostMs)).toBeGreaterThanOrEqual(0);
    } finally {
      file.close();
    }
  });

  const refusals: readonly (readonly [string, (dir: string) => string, RegExp])[] = [
    ['a folder', (d) => d, /cannot be opened/],
    [
      'a file that is not a database',
      (d) => {
        const path = join(d, 'garbage.db');
        writeFileSync(path, 'this is not a SQLite file, just some text that is long enough to look like a header.'.repeat(20));
        return path;
      },
      /is not a SQLite database/,
    ],
    [
      'a path under a regular file',
      (d) => {
        const path = join(d, 'plain');
        writeFileSync(path, 'x');
        return join(path, 'catalog.db');
      },
      /cannot create its folder/,
    ],
    [
      "another application's SQLite database",
      (d) => {
        const path = join(d, 'other.db');
        const other = new Database(path);
        other.exec('CREATE TABLE notes (body TEXT)');
        other.close();
        return path;
      },
      /not a hive-registry catalog/,
    ],
    [
      'a catalog from a newer hive-registry',
      (d) => {
        const path = join(d, 'newer.db');
        mkdirSync(d, { recursive: true });
        const other = new Database(path);
        other.pragma(`application_id = ${0x48495645}`);
        other.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
        other.prepare('INSERT INTO schema_migrations VALUES (999, 0)').run();
        other.close();
        return path;
      },
      /schema version 999, newer than this hive-registry knows/,
    ],
  ];

  test.each(refusals)('--db naming %s exits 2 and names the path', async (_label, make, reason) => {
    const path = make(dir);
    const result = await run(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', path]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining(`catalog database ${JSON.stringify(path)}: `),
    });
    expect(result.stderr).toMatch(reason);
  });
});
