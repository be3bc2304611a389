import type { Parameters } from 'fast-check';

/**
 * fast-check parameters for one property: `numRuns` as the test chose it, so the whole property suite stays within
 * its CI budget. The seed is random on every run (more inputs explored over time) and printed with the
 * counterexample on failure; to replay one, set FC_SEED (and FC_PATH, both printed by fast-check). FC_NUM_RUNS
 * replaces every property's run count, for a longer local hunt.
 */
export function propertyParams<T>(numRuns: number, extra: Parameters<T> = {}): Parameters<T> {
  const params: Parameters<T> = { numRuns: envInteger('FC_NUM_RUNS') ?? numRuns, ...extra };
  const seed = envInteger('FC_SEED');
  if (seed !== undefined) params.seed = seed;
  const path = process.env['FC_PATH'];
  if (path !== undefined && path !== '') params.path = path;
  return params;
}

function envInteger(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name}: must be an integer, got ${JSON.stringify(raw)}`);
  return value;
}
