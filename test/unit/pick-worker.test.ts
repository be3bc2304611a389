import type { Health, Worker, WorkerStatus } from '../../src/common/worker';
import { ABSENT_GPU_PERCENT, pickWorker, type Pick, type ScheduledWorker } from '../../src/scheduler/pick-worker';
import { makeEntry, makeWorker } from '../helpers/domain-builders';
import { seededRandom } from '../helpers/seeded-random';

const MODEL = 'org/model';
const OTHER_MODEL = 'org/other';

/**
 * A candidate: `workerId` on `hiveId`, idle, healthy, online, no model, no gpuPercent, nothing reserved, not
 * excluded, no labels, unless overridden.
 */
function cand(
  hiveId: string,
  workerId: string,
  overrides: Partial<Worker> = {},
  hiveOnline = true,
  scheduling: Partial<Omit<ScheduledWorker, 'hiveId' | 'worker' | 'hiveOnline'>> = {},
): ScheduledWorker {
  return {
    ...makeEntry(hiveId, makeWorker(workerId, overrides), hiveOnline),
    reserved: 0,
    excluded: false,
    cordoned: false,
    labels: {},
    lastPicked: 0,
    ...scheduling,
  };
}

/** What a pick is expected to be, by ids (entries are compared by identity below). */
type Expected =
  | { readonly picked: readonly [hiveId: string, workerId: string]; readonly modelLoaded: boolean }
  | { readonly kind: 'no_capacity'; readonly eligible: number; readonly busy: number }
  | { readonly kind: 'unavailable'; readonly eligible: number }
  | { readonly kind: 'no_vram_fit'; readonly askedBytes: number; readonly mostFreeBytes: number }
  | { readonly kind: 'no_selector_match' };

interface Case {
  readonly name: string;
  readonly candidates: readonly ScheduledWorker[];
  readonly expected: Expected;
}

function summary(pick: Pick): Expected {
  if (pick.kind === 'picked') {
    return { picked: [pick.entry.hiveId, pick.entry.worker.workerId], modelLoaded: pick.modelLoaded };
  }
  return pick;
}

/** Deterministic permutations (mulberry32-driven Fisher-Yates): no Math.random in tests. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const cases: Case[] = [
  // ---- model affinity and load ----
  {
    name: 'an idle worker with the model beats a less loaded one without it',
    candidates: [
      cand('h-a', 'w-free', { gpuPercent: 0, modelId: OTHER_MODEL }),
      cand('h-b', 'w-model', { gpuPercent: 90, modelId: MODEL }),
      cand('h-a', 'w-none', { gpuPercent: 0 }),
    ],
    expected: { picked: ['h-b', 'w-model'], modelLoaded: true },
  },
  {
    name: 'among workers with the model, the lowest gpuPercent wins',
    candidates: [
      cand('h-a', 'w1', { gpuPercent: 50, modelId: MODEL }),
      cand('h-b', 'w2', { gpuPercent: 20, modelId: MODEL }),
      cand('h-c', 'w3', { gpuPercent: 70, modelId: MODEL }),
    ],
    expected: { picked: ['h-b', 'w2'], modelLoaded: true },
  },
  {
    name: 'fractional loads compare exactly',
    candidates: [
      cand('h-a', 'w1', { gpuPercent: 12.75, modelId: MODEL }),
      cand('h-b', 'w2', { gpuPercent: 12.5, modelId: MODEL }),
    ],
    expected: { picked: ['h-b', 'w2'], modelLoaded: true },
  },
  {
    name: 'the model id must match exactly (case and suffix matter)',
    candidates: [
      cand('h-a', 'w-upper', { gpuPercent: 0, modelId: 'ORG/MODEL' }),
      cand('h-a', 'w-suffix', { gpuPercent: 0, modelId: `${MODEL}-2` }),
      cand('h-b', 'w-exact', { gpuPercent: 95, modelId: MODEL }),
    ],
    expected: { picked: ['h-b', 'w-exact'], modelLoaded: true },
  },
  // ---- routing v3: the load order ----
  {
    name: 'the engine\'s own queue outranks a lower GPU load: lowest (running + waiting) / max_concurrency wins',
    candidates: [
      cand('h-a', 'w-queued', { modelId: MODEL, gpuPercent: 0, maxConcurrency: 8, requestsRunning: 2, requestsWaiting: 3 }),
      cand('h-b', 'w-light', { modelId: MODEL, gpuPercent: 90, maxConcurrency: 8, requestsRunning: 3, requestsWaiting: 0 }),
    ],
    expected: { picked: ['h-b', 'w-light'], modelLoaded: true },
  },
  {
    name: 'loads are fractions of max_concurrency: 3 of 16 beats 1 of 4',
    candidates: [
      cand('h-a', 'w-small', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 1 }),
      cand('h-b', 'w-big', { modelId: MODEL, maxConcurrency: 16, requestsRunning: 3 }),
    ],
    expected: { picked: ['h-b', 'w-big'], modelLoaded: true },
  },
  {
    name: 'reservations and running requests are the same requests: the larger counts, never their sum',
    candidates: [
      // max(2, 2) = 2 of 4, against max(0, 3) = 3 of 4.
      cand('h-a', 'w-both', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 2 }, true, { reserved: 2 }),
      cand('h-b', 'w-running', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 3 }),
    ],
    expected: { picked: ['h-a', 'w-both'], modelLoaded: true },
  },
  {
    name: 'reservations above the running count are the load (the engine has not reported them yet)',
    candidates: [
      cand('h-a', 'w-reserved', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 0 }, true, { reserved: 3 }),
      cand('h-b', 'w-running', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 2 }),
    ],
    expected: { picked: ['h-b', 'w-running'], modelLoaded: true },
  },
  {
    name: 'a worker without counts has only its reservations: fewer reserved slots of equal max_concurrency win',
    candidates: [
      cand('h-a', 'w-two', { modelId: MODEL, maxConcurrency: 4, gpuPercent: 0 }, true, { reserved: 2 }),
      cand('h-b', 'w-one', { modelId: MODEL, maxConcurrency: 4, gpuPercent: 90 }, true, { reserved: 1 }),
    ],
    expected: { picked: ['h-b', 'w-one'], modelLoaded: true },
  },
  {
    name: 'at equal load, the lower KV cache use wins over a lower GPU load',
    candidates: [
      cand('h-a', 'w-kv-high', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 1, kvCacheUsage: 0.8, gpuPercent: 0 }),
      cand('h-b', 'w-kv-low', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 1, kvCacheUsage: 0.3, gpuPercent: 90 }),
    ],
    expected: { picked: ['h-b', 'w-kv-low'], modelLoaded: true },
  },
  {
    name: 'an absent KV cache use counts as 0',
    candidates: [
      cand('h-a', 'w-kv', { modelId: MODEL, kvCacheUsage: 0.01, gpuPercent: 0 }),
      cand('h-b', 'w-no-kv', { modelId: MODEL, gpuPercent: 50 }),
    ],
    expected: { picked: ['h-b', 'w-no-kv'], modelLoaded: true },
  },
  {
    name: 'at equal load and KV cache use, the lower GPU load wins',
    candidates: [
      cand('h-a', 'w-hot', { modelId: MODEL, maxConcurrency: 2, requestsRunning: 1, kvCacheUsage: 0.5, gpuPercent: 80 }),
      cand('h-b', 'w-cool', { modelId: MODEL, maxConcurrency: 2, requestsRunning: 1, kvCacheUsage: 0.5, gpuPercent: 20 }),
    ],
    expected: { picked: ['h-b', 'w-cool'], modelLoaded: true },
  },
  {
    name: 'an IDLE worker whose engine runs max_concurrency requests has no free slot',
    candidates: [
      cand('h-a', 'w-full', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 4, gpuPercent: 0 }),
      cand('h-b', 'w-other', { modelId: OTHER_MODEL, maxConcurrency: 4 }),
    ],
    expected: { picked: ['h-b', 'w-other'], modelLoaded: false },
  },
  {
    name: 'requests waiting in the engine weigh on the load but do not take a slot',
    candidates: [
      cand('h-a', 'w-waiting', { modelId: MODEL, maxConcurrency: 4, requestsRunning: 3, requestsWaiting: 9 }),
      cand('h-b', 'w-other', { modelId: OTHER_MODEL, maxConcurrency: 4 }),
    ],
    expected: { picked: ['h-a', 'w-waiting'], modelLoaded: true },
  },
  // ---- absent gpuPercent counts as 100 ----
  {
    name: 'absent gpuPercent loses to 99',
    candidates: [cand('h-a', 'w-absent', { modelId: MODEL }), cand('h-z', 'w-99', { gpuPercent: 99, modelId: MODEL })],
    expected: { picked: ['h-z', 'w-99'], modelLoaded: true },
  },
  {
    name: 'absent gpuPercent loses to 0',
    candidates: [cand('h-a', 'w-absent', { modelId: MODEL }), cand('h-z', 'w-0', { gpuPercent: 0, modelId: MODEL })],
    expected: { picked: ['h-z', 'w-0'], modelLoaded: true },
  },
  {
    name: 'absent ties with 100: lower hive id wins (present one on the lower hive)',
    candidates: [cand('h-b', 'w-absent', { modelId: MODEL }), cand('h-a', 'w-100', { gpuPercent: 100, modelId: MODEL })],
    expected: { picked: ['h-a', 'w-100'], modelLoaded: true },
  },
  {
    name: 'absent ties with 100: lower hive id wins (absent one on the lower hive)',
    candidates: [cand('h-a', 'w-absent', { modelId: MODEL }), cand('h-b', 'w-100', { gpuPercent: 100, modelId: MODEL })],
    expected: { picked: ['h-a', 'w-absent'], modelLoaded: true },
  },
  {
    name: 'absent ties with 100 on the same hive: lower worker id wins',
    candidates: [cand('h-a', 'w-2', { gpuPercent: 100, modelId: MODEL }), cand('h-a', 'w-1', { modelId: MODEL })],
    expected: { picked: ['h-a', 'w-1'], modelLoaded: true },
  },
  // ---- tie-breaks ----
  {
    name: 'equal load: hive id decides before worker id',
    candidates: [
      cand('h-b', 'w-a', { gpuPercent: 10, modelId: MODEL }),
      cand('h-a', 'w-z', { gpuPercent: 10, modelId: MODEL }),
    ],
    expected: { picked: ['h-a', 'w-z'], modelLoaded: true },
  },
  {
    name: 'equal load on one hive: lowest worker id',
    candidates: [
      cand('h-a', 'w-3', { gpuPercent: 10, modelId: MODEL }),
      cand('h-a', 'w-1', { gpuPercent: 10, modelId: MODEL }),
      cand('h-a', 'w-2', { gpuPercent: 10, modelId: MODEL }),
    ],
    expected: { picked: ['h-a', 'w-1'], modelLoaded: true },
  },
  {
    name: 'load decides before hive id',
    candidates: [
      cand('h-a', 'w-1', { gpuPercent: 11, modelId: MODEL }),
      cand('h-z', 'w-9', { gpuPercent: 10, modelId: MODEL }),
    ],
    expected: { picked: ['h-z', 'w-9'], modelLoaded: true },
  },
  // ---- fallback: no idle worker has the model ----
  {
    name: 'no idle worker has the model: the least loaded idle worker, modelLoaded false',
    candidates: [
      cand('h-a', 'w-model-busy', { state: 'busy', gpuPercent: 0, modelId: MODEL }),
      cand('h-a', 'w-other', { gpuPercent: 40, modelId: OTHER_MODEL }),
      cand('h-b', 'w-empty', { gpuPercent: 30 }),
      cand('h-c', 'w-absent', {}),
    ],
    expected: { picked: ['h-b', 'w-empty'], modelLoaded: false },
  },
  {
    name: 'fallback ties break on hive id then worker id',
    candidates: [
      cand('h-b', 'w-1', { gpuPercent: 5 }),
      cand('h-a', 'w-2', { gpuPercent: 5, modelId: OTHER_MODEL }),
      cand('h-a', 'w-3', { gpuPercent: 5 }),
    ],
    expected: { picked: ['h-a', 'w-2'], modelLoaded: false },
  },
  {
    name: 'fallback with every load absent: lowest hive id, then worker id',
    candidates: [cand('h-b', 'w-0'), cand('h-a', 'w-9'), cand('h-a', 'w-5')],
    expected: { picked: ['h-a', 'w-5'], modelLoaded: false },
  },
  // ---- eligibility: hive liveness and health ----
  {
    name: 'a worker on an offline hive is never picked, however good',
    candidates: [
      cand('h-a', 'w-offline', { gpuPercent: 0, modelId: MODEL }, false),
      cand('h-b', 'w-online', { gpuPercent: 90, modelId: MODEL }),
    ],
    expected: { picked: ['h-b', 'w-online'], modelLoaded: true },
  },
  {
    name: 'an offline model holder does not stop the fallback',
    candidates: [
      cand('h-a', 'w-offline', { gpuPercent: 0, modelId: MODEL }, false),
      cand('h-b', 'w-online', { gpuPercent: 90 }),
    ],
    expected: { picked: ['h-b', 'w-online'], modelLoaded: false },
  },
  {
    name: 'a DEGRADED worker is never picked, however good',
    candidates: [
      cand('h-a', 'w-degraded', { gpuPercent: 0, modelId: MODEL, health: 'degraded' }),
      cand('h-b', 'w-healthy', { gpuPercent: 90, modelId: MODEL }),
    ],
    expected: { picked: ['h-b', 'w-healthy'], modelLoaded: true },
  },
  {
    name: 'a DEGRADED model holder does not stop the fallback',
    candidates: [
      cand('h-a', 'w-degraded', { gpuPercent: 0, modelId: MODEL, health: 'degraded' }),
      cand('h-b', 'w-healthy', { gpuPercent: 90 }),
    ],
    expected: { picked: ['h-b', 'w-healthy'], modelLoaded: false },
  },
  {
    name: 'unspecified health counts as healthy',
    candidates: [
      cand('h-b', 'w-unspecified', { gpuPercent: 10, modelId: MODEL, health: 'unspecified' }),
      cand('h-a', 'w-healthy', { gpuPercent: 20, modelId: MODEL, health: 'healthy' }),
    ],
    expected: { picked: ['h-b', 'w-unspecified'], modelLoaded: true },
  },
  // ---- worker state ----
  {
    name: 'only IDLE workers are picked: busy, loading, unspecified, error and stopping are skipped',
    candidates: [
      ...(['busy', 'loading', 'unspecified', 'error', 'stopping'] as const).map((state) =>
        cand('h-a', `w-${state}`, { state, gpuPercent: 0, modelId: MODEL }),
      ),
      cand('h-z', 'w-idle', { gpuPercent: 99, modelId: MODEL }),
    ],
    expected: { picked: ['h-z', 'w-idle'], modelLoaded: true },
  },
  {
    name: 'only a non-idle worker has the model: fallback to an idle one',
    candidates: [
      cand('h-a', 'w-loading', { state: 'loading', gpuPercent: 0, modelId: MODEL }),
      cand('h-b', 'w-idle', { gpuPercent: 99 }),
    ],
    expected: { picked: ['h-b', 'w-idle'], modelLoaded: false },
  },
  // ---- no idle eligible worker ----
  {
    name: 'no candidates at all: unavailable',
    candidates: [],
    expected: { kind: 'unavailable', eligible: 0 },
  },
  {
    name: 'one busy eligible worker: no_capacity',
    candidates: [cand('h-a', 'w1', { state: 'busy', modelId: MODEL })],
    expected: { kind: 'no_capacity', eligible: 1, busy: 1 },
  },
  {
    name: 'one loading eligible worker: no_capacity',
    candidates: [cand('h-a', 'w1', { state: 'loading' })],
    expected: { kind: 'no_capacity', eligible: 1, busy: 1 },
  },
  {
    name: 'busy and loading plus error, stopping and unspecified: no_capacity counting only busy and loading as busy',
    candidates: [
      cand('h-a', 'w-busy', { state: 'busy' }),
      cand('h-a', 'w-loading', { state: 'loading' }),
      cand('h-b', 'w-error', { state: 'error' }),
      cand('h-b', 'w-stopping', { state: 'stopping' }),
      cand('h-c', 'w-unspecified', { state: 'unspecified' }),
    ],
    expected: { kind: 'no_capacity', eligible: 5, busy: 2 },
  },
  {
    name: 'busy ones on offline hives or degraded do not count: no_capacity with the eligible busy one only',
    candidates: [
      cand('h-a', 'w-busy', { state: 'busy' }),
      cand('h-b', 'w-busy-offline', { state: 'busy' }, false),
      cand('h-c', 'w-busy-degraded', { state: 'busy', health: 'degraded' }),
      cand('h-d', 'w-idle-offline', {}, false),
    ],
    expected: { kind: 'no_capacity', eligible: 1, busy: 1 },
  },
  {
    name: 'only error, stopping and unspecified workers: unavailable',
    candidates: [
      cand('h-a', 'w-error', { state: 'error', modelId: MODEL }),
      cand('h-a', 'w-stopping', { state: 'stopping' }),
      cand('h-b', 'w-unspecified', { state: 'unspecified' }),
    ],
    expected: { kind: 'unavailable', eligible: 3 },
  },
  {
    name: 'only busy workers on offline hives: unavailable',
    candidates: [cand('h-a', 'w1', { state: 'busy' }, false), cand('h-b', 'w2', { state: 'loading' }, false)],
    expected: { kind: 'unavailable', eligible: 0 },
  },
  {
    name: 'only degraded busy workers: unavailable',
    candidates: [cand('h-a', 'w1', { state: 'busy', health: 'degraded' })],
    expected: { kind: 'unavailable', eligible: 0 },
  },
  {
    name: 'only degraded or offline idle workers: unavailable',
    candidates: [
      cand('h-a', 'w-degraded', { modelId: MODEL, gpuPercent: 0, health: 'degraded' }),
      cand('h-b', 'w-offline', { modelId: MODEL, gpuPercent: 0 }, false),
      cand('h-c', 'w-both', { modelId: MODEL, gpuPercent: 0, health: 'degraded' }, false),
    ],
    expected: { kind: 'unavailable', eligible: 0 },
  },
];

describe('pickWorker', () => {
  test('counts an absent gpuPercent as 100', () => {
    expect(ABSENT_GPU_PERCENT).toBe(100);
  });

  test.each(cases)('$name', ({ candidates, expected }) => {
    const pick = pickWorker(candidates, { modelId: MODEL });
    expect(summary(pick)).toEqual(expected);
    if (pick.kind === 'picked') {
      // The worker handed back is one of the candidates', untouched.
      expect(candidates.map((c) => c.worker)).toContain(pick.entry.worker);
    }
  });

  test.each(cases.filter((c) => c.candidates.length > 1))(
    'does not depend on input order: $name',
    ({ candidates, expected }) => {
      for (let seed = 1; seed <= 25; seed++) {
        expect(summary(pickWorker(shuffled(candidates, seed), { modelId: MODEL }))).toEqual(expected);
      }
      expect(summary(pickWorker([...candidates].reverse(), { modelId: MODEL }))).toEqual(expected);
    },
  );

  test('reads its candidates from any iterable, in a single pass', () => {
    let passes = 0;
    const candidates = [
      cand('h-a', 'w1', { gpuPercent: 30, modelId: MODEL }),
      cand('h-a', 'w2', { gpuPercent: 10, modelId: MODEL }),
    ];
    const once: Iterable<ScheduledWorker> = {
      *[Symbol.iterator]() {
        passes++;
        yield* candidates;
      },
    };
    expect(summary(pickWorker(once, { modelId: MODEL }))).toEqual({ picked: ['h-a', 'w2'], modelLoaded: true });
    expect(passes).toBe(1);
  });

  test.each<[Health, WorkerStatus, boolean, Pick['kind']]>([
    ['healthy', 'idle', true, 'picked'],
    ['unspecified', 'idle', true, 'picked'],
    ['degraded', 'idle', true, 'unavailable'],
    ['healthy', 'idle', false, 'unavailable'],
    ['healthy', 'busy', true, 'no_capacity'],
    ['healthy', 'loading', true, 'no_capacity'],
    ['unspecified', 'busy', true, 'no_capacity'],
    ['healthy', 'unspecified', true, 'unavailable'],
    ['healthy', 'error', true, 'unavailable'],
    ['healthy', 'stopping', true, 'unavailable'],
    ['degraded', 'busy', true, 'unavailable'],
    ['healthy', 'busy', false, 'unavailable'],
  ])('a lone worker with health %s, state %s, hive online %s: %s', (health, state, online, kind) => {
    expect(pickWorker([cand('h-a', 'w1', { health, state, modelId: MODEL }, online)], { modelId: MODEL }).kind).toBe(kind);
  });
});

describe('loadedOnly (the gateway: never the fallback)', () => {
  test('a worker with the model wins as usual; without one, no fallback: busy capacity or nothing', () => {
    const withModel = [cand('h1', 'idle-other', { modelId: OTHER_MODEL }), cand('h1', 'loaded', { modelId: MODEL })];
    expect(pickWorker(withModel, { modelId: MODEL, loadedOnly: true })).toMatchObject({ kind: 'picked', modelLoaded: true });
    const busyOnly = [cand('h1', 'idle-other', { modelId: OTHER_MODEL }), cand('h1', 'busy', { modelId: MODEL, state: 'busy' })];
    expect(pickWorker(busyOnly, { modelId: MODEL })).toMatchObject({ kind: 'picked', modelLoaded: false });
    expect(pickWorker(busyOnly, { modelId: MODEL, loadedOnly: true })).toEqual({ kind: 'no_capacity', eligible: 2, busy: 1 });
    const idleOther = [cand('h1', 'idle-other', { modelId: OTHER_MODEL })];
    expect(pickWorker(idleOther, { modelId: MODEL, loadedOnly: true, minVramBytes: 1 })).toEqual({ kind: 'unavailable', eligible: 1 });
  });
});
