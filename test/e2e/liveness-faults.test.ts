// Liveness under faults of the real processes: a queen whose event loop stalls (the process is paused with
// SIGSTOP while hives keep sending), and a hive whose connection goes silent (the hive process is paused).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startServer, type ServerProcess } from '../helpers/cli-process';
import { eventually, QueenClient } from '../helpers/client';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('liveness faults (real CLI)', () => {
  let server: ServerProcess | undefined;
  let hive: ChildProcess | undefined;
  const clients: QueenClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const child of [hive, server?.child]) {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
    }
    if (server !== undefined) await server.exited;
    server = undefined;
    hive = undefined;
  });

  test('a stall of the queen longer than the offline threshold does not take hives offline whose heartbeats were waiting', async () => {
    server = await startServer(['--heartbeat-interval', '200ms', '--offline-after', '1s']);
    const c = new QueenClient(server.address);
    clients.push(c);
    // "ticking" keeps heartbeating all along; "silent" stops before the stall and must still lapse afterwards.
    const ticking = c.heartbeat();
    const silent = c.heartbeat();
    expect((await ticking.send(snapshotPayload('ticking', 1, [wireWorker('t-0')]))).accepted).toBe(true);
    expect((await silent.send(snapshotPayload('silent', 1, [wireWorker('s-0')]))).accepted).toBe(true);
    let sequence = 1n;
    const ticker = setInterval(() => ticking.write({ hiveId: 'ticking', sequence: ++sequence, unchanged: true }), 100);
    try {
      await sleep(300);
      server.child.kill('SIGSTOP');
      await sleep(3_000);
      server.child.kill('SIGCONT');
      await sleep(500);
      expect((await c.rpc.isHiveOnline({ hiveId: 'ticking' })).online).toBe(true);
      const logs = server.logs;
      const lapsed = () => logs.filter((l) => l.msg?.startsWith('hive offline')).map((l) => l.hiveId);
      // The silent hive lapses one offline threshold of lease time after its last payload (the stall not counted).
      expect(await eventually(async () => lapsed().includes('silent'), 5_000)).toBe(true);
      expect(lapsed()).toEqual(['silent']);
      expect((await c.rpc.listActiveHives({})).hiveIds).toEqual(['ticking']);
      const stall = logs.find((l) => l.msg?.startsWith('event loop stalled'));
      expect(stall?.stalledMs).toEqual(expect.any(Number));
      expect(stall?.stalledMs as number).toBeGreaterThanOrEqual(2_900);
    } finally {
      clearInterval(ticker);
    }
  });

  test('a hive whose connection goes silent is dropped by keepalive and is offline long before the threshold', async () => {
    server = await startServer([
      '--keepalive-time',
      '500ms',
      '--keepalive-timeout',
      '1s',
      '--offline-after',
      '1m',
      '--evict-after',
      '1h',
    ]);
    const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'tick-hive.js'), server.address, 'paused'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    hive = child;
    const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
    expect(first).toBe('accepted');
    const c = new QueenClient(server.address);
    clients.push(c);
    expect((await c.rpc.isHiveOnline({ hiveId: 'paused' })).online).toBe(true);

    // The hive process stops answering anything, its kernel still holds the TCP connection open (no FIN, no RST):
    // only an unanswered HTTP/2 ping can tell.
    child.kill('SIGSTOP');
    const offline = await eventually(async () => !(await c.rpc.isHiveOnline({ hiveId: 'paused' })).online, 10_000);
    expect(offline).toBe(true);
    // The log line travels through the server's stdout pipe: it may land just after the RPC's answer.
    const logged = () => server!.logs.some((l) => l.msg === 'hive disconnected' && l.hiveId === 'paused');
    expect(await eventually(async () => logged(), 2_000)).toBe(true);
    // Still listed (offline) until eviction: only its stream went.
    expect((await c.rpc.listAllHives({})).hiveIds).toEqual(['paused']);
  });
});
