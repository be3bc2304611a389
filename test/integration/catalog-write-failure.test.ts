// A catalog whose disk refuses writes at run time (here: another process holds SQLite's write lock, as a backup
// tool or an operator's sqlite3 shell can): checkpoints fail, are logged and retried with backoff, operator writes
// answer UNAVAILABLE and change nothing, and heartbeats and lookups never notice. Once the lock goes, the pending
// heartbeat times reach the disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { eventually, expectRpcError } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { wireWorker } from '../helpers/wire-builders';

describe('catalog write failures at run time', () => {
  let dir: string;
  let q: TestQueen;
  let other: Database.Database;
  const lines: Record<string, unknown>[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-locked-'));
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    q = await TestQueen.start(
      { db: join(dir, 'catalog.db'), catalogFlushIntervalMs: 50 },
      pino({ level: 'debug' }, sink),
    );
    other = new Database(join(dir, 'catalog.db'));
  });

  afterEach(async () => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
    await q.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const failures = () => lines.filter((l) => l.msg === 'catalog checkpoint failed; heartbeats and lookups go on from memory, retrying');

  test('checkpoints back off while the database is locked; heartbeats, lookups and the RPCs stay consistent', async () => {
    const hive = await q.connectHive('hive-a', [wireWorker('a-0')]);
    await expect(eventually(async () => q.queen.catalog.pendingWrites === 0)).resolves.toBe(true);

    other.exec('BEGIN IMMEDIATE'); // holds the write lock: every write of the queen now fails with SQLITE_BUSY
    let sequence = 2n;
    const tick = async () => {
      q.clock.advance(1_000); // a later receive time: last_seen changes, so there is something to write
      const ack = await hive.send({ hiveId: 'hive-a', sequence: sequence++, unchanged: true });
      expect({ accepted: ack.accepted, error: ack.error }).toEqual({ accepted: true, error: '' });
    };
    await tick();
    expect(await eventually(async () => failures().length >= 3, 5_000)).toBe(true);

    // Heartbeats and lookups go on from memory.
    await tick();
    expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(true);
    expect((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive?.online).toBe(true);
    expect(q.queen.catalog.pendingWrites).toBe(1);

    // The waits double from the flush interval, and every failure names the cause.
    const retries = failures().map((l) => l.retryInMs);
    expect(retries.slice(0, 3)).toEqual([100, 200, 400]);
    expect(String(failures()[0]?.err)).toContain('SQLITE_BUSY');

    // An operator write fails cleanly and changes nothing, in memory or on disk.
    await expectRpcError(
      q.catalog.registerHive({ hiveId: 'hive-new' }),
      status.UNAVAILABLE,
      /^catalog: the write failed and changed nothing \(SQLITE_BUSY/,
    );
    await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-new' }), status.NOT_FOUND, /hive-new/);

    // The lock goes: the next attempt writes what was pending, and says so.
    const lastSeenMs = q.clock.wallNow();
    other.exec('ROLLBACK');
    expect(await eventually(async () => q.queen.catalog.pendingWrites === 0, 5_000)).toBe(true);
    expect(lines.some((l) => l.msg === 'catalog checkpoint recovered')).toBe(true);
    const row = other.prepare('SELECT last_seen FROM hives WHERE hive_id = ?').get('hive-a') as { last_seen: number };
    expect(row.last_seen).toBe(lastSeenMs);
  });
});
