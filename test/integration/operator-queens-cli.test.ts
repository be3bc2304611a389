// The operator CLI's `queens` (a table for people, --json for scripts) and the queen line of `hive ID`, run in
// process against a TestQueen: its ManualClock makes the STARTED age exact.
import { inProcessCli } from '../helpers/in-process-cli';
import { TestQueen } from '../helpers/queen';
import { wireWorker } from '../helpers/wire-builders';

describe('operator commands: queens, and the queen of a hive (in process)', () => {
  let q: TestQueen;

  /** Runs `hive-registry ARGS --queen <the test queen>` in process; its "now" is the queen's wall clock. */
  const cli = inProcessCli(() => q);

  afterEach(async () => {
    await q.stop();
  });

  it('queens: one row for this queen, marked, with its age and online hives; - without an HTTP listener', async () => {
    q = await TestQueen.start({ queenId: 'queen-eu-1', advertise: 'queen.example:50051' });
    await q.connectHive('hive-a', [wireWorker('a-0')]);
    q.clock.advance(90_000);
    expect(await cli('queens')).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'QUEEN       ADDRESS              HTTP  STARTED  HIVES',
        // hive-a sent nothing for 90 s: offline, so not counted.
        'queen-eu-1  queen.example:50051  -     90s ago  0      (this one)',
        '',
      ].join('\n'),
    });
  });

  it('queens --json prints the ListQueens response in protobuf JSON (defaults left out, as grpcurl does)', async () => {
    q = await TestQueen.start({ queenId: 'queen-eu-1', httpListen: '127.0.0.1:0' });
    await q.connectHive('hive-a');
    const result = await cli('queens', '--json');
    expect({ code: result.code, stderr: result.stderr, json: JSON.parse(result.stdout) as unknown }).toEqual({
      code: 0,
      stderr: '',
      json: {
        queens: [
          {
            queenId: 'queen-eu-1',
            address: `127.0.0.1:${q.queen.port}`,
            httpAddress: `127.0.0.1:${q.httpPort}`,
            startedAt: '2026-01-01T00:00:00Z',
            hives: 1,
            self: true,
          },
        ],
      },
    });
  });

  it('hive ID names the queen that owns the hive; --json carries queenId', async () => {
    q = await TestQueen.start({ queenId: 'queen-eu-1' });
    await q.connectHive('hive-a', [wireWorker('a-0')]);
    const report = await cli('hive', 'hive-a');
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^hive: {12}hive-a\nqueen: {11}queen-eu-1\nstatus: /);
    const json = JSON.parse((await cli('hive', 'hive-a', '--json')).stdout) as { hive?: { queenId?: string } };
    expect(json.hive?.queenId).toBe('queen-eu-1');
    const workers = JSON.parse((await cli('workers', '--json')).stdout) as { workers: { queenId?: string }[] };
    expect(workers.workers.map((entry) => entry.queenId)).toEqual(['queen-eu-1']);
  });

  it('queens against no queen: exit 1 naming the gRPC code', async () => {
    q = await TestQueen.start();
    await q.stop();
    // The stopped queen's address and clock still stand: nothing listens there any more.
    expect(await cli('queens', '--timeout', '2s')).toEqual({
      code: 1,
      stdout: '',
      stderr: expect.stringMatching(/^hive-registry queens: UNAVAILABLE/) as unknown as string,
    });
    q = await TestQueen.start(); // afterEach stops it
  });
});
