// Calls over a list of queens: which queen each call goes to, which errors move on, and what is reported when
// every queen failed. Fake per-queen methods stand in for the channels.
import { status } from '@grpc/grpc-js';
import { ClientError } from '../../src/client/client-error';
import { AllQueensFailedError, failoverMethods, tryQueens, unreached, type QueenCursor } from '../../src/client/queen-failover';
import { runCommand } from '../../src/cli/command-run';

const QUEENS = ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051'];
const RPC = 'hive.v1.HiveRegistry/ListAllHives';
const refused = (): ClientError =>
  new ClientError(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED', RPC);
/** What grpc-js reports when the deadline passes before any connection (a host that answers nothing). */
const silent = (): ClientError =>
  new ClientError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 5.001s,name resolution: 0.001s,Waiting for LB pick', RPC);

/** Per-queen `listAllHives` fakes: `answers[i]` is queen i's answer, a value or an error to throw. */
function fleet(answers: readonly (string | Error)[]) {
  const calls: number[] = [];
  const perQueen = answers.map((answer, index) => ({
    listAllHives: async (): Promise<string> => {
      calls.push(index);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  }));
  const cursor: QueenCursor = { index: 0 };
  return { methods: failoverMethods(QUEENS.slice(0, answers.length), perQueen, cursor), calls, cursor };
}

describe('unreached: which errors send a call on to the next queen', () => {
  test.each([
    [refused(), true],
    [new ClientError(status.UNAVAILABLE, 'the server is shutting down', RPC), true],
    [silent(), true],
    [new ClientError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 5.001s,waiting for name resolution', RPC), true],
    // Sent and then too slow: the queen may have acted on it, so it is not tried elsewhere.
    [new ClientError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 5.001s,LB pick: 0.001s,remote_addr=10.0.0.1:50051', RPC), false],
    [new ClientError(status.NOT_FOUND, 'hive_id: no hive "x" in the registry', RPC), false],
    [new ClientError(status.PERMISSION_DENIED, 'read role required', RPC), false],
    [new ClientError(status.INTERNAL, 'internal error', RPC), false],
  ])('%s: %s', (error, expected) => {
    expect(unreached(error)).toBe(expected);
  });
});

describe('failoverMethods', () => {
  test('the first queen answers: no other queen is asked', async () => {
    const t = fleet(['from-1', 'from-2', 'from-3']);
    await expect(t.methods.listAllHives()).resolves.toBe('from-1');
    expect(t.calls).toEqual([0]);
  });

  test('UNAVAILABLE moves the call to the next queen in list order; later calls start at the queen that answered', async () => {
    const t = fleet([refused(), refused(), 'from-3']);
    await expect(t.methods.listAllHives()).resolves.toBe('from-3');
    await expect(t.methods.listAllHives()).resolves.toBe('from-3');
    expect({ calls: t.calls, cursor: t.cursor.index }).toEqual({ calls: [0, 1, 2, 2], cursor: 2 });
  });

  test('a deadline passed while still connecting moves on too', async () => {
    const t = fleet([silent(), 'from-2']);
    await expect(t.methods.listAllHives()).resolves.toBe('from-2');
    expect(t.calls).toEqual([0, 1]);
  });

  test('any other error is the answer: NOT_FOUND from a live queen is final, and that queen stays current', async () => {
    const notFound = new ClientError(status.NOT_FOUND, 'hive_id: no hive "x" in the registry', RPC);
    const t = fleet([refused(), notFound, 'from-3']);
    await expect(t.methods.listAllHives()).rejects.toBe(notFound);
    expect({ calls: t.calls, cursor: t.cursor.index }).toEqual({ calls: [0, 1], cursor: 1 });
  });

  test('every queen failed: one error naming each queen with its own error, in the order tried', async () => {
    const t = fleet([refused(), silent(), new ClientError(status.UNAVAILABLE, 'the server is shutting down', RPC)]);
    const error = await t.methods.listAllHives().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AllQueensFailedError);
    const failed = error as AllQueensFailedError;
    expect(failed.failures.map((f) => [f.queen, f.error.codeName])).toEqual([
      [QUEENS[0], 'UNAVAILABLE'],
      [QUEENS[1], 'DEADLINE_EXCEEDED'],
      [QUEENS[2], 'UNAVAILABLE'],
    ]);
    expect({ code: failed.codeName, rpc: failed.rpc }).toEqual({ code: 'UNAVAILABLE', rpc: RPC });
    expect(failed.details).toBe(
      `every queen failed: ${QUEENS[0]}: UNAVAILABLE: ${refused().details}; ${QUEENS[1]}: DEADLINE_EXCEEDED: ${silent().details}; ` +
        `${QUEENS[2]}: UNAVAILABLE: the server is shutting down`,
    );
    expect(t.cursor.index).toBe(0);
  });

  test('every queen failed alike: their code', async () => {
    const t = fleet([silent(), silent()]);
    await expect(t.methods.listAllHives()).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  test('one queen: its error passes unchanged, as before lists', async () => {
    const error = refused();
    const t = fleet([error]);
    await expect(t.methods.listAllHives()).rejects.toBe(error);
  });

  test('an error that is not a call failure (a bad argument) is thrown at once', async () => {
    const cursor: QueenCursor = { index: 0 };
    const asked: number[] = [];
    const bad = new RangeError('maxAgeMs: must be a finite number');
    await expect(
      tryQueens(QUEENS, cursor, async (index) => {
        asked.push(index);
        throw bad;
      }),
    ).rejects.toBe(bad);
    expect(asked).toEqual([0]);
  });
});

describe('runCommand with a list of queens', () => {
  test('when every queen failed: exit 1, one stderr line per queen with its error', async () => {
    const lines: string[] = [];
    const io = { out: () => undefined, err: (text: string) => void lines.push(text), nowMs: () => 0 };
    const t = fleet([refused(), silent()]);
    const code = await runCommand('hives', io, async () => void (await t.methods.listAllHives()));
    expect(code).toBe(1);
    expect(lines.join('')).toBe(
      'hive-registry hives: UNAVAILABLE: every queen failed (see --queen):\n' +
        `  ${QUEENS[0]}: UNAVAILABLE: ${refused().details}\n` +
        `  ${QUEENS[1]}: DEADLINE_EXCEEDED: ${silent().details}\n`,
    );
  });
});
