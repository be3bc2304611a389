import { attempt, failureNote, isCount, type Notes } from './engine-answers.js';
import type { EngineHttp, EngineKind } from './engine.js';
import { parsePrometheusText, PrometheusParseError, type PrometheusSample } from './prometheus-text.js';

/**
 * Which Prometheus families mean what, per engine: the engines differ here only in names, so one table and one
 * extraction path serve them all (the way llm-d's inference scheduler reads engines). Each figure lists names
 * in order of preference: the first family present in the answer is read (vLLM renamed its KV gauge).
 */
export interface LoadMetricNames {
  /** Requests running now: a count, summed over the family's series (vLLM's `engine` cores, DP ranks, ...). */
  readonly running: readonly string[];
  /** Requests queued inside the engine: a count, summed likewise. */
  readonly waiting: readonly string[];
  /** Fraction 0-1 of the KV cache in use: the mean over the family's series. */
  readonly kvCacheUsage: readonly string[];
}

/** The table. Ollama serves no Prometheus endpoint. */
export const LOAD_METRICS: Readonly<Record<EngineKind, LoadMetricNames | undefined>> = {
  vllm: {
    running: ['vllm:num_requests_running'],
    waiting: ['vllm:num_requests_waiting'],
    kvCacheUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  },
  'llama.cpp': { running: ['llamacpp:requests_processing'], waiting: ['llamacpp:requests_deferred'], kvCacheUsage: [] },
  ollama: undefined,
  sglang: { running: ['sglang:num_running_reqs'], waiting: ['sglang:num_queue_reqs'], kvCacheUsage: ['sglang:token_usage'] },
  tgi: { running: ['tgi_batch_current_size'], waiting: ['tgi_queue_size'], kvCacheUsage: [] },
};

/** What an engine's load figures are; absent = not read. */
export interface LoadFigures {
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
  readonly kvCacheUsage?: number;
}

export type LoadReading =
  | { readonly available: true; readonly figures: LoadFigures }
  /** `/metrics` gave no usable answer (llama.cpp without `--metrics` answers 501); `why` is for the note. */
  | { readonly available: false; readonly why: string };

const METRICS_PATH = '/metrics';

/**
 * GETs `/metrics` and reads the figures `names` lists. Never rejects: an engine whose metrics fail (an error
 * status, text that does not parse, a timeout) is still polled, without load figures. A figure whose samples do
 * not pass their check (a negative or fractional count, a KV fraction outside 0-1, NaN) is left out, with a note.
 */
export async function readLoadMetrics(http: EngineHttp, names: LoadMetricNames, notes: Notes): Promise<LoadReading> {
  const result = await attempt(http, METRICS_PATH);
  if (!result.ok) return { available: false, why: failureNote(METRICS_PATH, result.error) };
  if (result.response.status !== 200) return { available: false, why: `GET ${METRICS_PATH}: ${result.response.status}` };
  let samples: PrometheusSample[];
  try {
    samples = parsePrometheusText(result.response.body);
  } catch (error) {
    if (!(error instanceof PrometheusParseError)) throw error;
    return { available: false, why: `GET ${METRICS_PATH}: ${error.message}` };
  }
  const requestsRunning = countOf(samples, names.running, notes);
  const requestsWaiting = countOf(samples, names.waiting, notes);
  const kvCacheUsage = fractionOf(samples, names.kvCacheUsage, notes);
  return {
    available: true,
    figures: {
      ...(requestsRunning === undefined ? {} : { requestsRunning }),
      ...(requestsWaiting === undefined ? {} : { requestsWaiting }),
      ...(kvCacheUsage === undefined ? {} : { kvCacheUsage }),
    },
  };
}

/** The values of the first family of `names` present, with its name; undefined when none is. */
function firstFamily(samples: readonly PrometheusSample[], names: readonly string[]): { name: string; values: number[] } | undefined {
  for (const name of names) {
    const values = samples.filter((s) => s.name === name).map((s) => s.value);
    if (values.length > 0) return { name, values };
  }
  return undefined;
}

/** The sum of a count family's series. Gauges are floats on the wire ("2.0"): an integer value is a count. */
function countOf(samples: readonly PrometheusSample[], names: readonly string[], notes: Notes): number | undefined {
  const family = firstFamily(samples, names);
  if (family === undefined) return undefined;
  const bad = family.values.find((v) => !isCount(v));
  if (bad !== undefined) {
    notes.add(`${family.name}: ${bad} is not a count`);
    return undefined;
  }
  return family.values.reduce((sum, v) => sum + v, 0);
}

/** The mean of a fraction family's series; each must be within 0-1. */
function fractionOf(samples: readonly PrometheusSample[], names: readonly string[], notes: Notes): number | undefined {
  const family = firstFamily(samples, names);
  if (family === undefined) return undefined;
  const bad = family.values.find((v) => !(v >= 0 && v <= 1));
  if (bad !== undefined) {
    notes.add(`${family.name}: ${bad} is outside 0-1`);
    return undefined;
  }
  return family.values.reduce((sum, v) => sum + v, 0) / family.values.length;
}
