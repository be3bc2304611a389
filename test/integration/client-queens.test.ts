// The typed client's listQueens, and the owner queen on what it returns for hives and workers.
import { createRegistryClient, type RegistryClient } from '../../src/client/registry-client';
import { TestQueen } from '../helpers/queen';
import { wireWorker } from '../helpers/wire-builders';

describe('RegistryClient.listQueens', () => {
  let q: TestQueen;
  let client: RegistryClient;

  beforeEach(async () => {
    q = await TestQueen.start({ queenId: 'queen-1', advertise: 'queen.example:443', httpListen: '127.0.0.1:0' });
    client = createRegistryClient(q.address);
  });
  afterEach(async () => {
    client.close();
    await q.stop();
  });

  it('returns this queen as plain values: start time in wall-clock ms, its online hives', async () => {
    const a = await q.connectHive('hive-a', [wireWorker('a-0')]);
    await q.connectHive('hive-b');
    a.end();
    await a.status;
    expect(await client.listQueens()).toStrictEqual([
      {
        queenId: 'queen-1',
        address: 'queen.example:443',
        httpAddress: `127.0.0.1:${q.httpPort}`,
        startedAtMs: Date.UTC(2026, 0, 1),
        hives: 1,
        self: true,
      },
    ]);
  });

  it('names the owner queen on hives and worker entries', async () => {
    await q.connectHive('hive-a', [wireWorker('a-0')]);
    expect((await client.getHiveState('hive-a')).queenId).toBe('queen-1');
    expect((await client.getWorker('a-0')).queenId).toBe('queen-1');
    expect((await client.listAllWorkers()).map((entry) => entry.queenId)).toEqual(['queen-1']);
  });
  // ListQueens takes no input, so there is no bad-input case; its access rule is tested with the RPC.
});
