import { Backoff } from '../../src/common/backoff';
import { seededRandom } from '../helpers/seeded-random';

const AGENTS = 1_000;
const BUCKETS = 10;

/**
 * 1,000 agents, each with its own random source (as separate processes have), that all lost the queen at the same
 * moment and are at the same attempt: the one whose ceiling has reached the 10 s cap (attempt 6 with the
 * defaults), where a restarted queen finds most of a fleet that waited for it.
 */
function fleetDelaysAtCap(): { delays: number[]; ceilingMs: number } {
  const delays: number[] = [];
  let ceilingMs = 0;
  for (let agent = 0; agent < AGENTS; agent++) {
    const backoff = new Backoff({ rng: seededRandom(10_000 + agent) });
    while (backoff.ceilingMs(backoff.attempt) < 10_000) backoff.next();
    ceilingMs = backoff.ceilingMs(backoff.attempt);
    delays.push(backoff.next());
  }
  return { delays, ceilingMs };
}

function spreadOf(delays: readonly number[], ceilingMs: number) {
  const sorted = [...delays].sort((a, b) => a - b);
  const buckets = new Array<number>(BUCKETS).fill(0);
  const perMs = new Map<number, number>();
  for (const delay of delays) {
    const bucket = Math.floor((delay / ceilingMs) * BUCKETS);
    buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    perMs.set(delay, (perMs.get(delay) ?? 0) + 1);
  }
  return {
    min: sorted[0] ?? NaN,
    p50: sorted[Math.floor(sorted.length / 2)] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    buckets,
    mostInOneMs: Math.max(...perMs.values()),
  };
}

describe('Backoff', () => {
  it('doubles its ceiling from 250 ms up to the 10 s cap, and stays there', () => {
    const backoff = new Backoff({ rng: () => 0.999_999_999 });
    const ceilings: number[] = [];
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      ceilings.push(backoff.ceilingMs(backoff.attempt));
      delays.push(backoff.next());
    }
    expect(ceilings).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
    // rng() just below 1 gives the largest delay of each window: one below its (exclusive) ceiling.
    expect(delays).toEqual([249, 499, 999, 1_999, 3_999, 7_999, 9_999, 9_999, 9_999]);
  });

  it('draws each delay uniformly in [0, ceiling) from the injected rng (full jitter)', () => {
    const backoff = new Backoff({ rng: seededRandom(42) });
    const same = seededRandom(42);
    const expected = [250, 500, 1_000, 2_000, 4_000, 8_000, 10_000].map((ceiling) => Math.floor(same() * ceiling));
    expect([...expected.keys()].map(() => backoff.next())).toEqual(expected);
    expect(new Backoff({ rng: () => 0 }).next()).toBe(0);
  });

  it('honours base and cap options', () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 300, rng: () => 0.5 });
    expect([0, 1, 2, 3].map((attempt) => backoff.ceilingMs(attempt))).toEqual([100, 200, 300, 300]);
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([50, 100, 150, 150]);
  });

  it('goes back to the first window after reset()', () => {
    const backoff = new Backoff({ rng: () => 0.5 });
    for (let i = 0; i < 5; i++) backoff.next();
    expect(backoff.attempt).toBe(5);
    backoff.reset();
    expect({ attempt: backoff.attempt, delay: backoff.next() }).toEqual({ attempt: 0, delay: 125 });
  });

  it('stays at the cap after very many attempts (no overflow to NaN or Infinity)', () => {
    const backoff = new Backoff({ rng: () => 0.5 });
    for (let i = 0; i < 5_000; i++) backoff.next();
    expect({ ceiling: backoff.ceilingMs(5_000), delay: backoff.next() }).toEqual({ ceiling: 10_000, delay: 5_000 });
  });

  it('refuses a base that is not positive, or a cap below the base', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(/^baseMs: must be a positive number of ms, got 0$/);
    expect(() => new Backoff({ baseMs: 500, capMs: 100 })).toThrow(/^capMs: .* at least baseMs \(500\), got 100$/);
  });

  const { delays, ceilingMs } = fleetDelaysAtCap();
  const spread = spreadOf(delays, ceilingMs);
  it(
    `jitter spreads ${AGENTS} simulated agents' reconnects over the backoff window [0, ${ceilingMs}) ms: ` +
      `min ${spread.min}, p50 ${spread.p50}, max ${spread.max} ms; agents per tenth of the window ` +
      `[${spread.buckets.join(', ')}]; at most ${spread.mostInOneMs} in the same ms`,
    () => {
      expect(ceilingMs).toBe(10_000);
      expect(delays).toHaveLength(AGENTS);
      // Each tenth of the window gets 6-14% of the fleet (100 expected): no thundering herd at either end.
      for (const [bucket, count] of spread.buckets.entries()) {
        expect({ bucket, count, inRange: count >= 0.06 * AGENTS && count <= 0.14 * AGENTS }).toEqual({
          bucket,
          count,
          inRange: true,
        });
      }
      // The whole window is used (full jitter, not "equal jitter" that keeps the first half empty)...
      expect(spread.min).toBeLessThan(0.02 * ceilingMs);
      expect(spread.max).toBeGreaterThanOrEqual(0.98 * ceilingMs);
      expect(spread.max).toBeLessThan(ceilingMs);
      expect(Math.abs(spread.p50 - ceilingMs / 2)).toBeLessThan(0.05 * ceilingMs);
      // ...and no more than a handful of agents land in the same millisecond.
      expect(spread.mostInOneMs).toBeLessThanOrEqual(4);
    },
  );
});
