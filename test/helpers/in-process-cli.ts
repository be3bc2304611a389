import { Command } from 'commander';
import type { CommandIo } from '../../src/cli/operator-commands';
import { addOperatorCommands } from '../../src/cli/operator-program';
import type { TestQueen } from './queen';

/** What one operator command printed, and its exit code. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs operator commands in process against the TestQueen `queen()` returns: `hive-registry ARGS --queen <it>`,
 * with the queen's wall clock as the commands' "now" (so ages and times print exactly).
 */
export function inProcessCli(queen: () => TestQueen): (...args: string[]) => Promise<CliResult> {
  return async (...args) => {
    const q = queen();
    const stdout: string[] = [];
    const stderr: string[] = [];
    const io: CommandIo = { out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), nowMs: () => q.clock.wallNow() };
    let code = -1;
    const root = new Command('hive-registry').exitOverride();
    addOperatorCommands(root, {}, io, (c) => (code = c));
    await root.parseAsync([...args, '--queen', q.address], { from: 'user' });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  };
}
