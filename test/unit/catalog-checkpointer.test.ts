import pino, { type Logger } from 'pino';
import { Checkpointer, type CheckpointerOptions, type Timers } from '../../src/catalog/checkpointer';
import { DomainError } from '../../src/common/domain-error';

const INTERVAL_MS = 1_000;
const MAX_BACKOFF_MS = 10_000;
const OPTIONS: CheckpointerOptions = { intervalMs: INTERVAL_MS, maxBackoffMs: MAX_BACKOFF_MS };

/** Lets promises already settled run their callbacks (the fake flushes never wait for anything else). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Timers that only record: the test runs the scheduled callbacks by hand. */
class FakeTimers implements Timers {
  private nextHandle = 1;
  private readonly pending = new Map<number, { callback: () => void; ms: number }>();
  /** Every delay ever scheduled, in order. */
  readonly delays: number[] = [];
  readonly cleared: unknown[] = [];

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle;
    this.nextHandle += 1;
    this.pending.set(handle, { callback, ms });
    this.delays.push(ms);
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.cleared.push(handle);
    this.pending.delete(handle as number);
  }

  /** Delays of the callbacks scheduled and not yet run or cleared. */
  get pendingDelays(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }

  /** Removes the only pending callback and returns it, without running it. */
  take(): () => void {
    expect(this.pending.size).toBe(1);
    const [handle, entry] = [...this.pending.entries()][0] ?? [];
    if (handle === undefined || entry === undefined) throw new Error('nothing scheduled');
    this.pending.delete(handle);
    return entry.callback;
  }

  /**
   * Runs the only pending callback (as if its delay had passed), lets the flush it starts settle, and returns the
   * delay it had.
   */
  async runNext(): Promise<number> {
    const ms = this.pendingDelays[0];
    this.take()();
    await settle();
    return ms ?? NaN;
  }
}

/** A flush function that counts its calls and fails while `failing` is true. */
class FakeFlush {
  calls = 0;
  failing = false;
  written = 0;
  readonly flush = async (): Promise<number> => {
    this.calls += 1;
    if (this.failing) throw new DomainError('unavailable', 'catalog: the write failed and changed nothing (SQLITE_BUSY: database is locked); retry');
    return this.written;
  };
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

const LEVEL = { debug: 20, info: 30, error: 50 } as const;

/** A pino logger writing JSON lines into an array. */
function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

function setup(options: CheckpointerOptions = OPTIONS): {
  checkpointer: Checkpointer;
  timers: FakeTimers;
  flush: FakeFlush;
  lines: LogLine[];
} {
  const timers = new FakeTimers();
  const flush = new FakeFlush();
  const { logger, lines } = capturingLogger();
  return { checkpointer: new Checkpointer(flush.flush, options, logger, timers), timers, flush, lines };
}

describe('Checkpointer options', () => {
  test.each<[string, CheckpointerOptions, string]>([
    ['intervalMs 0', { intervalMs: 0, maxBackoffMs: 1_000 }, 'intervalMs must be positive'],
    ['a negative intervalMs', { intervalMs: -5, maxBackoffMs: 1_000 }, 'intervalMs must be positive'],
    ['intervalMs NaN', { intervalMs: NaN, maxBackoffMs: 1_000 }, 'intervalMs must be positive'],
    ['maxBackoffMs below intervalMs', { intervalMs: 1_000, maxBackoffMs: 999 }, 'maxBackoffMs must be at least intervalMs'],
    ['maxBackoffMs NaN', { intervalMs: 1_000, maxBackoffMs: NaN }, 'maxBackoffMs must be at least intervalMs'],
  ])('refuses %s with a RangeError', (_name, options, message) => {
    const timers = new FakeTimers();
    expect(() => new Checkpointer(async () => 0, options, pino({ level: 'silent' }), timers)).toThrow(new RangeError(message));
    expect(timers.delays).toEqual([]);
  });

  test('accepts maxBackoffMs equal to intervalMs', () => {
    const { checkpointer } = setup({ intervalMs: 500, maxBackoffMs: 500 });
    expect(checkpointer.delayAfter(3)).toBe(500);
  });
});

describe('Checkpointer.delayAfter', () => {
  test.each<[number, number]>([
    [0, 1_000],
    [1, 2_000],
    [2, 4_000],
    [3, 8_000],
    [4, 16_000],
    [5, 30_000],
    [6, 30_000],
    [30, 30_000],
    [1_000, 30_000],
  ])('after %i failures in a row waits %i ms (interval 1000, cap 30000)', (failures, expected) => {
    const { checkpointer } = setup({ intervalMs: 1_000, maxBackoffMs: 30_000 });
    expect(checkpointer.delayAfter(failures)).toBe(expected);
  });
});

describe('Checkpointer schedule', () => {
  test('start schedules one flush after intervalMs, and does not flush yet', () => {
    const { checkpointer, timers, flush } = setup();
    checkpointer.start();
    expect(timers.pendingDelays).toEqual([INTERVAL_MS]);
    expect(flush.calls).toBe(0);
  });

  test('a second start schedules nothing more', () => {
    const { checkpointer, timers } = setup();
    checkpointer.start();
    checkpointer.start();
    expect(timers.delays).toEqual([INTERVAL_MS]);
  });

  test('each run flushes once and schedules the next one after intervalMs: N runs, N flushes', async () => {
    const { checkpointer, timers, flush } = setup();
    checkpointer.start();
    for (let run = 1; run <= 5; run += 1) {
      expect(await timers.runNext()).toBe(INTERVAL_MS);
      expect(flush.calls).toBe(run);
      expect(timers.pendingDelays).toEqual([INTERVAL_MS]);
    }
    expect(timers.delays).toEqual(Array<number>(6).fill(INTERVAL_MS));
    expect(checkpointer.consecutiveFailures).toBe(0);
  });

  test('a flush that wrote something is logged at debug with the count; one that wrote nothing is not logged', async () => {
    const { checkpointer, timers, flush, lines } = setup();
    checkpointer.start();
    await timers.runNext();
    expect(lines).toEqual([]);
    flush.written = 42;
    await timers.runNext();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: LEVEL.debug, msg: 'catalog checkpoint', written: 42, kind: 'periodic' });
  });
});

describe('Checkpointer failures', () => {
  test('each failure in a row doubles the wait up to maxBackoffMs, counts, and logs an error; a success resets and logs recovery', async () => {
    const { checkpointer, timers, flush, lines } = setup();
    checkpointer.start();
    flush.failing = true;

    const waits: number[] = [];
    const failures: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      await timers.runNext(); // a throwing flush must not escape the timer callback
      failures.push(checkpointer.consecutiveFailures);
      waits.push(timers.pendingDelays[0] ?? NaN);
    }
    expect(failures).toEqual([1, 2, 3, 4, 5, 6]);
    expect(waits).toEqual([2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
    expect(flush.calls).toBe(6);

    const errors = lines.filter((l) => l.level === LEVEL.error);
    expect(errors.map((l) => [l['failures'], l['retryInMs']])).toEqual([
      [1, 2_000],
      [2, 4_000],
      [3, 8_000],
      [4, 10_000],
      [5, 10_000],
      [6, 10_000],
    ]);
    expect(errors[0]?.msg).toBe('catalog checkpoint failed; heartbeats and lookups go on from memory, retrying');
    expect(errors[0]?.['err']).toContain('SQLITE_BUSY');

    flush.failing = false;
    flush.written = 3;
    await timers.runNext();
    expect(checkpointer.consecutiveFailures).toBe(0);
    expect(timers.pendingDelays).toEqual([INTERVAL_MS]);
    const recovered = lines.filter((l) => l.level === LEVEL.info);
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ msg: 'catalog checkpoint recovered', failuresBefore: 6, written: 3 });

    // Back to normal: the next failure starts again from interval * 2.
    flush.failing = true;
    await timers.runNext();
    expect(checkpointer.consecutiveFailures).toBe(1);
    expect(timers.pendingDelays).toEqual([2_000]);
  });

  test('a thrown non-Error is logged by its text', async () => {
    const timers = new FakeTimers();
    const { logger, lines } = capturingLogger();
    const checkpointer = new Checkpointer(
      () => {
        // A string, not an Error: the case under test.
        throw 'disk on fire';
      },
      OPTIONS,
      logger,
      timers,
    );
    checkpointer.start();
    await timers.runNext();
    expect(lines.map((l) => [l.level, l['err'], l['failures']])).toEqual([[LEVEL.error, 'disk on fire', 1]]);
    expect(timers.pendingDelays).toEqual([2_000]);
  });
});

describe('Checkpointer.stop', () => {
  test('cancels the pending timer, flushes once more and returns true', async () => {
    const { checkpointer, timers, flush } = setup();
    checkpointer.start();
    await timers.runNext();
    expect(flush.calls).toBe(1);

    expect(await checkpointer.stop()).toBe(true);
    expect(flush.calls).toBe(2);
    expect(timers.pendingDelays).toEqual([]);
    expect(timers.cleared).toHaveLength(1);
  });

  test('is idempotent: a second stop flushes nothing more', async () => {
    const { checkpointer, timers, flush } = setup();
    checkpointer.start();
    expect(await checkpointer.stop()).toBe(true);
    expect(await checkpointer.stop()).toBe(true);
    expect(flush.calls).toBe(1);
    expect(timers.cleared).toHaveLength(1);
  });

  test('returns false when the final flush fails, and logs it as an error', async () => {
    const { checkpointer, flush, lines } = setup();
    checkpointer.start();
    flush.failing = true;
    expect(await checkpointer.stop()).toBe(false);
    expect(flush.calls).toBe(1);
    expect(checkpointer.consecutiveFailures).toBe(1);
    expect(lines.map((l) => [l.level, l.msg, l['failures']])).toEqual([
      [LEVEL.error, 'final catalog checkpoint failed: the last heartbeat times are lost', 1],
    ]);
  });

  test('a final flush that succeeds after failures resets the count and logs recovery', async () => {
    const { checkpointer, timers, flush, lines } = setup();
    checkpointer.start();
    flush.failing = true;
    await timers.runNext();
    await timers.runNext();
    flush.failing = false;
    expect(await checkpointer.stop()).toBe(true);
    expect(checkpointer.consecutiveFailures).toBe(0);
    expect(lines.filter((l) => l.level === LEVEL.info).map((l) => l['failuresBefore'])).toEqual([2]);
  });

  test('without start, flushes once and schedules nothing', async () => {
    const { checkpointer, timers, flush } = setup();
    expect(await checkpointer.stop()).toBe(true);
    expect(flush.calls).toBe(1);
    expect(timers.delays).toEqual([]);
  });

  test('start after stop schedules nothing', async () => {
    const { checkpointer, timers, flush } = setup();
    checkpointer.start();
    await checkpointer.stop();
    checkpointer.start();
    expect(timers.pendingDelays).toEqual([]);
    expect(timers.delays).toEqual([INTERVAL_MS]);
    expect(flush.calls).toBe(1);
  });

  test('a timer callback that fires after stop (already dequeued) neither flushes nor reschedules', async () => {
    const { checkpointer, timers, flush } = setup();
    checkpointer.start();
    const late = timers.take();
    await checkpointer.stop();
    expect(flush.calls).toBe(1);
    late();
    expect(flush.calls).toBe(1);
    expect(timers.pendingDelays).toEqual([]);
    expect(timers.delays).toEqual([INTERVAL_MS]);
  });
  test('stop while a periodic flush is in flight waits for it, then flushes once more: two flushes never overlap', async () => {
    const timers = new FakeTimers();
    let running = 0;
    let overlapped = false;
    const releases: (() => void)[] = [];
    const flush = (): Promise<number> => {
      running += 1;
      if (running > 1) overlapped = true;
      return new Promise((resolve) =>
        releases.push(() => {
          running -= 1;
          resolve(1);
        }),
      );
    };
    const checkpointer = new Checkpointer(flush, OPTIONS, pino({ level: 'silent' }), timers);
    checkpointer.start();
    timers.take()();
    expect(releases).toHaveLength(1);
    const stopped = checkpointer.stop();
    await settle();
    expect(releases).toHaveLength(1); // the final flush waits for the one in flight
    releases[0]?.();
    await settle();
    expect(releases).toHaveLength(2);
    releases[1]?.();
    expect(await stopped).toBe(true);
    expect(overlapped).toBe(false);
    expect(timers.pendingDelays).toEqual([]);
  });
});

describe('Checkpointer with the default (node) timers', () => {
  test('start then stop leaves nothing scheduled and flushes once', async () => {
    let calls = 0;
    const checkpointer = new Checkpointer(
      async () => {
        calls += 1;
        return 0;
      },
      { intervalMs: 60_000, maxBackoffMs: 60_000 },
      pino({ level: 'silent' }),
    );
    checkpointer.start();
    expect(await checkpointer.stop()).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('Checkpointer observer', () => {
  test('is told of every flush that wrote something (with its count and a duration) and of every failure', async () => {
    const seen: string[] = [];
    const durations: number[] = [];
    const { checkpointer, timers, flush } = setup({
      ...OPTIONS,
      observer: {
        flushed: (durationMs, written) => {
          durations.push(durationMs);
          seen.push(`flushed ${written}`);
        },
        failed: () => seen.push('failed'),
      },
    });
    checkpointer.start();
    await timers.runNext(); // nothing pending: not an observation
    flush.written = 7;
    await timers.runNext();
    flush.failing = true;
    await timers.runNext();
    await timers.runNext();
    flush.failing = false;
    flush.written = 2;
    expect(await checkpointer.stop()).toBe(true);
    expect(seen).toEqual(['flushed 7', 'failed', 'failed', 'flushed 2']);
    expect(durations.every((ms) => ms >= 0 && Number.isFinite(ms))).toBe(true);
  });
});
