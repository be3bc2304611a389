// Bounded polling for tests that watch real processes converge: never a fixed sleep where a condition can be asked.

/** JSON for failure messages: bigints as strings. */
export function asJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until `accept` holds for its value, every `intervalMs`, for at most `timeoutMs`; resolves with the
 * value and how long it took. A probe that throws counts as not yet. The failure names `what` and the last value
 * (or error) seen, so a failing test says where things stood.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let last = 'nothing yet';
  for (;;) {
    try {
      const value = await probe();
      if (accept(value)) return { value, ms: Date.now() - started };
      last = asJson(value);
    } catch (error) {
      last = `error: ${(error as Error).message}`;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}`);
    await sleep(intervalMs);
  }
}

/** Checks that `probe` keeps satisfying `accept` for `forMs` (sampled every `intervalMs`); throws at the first miss. */
export async function holdsFor<T>(
  what: string,
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  forMs: number,
  intervalMs = 200,
): Promise<void> {
  const until = Date.now() + forMs;
  do {
    const value = await probe();
    if (!accept(value)) {
      throw new Error(`${what} stopped holding: ${asJson(value)}`);
    }
    await sleep(intervalMs);
  } while (Date.now() < until);
}
