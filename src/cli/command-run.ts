import type { JsonValue } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { ClientError } from '../client/client-error.js';
import { AllQueensFailedError, describeFailure } from '../client/queen-failover.js';

/** How an operator command runs: where it writes, its exit codes, and how failures become them. */

export const EXIT_OK = 0;
export const EXIT_QUEEN = 1;
export const EXIT_USAGE = 2;

/** Where a command writes, and what time it is (injected so output is reproducible). */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  nowMs(): number;
}

/** A command line the user got wrong: exit 2 with this message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function printJson(io: CommandIo, value: JsonValue): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Runs `work` and turns its failures into exit codes: a ClientError (the queen's answer, or no answer) is 1 with
 * the gRPC code on stderr (every queen's when none of a list could be reached); a UsageError is 2.
 */
export async function runCommand(name: string, io: CommandIo, work: () => Promise<void>): Promise<number> {
  try {
    await work();
    return EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`hive-registry ${name}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof AllQueensFailedError) {
      // One line per queen: each failed in its own way, and the operator needs to see which is which.
      const lines = error.failures.map((failure) => `  ${describeFailure(failure)}\n`).join('');
      io.err(`hive-registry ${name}: ${error.codeName}: every queen failed (see --queen):\n${lines}`);
      return EXIT_QUEEN;
    }
    if (error instanceof ClientError) {
      // grpc-js's own words when no connection could be made (the queen's UNAVAILABLE answers say why instead).
      const unreached =
        error.code === status.DEADLINE_EXCEEDED ||
        (error.code === status.UNAVAILABLE && /^(No connection established|Connection dropped|failed to connect)/i.test(error.details));
      const hint = unreached ? ' (is the queen running at that address? see --queen)' : '';
      io.err(`hive-registry ${name}: ${error.codeName}: ${error.details}${hint}\n`);
      return EXIT_QUEEN;
    }
    throw error;
  }
}

export interface OutputFlags {
  readonly json?: boolean;
}
