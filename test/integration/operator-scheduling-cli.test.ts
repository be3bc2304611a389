// The scheduling commands of the operator CLI (`best --reserve ...`, `release`, `report-failure`), run in process
// against a TestQueen: its ManualClock makes reservation and exclusion times exact, which the e2e tests (a real
// process, a real clock) cannot check.
import { inProcessCli } from '../helpers/in-process-cli';
import { TestQueen } from '../helpers/queen';
import { wireDevice, wireWorker } from '../helpers/wire-builders';

const GiBn = 1n << 30n;
const MODEL = 'org/llama';

describe('operator commands: best --reserve, release, report-failure (in process)', () => {
  let q: TestQueen;

  /** Runs `hive-registry ARGS --queen <the test queen>` in process; its "now" is the queen's wall clock. */
  const cli = inProcessCli(() => q);
  /** The reservation id a human `best --reserve` printed. */
  const reservationOf = (stdout: string): string => /^ {2}reserved: (\S+) /m.exec(stdout)?.[1] ?? '';

  beforeEach(async () => {
    q = await TestQueen.start();
    await q.connectHive(
      'hive-a',
      [
        wireWorker('w-1', { modelId: MODEL, deviceId: 0, vramBytes: 16n * GiBn, gpuPercent: 20, maxConcurrency: 4 }),
        wireWorker('w-2', { deviceId: 1, vramBytes: 2n * GiBn, gpuPercent: 5 }),
      ],
      { devices: [wireDevice(0, 80n * GiBn), wireDevice(1, 24n * GiBn)] },
    );
  });

  afterEach(async () => {
    await q.stop();
  });

  it('best --reserve prints the reservation, its TTL and how to release it; the slots of the worker', async () => {
    const reserved = await cli('best', '--model', MODEL, '--reserve', '--ttl', '10s');
    const id = reservationOf(reserved.stdout);
    expect(id).not.toBe('');
    expect(reserved).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'hive-a/w-1  http://10.0.0.1:9300/w-1',
        `  why:      the idle worker with ${MODEL} loaded and the lowest load (then KV cache use, then GPU load)`,
        `  model:    ${MODEL}`,
        '  load:     GPU 20%, CPU -, VRAM 16.0 GiB',
        '  slots:    4 (requests at once)',
        '  backend:  cuda, device 0',
        `  reserved: ${id} (one slot, held for 10s unless released)`,
        `release it when the request is done: hive-registry release ${id} (with --failed if it failed)`,
        '',
      ].join('\n'),
    });
    // Without --ttl, the queen's default.
    expect((await cli('best', '--model', MODEL, '--reserve')).stdout).toContain('(one slot, held for 30s unless released)\n');
    // The TTL asked for is the one the queen keeps: just before it ends the release works, after it not. (Both
    // within the queen's offline threshold: the hive sends no ticks.)
    q.clock.advance(9_999);
    expect((await cli('release', id)).stdout).toBe(`released reservation ${id}\n`);
    const late = reservationOf((await cli('best', '--model', MODEL, '--reserve', '--ttl', '1s')).stdout);
    q.clock.advance(1_000);
    expect(await cli('release', late, '--failed')).toEqual({
      code: 0,
      stderr: '',
      stdout: `reservation ${late} is unknown or expired: nothing to release\n`,
    });
  });

  it('best --json prints the response with its reservation id; release --json prints {released}', async () => {
    const best = await cli('best', '--model', MODEL, '--reserve', '--json');
    expect(best.code).toBe(0);
    const parsed = JSON.parse(best.stdout) as { entry: { worker: { workerId: string; maxConcurrency: number } }; reservationId: string };
    expect(parsed).toMatchObject({ entry: { worker: { workerId: 'w-1', maxConcurrency: 4 } }, modelLoaded: true });
    expect(parsed.reservationId).toMatch(/^\S+$/);
    expect(JSON.parse((await cli('release', parsed.reservationId, '--failed', '--json')).stdout)).toEqual({ released: true });
    // released: false is the default value, which protobuf JSON leaves out.
    expect(JSON.parse((await cli('release', parsed.reservationId, '--json')).stdout)).toEqual({});
    // Without --reserve, no reservation id in the response.
    expect(JSON.parse((await cli('best', '--model', MODEL, '--json')).stdout)).not.toHaveProperty('reservationId');
  });

  it('release --failed reports the failure; the exact success flag reaches the queen', async () => {
    const id = reservationOf((await cli('best', '--model', MODEL, '--reserve')).stdout);
    await cli('report-failure', 'w-1');
    q.clock.advance(1_000);
    expect((await cli('release', id, '--failed')).stdout).toBe(`released reservation ${id}, its request reported as failed\n`);
    // The failure record was kept (success false), so the next failure in a row is excluded twice as long.
    expect((await cli('report-failure', 'w-1')).stdout).toMatch(/\(in about 2s\)\n$/);
  });

  it('report-failure prints until when the worker is excluded, doubling; --json the response', async () => {
    const until = new Date(q.clock.wallNow() + 1_000).toISOString();
    expect(await cli('report-failure', 'w-1', '--reason', 'connection refused')).toEqual({
      code: 0,
      stderr: '',
      stdout: `worker w-1 is not picked until ${until} (in about 1s)\n`,
    });
    expect((await cli('best', '--model', MODEL)).stdout).toMatch(/^hive-a\/w-2 /);
    const json = JSON.parse((await cli('report-failure', 'w-1', '--json')).stdout) as { excludedUntil: string };
    expect(Object.keys(json)).toEqual(['excludedUntil']);
    expect(Date.parse(json.excludedUntil)).toBe(q.clock.wallNow() + 2_000);
    expect(await cli('report-failure', 'w-9')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'hive-registry report-failure: NOT_FOUND: worker_id: no worker "w-9" in the registry\n',
    });
  });

  it('best --min-vram and --selector narrow the pick; the queen says why none fits', async () => {
    // Without the model, w-2 (GPU 5%) would win; its device has 22 GiB free, w-1's 64 GiB.
    expect((await cli('best', '--model', 'org/mistral')).stdout).toMatch(/^hive-a\/w-2 /);
    expect((await cli('best', '--model', 'org/mistral', '--min-vram', '30GiB')).stdout).toMatch(/^hive-a\/w-1 /);
    const unlabelled = await cli('best', '--model', 'org/mistral', '--selector', 'zone=eu-1');
    expect(unlabelled).toEqual({
      code: 1,
      stdout: '',
      stderr: 'hive-registry best: UNAVAILABLE: selector: no online hive with workers has the labels zone=eu-1\n',
    });
    expect((await cli('catalog', 'update', 'hive-a', '--label', 'zone=eu-1,gpu=h100')).code).toBe(0);
    expect((await cli('best', '--model', MODEL, '--selector', 'zone=eu-1', '--selector', 'gpu=h100')).stdout).toMatch(/^hive-a\/w-1 /);
    const noFit = await cli('best', '--model', 'org/mistral', '--min-vram', '68719476737', '--selector', 'zone=eu-1');
    expect(noFit).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'hive-registry best: RESOURCE_EXHAUSTED: min_vram_bytes: no idle worker has model "org/mistral" loaded, and none ' +
        'without it has 68719476737 bytes of VRAM free on its device; the most free is 68719476736 bytes\n',
    });
  });

  it('usage errors exit 2 before any call; the queen refusing a TTL or an id exits 1', async () => {
    expect(await cli('best', '--model', MODEL, '--ttl', '30s', '--min-vram', '1.5')).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'hive-registry best: --ttl: only with --reserve; --min-vram: must be a number of bytes such as 21474836480, ' +
        '20GiB, 512MiB or 80GB (at most 9007199254740991), got "1.5"\n',
    });
    const long = await cli('best', '--model', MODEL, '--reserve', '--ttl', '11m');
    expect(long.code).toBe(1);
    expect(long.stderr).toMatch(/^hive-registry best: INVALID_ARGUMENT: reservation_ttl: must be more than 0 and at most 10 min/);
    for (const id of ['', '   ']) {
      const bad = await cli('release', id);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^hive-registry release: INVALID_ARGUMENT: reservation_id: /);
    }
  });
});
