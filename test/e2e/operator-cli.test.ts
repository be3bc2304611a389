// The operator commands of the real CLI against a real queen: tables, --json, exit codes 0/1/2.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { QueenClient, type HeartbeatStream } from '../helpers/client';
import { run, type RunResult } from '../helpers/run';
import { snapshotPayload, wireDevice, wireWorker } from '../helpers/wire-builders';
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';

// Each step starts a CLI process (Node, commander, grpc-js): a test with a dozen of them needs more than the
// default 20 s on a loaded two-core machine.
jest.setTimeout(60_000);

const GiB = 1n << 30n;

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

describe('operator commands (real CLI)', () => {
  let server: ServerProcess;
  let client: QueenClient;
  let hiveA: HeartbeatStream;

  const cli = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [CLI, ...args, ...(args.includes('--queen') ? [] : ['--queen', server.address])]);
  const json = (result: RunResult): unknown => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout);
  };

  beforeAll(async () => {
    // The test hives send one snapshot and no ticks: a long offline threshold keeps them online however slowly
    // the machine runs the tests below.
    server = await startServer(['--offline-after', '1h', '--evict-after', '2h']);
    client = new QueenClient(server.address);
    hiveA = client.heartbeat();
    const ack = await hiveA.send(
      snapshotPayload(
        'hive-a',
        1,
        [
          wireWorker('a-0', { modelId: 'meta/llama-3-8b', deviceId: 0, vramBytes: 16n * GiB, gpuPercent: 35 }),
          wireWorker('a-1', { modelId: 'qwen/qwen2-7b', deviceId: 1, gpuPercent: 90, state: WorkerStatus.BUSY }),
        ],
        { devices: [wireDevice(0, 80n * GiB), wireDevice(1, 80n * GiB)] },
      ),
    );
    expect(ack.accepted).toBe(true);
    const b = await client.heartbeat().send(snapshotPayload('hive-b', 1, [wireWorker('b-0', { gpuPercent: 5 })]));
    expect(b.accepted).toBe(true);
  });

  afterAll(async () => {
    client.close();
    expect(await stopServer(server)).toBe(0);
  });

  test('hives: a table for people, every HiveState for scripts', async () => {
    const table = await cli('hives');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^HIVE\s+STATUS\s+LAST HEARTBEAT\s+WORKERS\s+IDLE\s+GPU LOAD\s+VRAM USED \/ TOTAL$/);
    expect(lines[1]).toMatch(/^hive-a\s+online\s+(just now|\d+s ago)\s+2\s+1\s+63%\s+16\.0 \/ 160\.0 GiB$/);
    expect(lines[2]).toMatch(/^hive-b\s+online\s+/);
    const parsed = json(await cli('hives', '--json')) as { hives: { hiveId: string; online: boolean; workerCount: number }[] };
    expect(parsed.hives.map((h) => [h.hiveId, h.online, h.workerCount])).toEqual([
      ['hive-a', true, 2],
      ['hive-b', true, 1],
    ]);
  });

  test('hive ID, and NOT_FOUND for an unknown hive (exit 1, the code on stderr)', async () => {
    const report = await cli('hive', 'hive-a');
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('vram:            16.0 GiB used of 160.0 GiB, 144.0 GiB free\n');
    expect(report.stdout).toMatch(/^a-1\s+busy\s+qwen\/qwen2-7b\s+-\s+cuda:1\s+90%/m);
    const missing = await cli('hive', 'no-such-hive');
    expect({ code: missing.code, stdout: missing.stdout }).toEqual({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('hive-registry hive: NOT_FOUND: hive_id: no hive "no-such-hive" in the registry\n');
    const bad = await cli('hive', 'bad id');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INVALID_ARGUMENT: hive_id:');
  });

  test('workers with filters, and best --model --json is valid JSON naming the pick', async () => {
    const byModel = json(await cli('workers', '--model', 'meta/llama-3-8b', '--json')) as {
      workers: { hiveId: string; worker: { workerId: string } }[];
    };
    expect(byModel.workers.map((w) => w.worker.workerId)).toEqual(['a-0']);
    const idleCuda = await cli('workers', '--idle', '--backend', 'cuda');
    expect(idleCuda.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[1])).toEqual(['a-0', 'b-0']);

    const best = json(await cli('best', '--model', 'meta/llama-3-8b', '--json')) as {
      entry: { hiveId: string; worker: { workerId: string } };
      modelLoaded?: boolean;
    };
    expect(best).toMatchObject({ entry: { hiveId: 'hive-a', worker: { workerId: 'a-0' } }, modelLoaded: true });
    const fallback = await cli('best', '--model', 'mistral/7b');
    expect(fallback.stdout).toMatch(/^hive-b\/b-0  http:\/\/10\.0\.0\.1:9300\/b-0\n  why:      no idle worker has mistral\/7b loaded/);
  });

  test('catalog: register with labels, update, list by selector, get, deregister', async () => {
    expect((await cli('catalog', 'register', 'hive-c', '--label', 'zone=eu-1', '--label', 'gpu=h100', '--description', 'rack 4')).code).toBe(0);
    const dup = await cli('catalog', 'register', 'hive-c');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('ALREADY_EXISTS');
    expect((await cli('catalog', 'update', 'hive-a', '--label', 'zone=eu-1,gpu=a100')).stdout).toBe('updated hive hive-a\n');
    const listed = json(await cli('catalog', 'list', '--selector', 'zone=eu-1', '--json')) as {
      hives: { hiveId: string; online?: boolean; labels: Record<string, string> }[];
    };
    expect(listed.hives.map((h) => [h.hiveId, h.online ?? false])).toEqual([
      ['hive-a', true],
      ['hive-c', false],
    ]);
    const got = await cli('catalog', 'get', 'hive-c');
    expect(got.stdout).toContain('labels:       gpu=h100,zone=eu-1\ndescription:  rack 4\nlast seen:    never\n');
    expect((await cli('catalog', 'update', 'hive-c', '--clear-labels', '--description', '')).code).toBe(0);
    expect(json(await cli('catalog', 'get', 'hive-c', '--json'))).toMatchObject({ hive: { hiveId: 'hive-c' } });
    expect(json(await cli('catalog', 'get', 'hive-c', '--json'))).not.toHaveProperty('hive.labels');
    expect(json(await cli('catalog', 'deregister', 'hive-c', '--json'))).toEqual({ removed: true });
    expect((await cli('catalog', 'deregister', 'hive-c')).stdout).toBe('hive hive-c is not in the catalog\n');
  });

  test('watch prints the snapshot, a synced line, then live changes', async () => {
    const watch = spawn(process.execPath, [CLI, 'watch', '--hive', 'hive-a', '--queen', server.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern}; got ${JSON.stringify(lines)}`)), 10_000);
        const check = (): void => {
          if (lines.some((l) => pattern.test(l))) {
            clearTimeout(timer);
            resolve();
          }
        };
        rl.on('line', check);
        check();
      });
    const rl = createInterface({ input: watch.stdout! });
    rl.on('line', (line) => lines.push(line));
    try {
      await seen(/^\s*\d+  synced /);
      expect(lines[0]).toMatch(/^\s*\d+  hive_online      hive-a$/);
      expect(lines.slice(1, 3)).toEqual([
        expect.stringMatching(/^\s*\d+  worker_upserted  hive-a\/a-0  idle  meta\/llama-3-8b  GPU 35%  healthy$/),
        expect.stringMatching(/^\s*\d+  worker_upserted  hive-a\/a-1  busy  qwen\/qwen2-7b  GPU 90%  healthy$/),
      ]);
      await hiveA.send({ hiveId: 'hive-a', sequence: 2n, unchanged: true });
      const ack = await hiveA.send(
        snapshotPayload('hive-a', 3, [wireWorker('a-0', { modelId: 'meta/llama-3-8b', deviceId: 0, vramBytes: 16n * GiB, gpuPercent: 36 })], {
          devices: [wireDevice(0, 80n * GiB), wireDevice(1, 80n * GiB)],
        }),
      );
      expect(ack.accepted).toBe(true);
      await seen(/worker_removed   hive-a\/a-1$/);
      expect(lines.filter((l) => /worker_upserted  hive-a\/a-0  idle  meta\/llama-3-8b  GPU 36%/.test(l))).toHaveLength(1);
    } finally {
      watch.kill('SIGINT');
    }
  });

  test('remove-hive ends the hive stream and removes it from the registry', async () => {
    const removed = await cli('remove-hive', 'hive-b');
    expect(removed).toMatchObject({ code: 0, stdout: 'removed hive hive-b from the registry\n' });
    expect(json(await cli('remove-hive', 'hive-b', '--json'))).toEqual({});
  });

  test.each([
    [['workers', '--backend', 'tpu'], '--backend: must be one of cpu, cuda, metal, rocm, got "tpu"'],
    [['catalog', 'update', 'hive-a'], 'nothing to update'],
    [['catalog', 'register', 'x', '--label', 'novalue'], '--label: expected KEY=VALUE, got "novalue"'],
    [['best'], "required option '--model <model-id>' not specified"],
    [['hives', '--queen', 'no-port'], '--queen: must be HOST:PORT'],
    [['hives', '--queen', '127.0.0.1:1,no-port'], '--queen: must be HOST:PORT or [IPv6]:PORT, got "no-port"'],
    [['hives', '--queen', '127.0.0.1:1,127.0.0.1:1'], '--queen: "127.0.0.1:1" is given twice'],
    [['hives', '--timeout', 'soon'], '--timeout: must be a duration'],
    [['cordon'], "missing required argument 'hive-id'"],
    [['uncordon', 'a', 'b'], 'too many arguments'],
    [['no-such-command'], "unknown command 'no-such-command'"],
  ])('usage error %j exits 2', async (args, message) => {
    const result = await run(process.execPath, [CLI, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  test('an unreachable queen exits 1 naming the code; HIVE_REGISTRY_QUEEN picks the address', async () => {
    const port = await freePort();
    const down = await run(process.execPath, [CLI, 'hives', '--queen', `127.0.0.1:${port}`, '--timeout', '2s']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^hive-registry hives: (UNAVAILABLE|DEADLINE_EXCEEDED): .*\(is the queen running at that address\? see --queen\)\n$/);
    const viaEnv = await run(process.execPath, [CLI, 'hives', '--json'], { env: { HIVE_REGISTRY_QUEEN: server.address } });
    expect(viaEnv.code).toBe(0);
    expect((JSON.parse(viaEnv.stdout) as { hives: unknown[] }).hives.length).toBeGreaterThan(0);
    const badEnv = await run(process.execPath, [CLI, 'hives'], { env: { HIVE_REGISTRY_QUEEN: `${server.address},nope` } });
    expect({ code: badEnv.code, stderr: badEnv.stderr }).toEqual({
      code: 2,
      stderr: 'hive-registry hives: HIVE_REGISTRY_QUEEN: must be HOST:PORT or [IPv6]:PORT, got "nope"\n',
    });
  });

  test('--queen lists: a dead or silent queen first is passed over, a NOT_FOUND is the answer, every queen down exits 1 naming each', async () => {
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const viaDead = await cli('hives', '--json', '--queen', `${dead[0]},${server.address}`);
    expect((json(viaDead) as { hives: { hiveId: string }[] }).hives.map((h) => h.hiveId)).toContain('hive-a');
    const notFound = await cli('hive', 'no-such-hive', '--queen', `${dead[0]},${server.address}`);
    expect({ code: notFound.code, stderr: notFound.stderr }).toEqual({
      code: 1,
      stderr: 'hive-registry hive: NOT_FOUND: hive_id: no hive "no-such-hive" in the registry\n',
    });

    // A host that accepts and then says nothing (as one that is down says nothing): the call waits out --timeout,
    // never sent, and goes on to the next queen.
    const silent = createServer(() => undefined).listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const viaSilent = await cli('workers', '--json', '--timeout', '1s', '--queen', `127.0.0.1:${port},${server.address}`);
      expect((json(viaSilent) as { workers: unknown[] }).workers.length).toBeGreaterThan(0);
    } finally {
      silent.close();
    }

    const down = await cli('hives', '--queen', dead.join(','), '--timeout', '2s');
    expect({ code: down.code, stdout: down.stdout }).toEqual({ code: 1, stdout: '' });
    const lines = down.stderr.split('\n');
    expect(lines[0]).toBe('hive-registry hives: UNAVAILABLE: every queen failed (see --queen):');
    expect(lines.slice(1, 3)).toEqual([
      expect.stringMatching(new RegExp(`^  ${dead[0]}: UNAVAILABLE: .+`)),
      expect.stringMatching(new RegExp(`^  ${dead[1]}: UNAVAILABLE: .+`)),
    ]);
    expect(lines.slice(3)).toEqual(['']);
  });

  // Last: ten CLI runs take a while, and the earlier tests need their hives online (one heartbeat, in beforeAll).
  // Nothing here depends on liveness.
  test('cordon and uncordon: a confirmation, --json, NOT_FOUND exits 1, and the catalog views show it', async () => {
    const cordoned = await cli('cordon', 'hive-a');
    expect(cordoned).toMatchObject({
      code: 0,
      stdout: 'cordoned hive hive-a: its workers stay listed but are never picked\n',
      stderr: '',
    });
    const got = json(await cli('catalog', 'get', 'hive-a', '--json')) as { hive: Record<string, unknown> };
    expect(got.hive).toMatchObject({ hiveId: 'hive-a', cordoned: true });
    expect((await cli('catalog', 'list')).stdout).toMatch(/^hive-a\s+(online|offline),cordoned\s/m);
    // Its workers stay listed (a-0 alone since the watch test's snapshot).
    const workers = json(await cli('workers', '--all', '--json')) as { workers: { hiveId: string; worker: { workerId: string } }[] };
    expect(workers.workers.filter((w) => w.hiveId === 'hive-a').map((w) => w.worker.workerId)).toEqual(['a-0']);
    // A second cordon is fine, and --json prints the CordonHiveResponse.
    const again = json(await cli('cordon', 'hive-a', '--json')) as { hive: Record<string, unknown> };
    expect(again).toEqual({ hive: { ...got.hive, online: again.hive.online } });

    expect((await cli('uncordon', 'hive-a')).stdout).toBe('uncordoned hive hive-a: its workers may be picked again\n');
    const uncordoned = json(await cli('uncordon', 'hive-a', '--json')) as { hive: Record<string, unknown> };
    expect(uncordoned.hive).toMatchObject({ hiveId: 'hive-a' });
    expect(uncordoned.hive).not.toHaveProperty('cordoned'); // false: protobuf JSON leaves it out

    for (const name of ['cordon', 'uncordon']) {
      const missing = await cli(name, 'no-such-hive');
      expect(missing).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `hive-registry ${name}: NOT_FOUND: hive_id: no hive "no-such-hive" in the catalog\n`,
      });
    }
  });

  // Reservations and failure reports. Only a-0 (meta/llama-3-8b, one slot) is left on hive-a by now; each test
  // releases what it reserves, so nothing here waits for a TTL.
  test('best --reserve prints a reservation to release; release says released, then not; --json both', async () => {
    const reserved = await cli('best', '--model', 'meta/llama-3-8b', '--reserve', '--ttl', '2m');
    expect({ code: reserved.code, stderr: reserved.stderr }).toEqual({ code: 0, stderr: '' });
    expect(reserved.stdout).toMatch(/^hive-a\/a-0  http:\/\/10\.0\.0\.1:9300\/a-0\n/);
    const id = /^ {2}reserved: (\S+) \(one slot, held for 2m unless released\)$/m.exec(reserved.stdout)?.[1] ?? '';
    expect(id).not.toBe('');
    expect(reserved.stdout).toContain(`\nrelease it when the request is done: hive-registry release ${id} (with --failed if it failed)\n`);
    // a-0's one slot is held: no call picks it now.
    const held = await cli('best', '--model', 'meta/llama-3-8b');
    expect({ code: held.code, stdout: held.stdout }).toEqual({ code: 1, stdout: '' });
    expect(held.stderr).toMatch(/^hive-registry best: RESOURCE_EXHAUSTED: /);

    expect(await cli('release', id)).toEqual({ code: 0, stdout: `released reservation ${id}\n`, stderr: '' });
    expect(await cli('release', id)).toEqual({
      code: 0,
      stdout: `reservation ${id} is unknown or expired: nothing to release\n`,
      stderr: '',
    });

    const best = json(await cli('best', '--model', 'meta/llama-3-8b', '--reserve', '--json')) as {
      entry: { worker: { workerId: string } };
      reservationId: string;
    };
    expect(best.entry.worker.workerId).toBe('a-0');
    expect(best.reservationId).toMatch(/^\S+$/);
    expect(json(await cli('release', best.reservationId, '--failed', '--json'))).toEqual({ released: true });
    expect(json(await cli('release', best.reservationId, '--json'))).toEqual({});
  });

  test('the queen refusing release, report-failure and best exits 1 naming the code', async () => {
    for (const blank of ['', '  ']) {
      const release = await cli('release', blank);
      expect({ code: release.code, stdout: release.stdout }).toEqual({ code: 1, stdout: '' });
      expect(release.stderr).toMatch(/^hive-registry release: INVALID_ARGUMENT: reservation_id: /);
    }
    expect(await cli('report-failure', 'no-such-worker', '--reason', 'timeout')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'hive-registry report-failure: NOT_FOUND: worker_id: no worker "no-such-worker" in the registry\n',
    });
    const tooBig = await cli('best', '--model', 'mistral/7b', '--min-vram', '1TiB');
    expect({ code: tooBig.code, stdout: tooBig.stdout }).toEqual({ code: 1, stdout: '' });
    expect(tooBig.stderr).toMatch(
      /^hive-registry best: RESOURCE_EXHAUSTED: min_vram_bytes: .* 1099511627776 bytes of VRAM free .*; the most free is \d+ bytes\n$/,
    );
    const nowhere = await cli('best', '--model', 'meta/llama-3-8b', '--selector', 'zone=mars');
    expect(nowhere).toEqual({
      code: 1,
      stdout: '',
      stderr: 'hive-registry best: UNAVAILABLE: selector: no online hive with workers has the labels zone=mars\n',
    });
    const longTtl = await cli('best', '--model', 'meta/llama-3-8b', '--reserve', '--ttl', '11m');
    expect(longTtl.code).toBe(1);
    expect(longTtl.stderr).toMatch(/^hive-registry best: INVALID_ARGUMENT: reservation_ttl: /);
    // hive-a got zone=eu-1 in the catalog test: a selector it matches, and VRAM that fits, still pick a-0.
    const picked = json(await cli('best', '--model', 'meta/llama-3-8b', '--selector', 'zone=eu-1', '--min-vram', '1GiB', '--json'));
    expect(picked).toMatchObject({ entry: { hiveId: 'hive-a', worker: { workerId: 'a-0' } }, modelLoaded: true });
  });

  test.each([
    [['best', '--model', 'm', '--ttl', '30s'], '--ttl: only with --reserve'],
    [['best', '--model', 'm', '--reserve', '--ttl', 'soon'], '--ttl: must be a duration such as 30s or 2m, got "soon"'],
    [['best', '--model', 'm', '--min-vram', '20G'], '--min-vram: must be a number of bytes such as 21474836480, 20GiB'],
    [['best', '--model', 'm', '--selector', 'zone'], '--selector: expected KEY=VALUE, got "zone"'],
    [['release'], "missing required argument 'reservation-id'"],
    [['release', 'r-1', '--success'], "unknown option '--success'"],
    [['report-failure'], "missing required argument 'worker-id'"],
  ])('usage error %j exits 2', async (args, message) => {
    const result = await run(process.execPath, [CLI, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
