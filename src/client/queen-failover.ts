import { status } from '@grpc/grpc-js';
import { ClientError } from './client-error.js';

/**
 * Calls over a list of queens serving one fleet: a call goes to the current queen and, when that queen could not
 * be reached (see `unreached`), to the next one in the list, each with the call's full deadline. The first queen
 * of the list is the current one until a call fails over; then the queen that answered is, so a command making
 * several calls does not wait on a dead queen for each. Any answer from a queen, an error included (NOT_FOUND is
 * the answer), is final.
 */

/** Which queen of the list calls go to first: an index shared by every method of one client. */
export interface QueenCursor {
  index: number;
}

/** One queen that failed a call, and how. */
export interface QueenFailure {
  readonly queen: string;
  readonly error: ClientError;
}

/**
 * Every queen of the list failed one call, each with an error that sends a call on to the next queen (see
 * `unreached`). `failures` names each queen with its own error, in the order tried; `code` is theirs when they
 * all agree, else UNAVAILABLE.
 */
export class AllQueensFailedError extends ClientError {
  constructor(readonly failures: readonly QueenFailure[]) {
    super(commonCode(failures), `every queen failed: ${failures.map(describeFailure).join('; ')}`, failures[0]?.error.rpc ?? '');
  }
}

function commonCode(failures: readonly QueenFailure[]): status {
  const first = failures[0]?.error.code;
  return first !== undefined && failures.every((f) => f.error.code === first) ? first : status.UNAVAILABLE;
}

/** `HOST:PORT: CODE: details`, one queen's failure on one line. */
export function describeFailure(failure: QueenFailure): string {
  return `${failure.queen}: ${failure.error.codeName}: ${failure.error.details}`;
}

/**
 * Whether `error` says the call never reached a live queen, so trying another queen can only help: UNAVAILABLE
 * (no connection, the queen drained, or the queen itself saying it cannot serve this now), or a deadline that
 * passed while grpc-js was still waiting for a connection (a queen whose host is down answers nothing, not even a
 * refusal; its details then say the call was still "waiting for" a pick or a name), which left before the request
 * was sent.
 */
export function unreached(error: ClientError): boolean {
  if (error.code === status.UNAVAILABLE) return true;
  return error.code === status.DEADLINE_EXCEEDED && /waiting for (LB pick|name resolution)/i.test(error.details);
}

/**
 * Runs `call` against the queens of `queens` by index, starting at `cursor` and moving on in list order (wrapping
 * around) while the queen could not be reached; the queen that answers becomes the cursor. With one queen its
 * error passes unchanged; with several, AllQueensFailedError when none could be reached. Errors that are not
 * ClientError (a bad argument caught before any call) are thrown at once.
 */
export async function tryQueens<R>(
  queens: readonly string[],
  cursor: QueenCursor,
  call: (index: number) => Promise<R>,
): Promise<R> {
  const failures: QueenFailure[] = [];
  for (let step = 0; step < queens.length; step++) {
    const index = (cursor.index + step) % queens.length;
    try {
      const result = await call(index);
      cursor.index = index;
      return result;
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      if (queens.length === 1) throw error;
      if (!unreached(error)) {
        cursor.index = index;
        throw error;
      }
      failures.push({ queen: queens[index] ?? String(index), error });
    }
  }
  throw new AllQueensFailedError(failures);
}

/**
 * One object of promise-returning methods (a client's `registry` or `catalog`) over several queens: `perQueen[i]`
 * holds queen i's methods; each method of the result goes through tryQueens. With one queen, its methods as they
 * are.
 */
export function failoverMethods<T extends object>(queens: readonly string[], perQueen: readonly T[], cursor: QueenCursor): T {
  const first = perQueen[0];
  if (first === undefined || perQueen.length !== queens.length) {
    throw new RangeError(`failoverMethods: ${perQueen.length} method sets for ${queens.length} queens`);
  }
  if (perQueen.length === 1) return first;
  // The methods are looked up by name on each queen's set; the result has the same names and signatures.
  type Method = (...args: unknown[]) => Promise<unknown>;
  const sets = perQueen as readonly Record<string, Method | undefined>[];
  const methods: Record<string, Method> = {};
  for (const name of Object.keys(first)) {
    methods[name] = (...args) =>
      tryQueens(queens, cursor, (index) => {
        const method = sets[index]?.[name];
        if (method === undefined) throw new Error(`queen ${index} has no method ${name}`);
        return method(...args);
      });
  }
  return methods as T;
}
