import { createInterface } from 'node:readline';

/** How a benchmark child learns it should stop, and hears its parent's commands. */
export interface ChildLifecycle {
  /** True once SIGTERM arrived or stdin closed (the parent is gone or done). */
  readonly stopped: () => boolean;
  /** Calls `listener` with each command line from the parent. */
  readonly onCommand: (listener: (command: string) => void) => void;
}

/**
 * The life cycle every benchmark child shares: it exits with 3 after `maxLifetimeMs` whatever happens, stops on
 * SIGTERM or when its stdin closes, and reads commands from stdin, one a line.
 */
export function childLifecycle(name: string, maxLifetimeMs: number): ChildLifecycle {
  setTimeout(() => {
    process.stderr.write(`${name}: still running after ${maxLifetimeMs} ms, exiting\n`);
    process.exit(3);
  }, maxLifetimeMs).unref();
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.on('SIGTERM', stop);
  const commands = createInterface({ input: process.stdin });
  commands.on('close', stop);
  return {
    stopped: () => stopped,
    onCommand: (listener) => {
      commands.on('line', listener);
    },
  };
}
