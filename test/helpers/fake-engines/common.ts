import type { EngineKind } from '../../../src/agent/engines/engine';

/** Shared pieces of the fake engines: their state, answers, and the Prometheus text they write. */

export interface FakeEngineOptions {
  /** The served model (Ollama: none loaded unless `models` says so). */
  readonly model?: string;
  /** What the engine reports as its version (llama.cpp: its build_info). */
  readonly version?: string;
  /** vLLM max_model_len, llama.cpp n_ctx, TGI max_total_tokens, SGLang max_context_length (absent unless set). */
  readonly contextLength?: number;
  /** llama.cpp total_slots (default 4), SGLang max_running_requests (default null), TGI max_concurrent_requests (128). */
  readonly maxConcurrency?: number;
  /** vLLM: LoRA adapters served beside the model, listed with `parent` after it (before it with `lorasFirst`). */
  readonly loras?: readonly string[];
  readonly lorasFirst?: boolean;
  /** vLLM: engine cores, one `engine` label value each (default 1). */
  readonly engineCores?: number;
  /** vLLM: name the KV gauge vllm:gpu_cache_usage_perc, as versions before the rename did. */
  readonly oldKvName?: boolean;
  /** llama.cpp: started with --metrics (default true); without, /metrics answers 501. */
  readonly metrics?: boolean;
  /** Ollama: models loaded at start. */
  readonly models?: readonly string[];
}

/** Load figures as the engine will report them. vLLM takes one value per engine core, or a total to split. */
export interface FakeLoad {
  readonly running?: number | readonly number[];
  readonly waiting?: number | readonly number[];
  readonly kvCacheUsage?: number | readonly number[];
}

export interface OllamaModel {
  readonly sizeVram: number;
  readonly contextLength?: number;
}

/** What a fake engine's routes read. Mutated by FakeEngine's control methods. */
export interface FakeState {
  readonly kind: EngineKind;
  readonly options: FakeEngineOptions;
  readonly model: string;
  readonly version: string;
  /** One value per series (vLLM engine core; one series elsewhere). */
  running: number[];
  waiting: number[];
  kvCacheUsage: number[];
  loading: boolean;
  healthStatus: number;
  readonly ollamaModels: Map<string, OllamaModel>;
}

/** One answer: status, body and its type. */
export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

export function json(value: unknown, status = 200): Answer {
  return { status, body: JSON.stringify(value), contentType: 'application/json' };
}

export function text(body: string, status = 200, contentType = 'text/plain; charset=utf-8'): Answer {
  return { status, body, contentType };
}

export const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A GET route table: path -> answer, or undefined for "not mine" (404). */
export type Routes = (state: FakeState, path: string) => Answer | undefined;

/** One series of a family. */
export interface Series {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A metric family in the text format. `pythonFloats`: write 2 as "2.0", as Python's prometheus_client does
 * (vLLM, SGLang); engines in C++ and Rust write "2".
 */
export function family(name: string, type: string, help: string | undefined, series: readonly Series[], pythonFloats = false): string {
  const lines = [...(help === undefined ? [] : [`# HELP ${name} ${help}`]), `# TYPE ${name} ${type}`];
  for (const s of series) lines.push(`${name}${labelText(s.labels)} ${valueText(s.value, pythonFloats)}`);
  return `${lines.join('\n')}\n`;
}

function labelText(labels: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
}

function valueText(value: number, pythonFloats: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return pythonFloats && Number.isInteger(value) ? value.toFixed(1) : String(value);
}

/** A small histogram (one series), so the parser sees buckets with `le="+Inf"`, _count and _sum. */
export function histogram(name: string, labels: Readonly<Record<string, string>>, pythonFloats = false): string {
  const value = (n: number): string => valueText(n, pythonFloats);
  const lines = [`# HELP ${name} Latency.`, `# TYPE ${name} histogram`];
  ['0.1', '1.0', '+Inf'].forEach((le, i) => lines.push(`${name}_bucket${labelText({ ...labels, le })} ${value(i + 1)}`));
  lines.push(`${name}_count${labelText(labels)} ${value(3)}`, `${name}_sum${labelText(labels)} ${value(1.25)}`);
  return `${lines.join('\n')}\n`;
}

/** The sum of one figure's series (what a single-series engine reports). */
export function total(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0);
}

/** The OpenAI-style 404 most Python engines give. */
export const NOT_FOUND: Answer = json({ detail: 'Not Found' }, 404);
