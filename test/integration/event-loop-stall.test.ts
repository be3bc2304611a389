// A real stall of the queen's event loop: the server runs in this process on the system clock, a hive in another
// process keeps heartbeating, and the test blocks the event loop for longer than the offline threshold.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import pino from 'pino';
import { QueenServer } from '../../src/server/queen-server';
import { QueenClient } from '../helpers/client';
import { TEST_CONFIG } from '../helpers/queen';

const FIXTURE = join(__dirname, '..', 'e2e', 'fixtures', 'tick-hive.js');

describe('event-loop stall', () => {
  let queen: QueenServer;
  let hive: ChildProcess;
  let client: QueenClient;
  const lines: Record<string, unknown>[] = [];

  beforeEach(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    // The system clock and stall detection on: this is what `serve` runs with.
    queen = await QueenServer.start(
      { ...TEST_CONFIG, heartbeatIntervalMs: 200, offlineAfterMs: 1_000 },
      pino({ level: 'info' }, sink),
    );
    hive = spawn(process.execPath, [FIXTURE, `127.0.0.1:${queen.port}`, 'steady'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const first = await new Promise<string>((resolve) => createInterface({ input: hive.stdout! }).once('line', resolve));
    expect(first).toBe('accepted');
    client = new QueenClient(`127.0.0.1:${queen.port}`);
  });

  afterEach(async () => {
    hive.kill('SIGKILL');
    client.close();
    await queen.stop();
  });

  test('hives whose heartbeats waited in the socket during the stall stay online and are never reported lapsed', async () => {
    // Let a few ticks through, then block the event loop for three offline thresholds (a long GC, a blocking call).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const blockedUntil = Date.now() + 3_000;
    while (Date.now() < blockedUntil) {
      // busy: nothing else in this process runs, the hive's ticks queue up in the socket
    }
    // The sweep that was due runs first, then the queued heartbeats are read.
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(lines.filter((l) => String(l.msg).startsWith('hive offline'))).toEqual([]);
    expect((await client.rpc.isHiveOnline({ hiveId: 'steady' })).online).toBe(true);
    // A loaded machine may report shorter stalls of its own too: the one made here is the longest.
    const stalls = lines.filter((l) => String(l.msg).startsWith('event loop stalled'));
    const stall = stalls.reduce<(typeof stalls)[number] | undefined>(
      (longest, l) => ((l.stalledMs as number) > ((longest?.stalledMs as number | undefined) ?? -1) ? l : longest),
      undefined,
    );
    expect(stall).toMatchObject({ level: 40, component: 'liveness' });
    expect(stall?.stalledMs as number).toBeGreaterThanOrEqual(3_000);

    // The credit is not a blanket pardon: once the hive really goes silent it lapses one threshold later.
    hive.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(lines.filter((l) => String(l.msg).startsWith('hive offline')).map((l) => l.hiveId)).toEqual(['steady']);
    expect((await client.rpc.isHiveOnline({ hiveId: 'steady' })).online).toBe(false);
  });
});
