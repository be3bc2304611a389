import { runInThisContext } from 'node:vm';

/**
 * Records every unhandledRejection and uncaughtException of the real Node process while installed.
 *
 * Jest runs a test file in a vm context whose `process` is a copy: listeners added to it never hear the real
 * process's events. The real process is the `process` global of the outer context, reached through
 * `runInThisContext` (which evaluates in that context, not in the test's sandbox). Jest's own handlers stay
 * installed, so a fault still fails the running test; these listeners let a test assert on the list and report
 * which fault happened and where.
 */
export class ProcessFaults {
  private readonly seen: string[] = [];
  private readonly real = runInThisContext('process') as NodeJS.Process;
  private readonly onRejection = (reason: unknown): void => {
    this.seen.push(`unhandledRejection: ${describe(reason)}`);
  };
  private readonly onException = (error: unknown): void => {
    this.seen.push(`uncaughtException: ${describe(error)}`);
  };

  private constructor() {
    this.real.on('unhandledRejection', this.onRejection);
    this.real.on('uncaughtException', this.onException);
  }

  static install(): ProcessFaults {
    return new ProcessFaults();
  }

  /** The faults seen so far, each with its stack when it had one. */
  get list(): readonly string[] {
    return this.seen;
  }

  dispose(): void {
    this.real.off('unhandledRejection', this.onRejection);
    this.real.off('uncaughtException', this.onException);
  }
}

function describe(value: unknown): string {
  return value instanceof Error ? (value.stack ?? `${value.name}: ${value.message}`) : String(value);
}
