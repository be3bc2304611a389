import { attempt, definedOnly, getOptionalJson, integerAt, isRecord, jsonOf, Notes, textAt, valueAt, type JsonPath } from './engine-answers.js';
import { HEALTH_RULES, isLoading, readHealth } from './engine-health.js';
import { EngineError, type EngineAdapter, type EngineHttp, type EngineKind, type EngineReading, type EngineWorkerReading } from './engine.js';
import { LOAD_METRICS, readLoadMetrics, type LoadFigures } from './load-metrics.js';

/** Where the figures of an answer are, as JSON paths within it (or within the model's entry of a list). */
export interface FigurePaths {
  readonly version?: JsonPath;
  readonly maxConcurrency?: JsonPath;
  readonly contextLength?: JsonPath;
}

/**
 * One engine that serves one model (vLLM, llama.cpp, SGLang, TGI), as data: what identifies it, which answer names
 * its model, where its other figures are. They differ in these paths and names; what is code is shared
 * (`singleWorkerAdapter`), save the one real difference a spec carries as a function (llama.cpp's /slots).
 */
export interface SingleWorkerSpec {
  readonly kind: EngineKind;
  /** Detection: `path` answers 200 JSON whose value at `field` is `equals`, or any non-empty string without it. */
  readonly detect: { readonly path: string; readonly field: JsonPath; readonly equals?: string };
  /** The required answer naming the model: any failure of it fails the poll. */
  readonly model: {
    readonly path: string;
    /**
     * For a model list: the key of its array; the entry read is the first without `skipWith` (vLLM lists LoRA
     * adapters with `parent` set, beside their base model).
     */
    readonly list?: { readonly key: string; readonly skipWith?: string };
    /** The model id's key, in the entry (or the answer). */
    readonly id: string;
    readonly figures: FigurePaths;
  };
  /** Optional answers with more figures: one that fails leaves its figures out, with a note. */
  readonly extras: readonly { readonly path: string; readonly figures: FigurePaths }[];
  /** Load figures when `/metrics` gives none (llama.cpp without `--metrics` counts busy `/slots`). */
  readonly fallbackLoad?: (http: EngineHttp, notes: Notes) => Promise<LoadFigures | undefined>;
}

/** The adapter of a single-worker engine, from its spec. */
export function singleWorkerAdapter(spec: SingleWorkerSpec): EngineAdapter {
  return {
    kind: spec.kind,
    detect: (http) => detectBySpec(spec, http),
    poll: (http) => pollBySpec(spec, http),
  };
}

async function detectBySpec(spec: SingleWorkerSpec, http: EngineHttp): Promise<boolean> {
  const result = await attempt(http, spec.detect.path);
  if (!result.ok) {
    if (result.error.reason === 'unreachable') throw result.error;
    return false;
  }
  if (result.response.status === 200) {
    let json: unknown;
    try {
      json = JSON.parse(result.response.body) as unknown;
    } catch {
      return false;
    }
    const value = valueAt(json, spec.detect.field);
    return spec.detect.equals === undefined ? typeof value === 'string' && value !== '' : value === spec.detect.equals;
  }
  // An engine that says it is loading is known by its health answer (llama.cpp's 503 "Loading model").
  const rule = HEALTH_RULES[spec.kind];
  if (rule.loadingMessage === undefined) return false;
  const health = await attempt(http, rule.path);
  if (!health.ok && health.error.reason === 'unreachable') throw health.error;
  return health.ok && isLoading(health.response, rule.loadingMessage);
}

async function pollBySpec(spec: SingleWorkerSpec, http: EngineHttp): Promise<EngineReading> {
  const names = LOAD_METRICS[spec.kind];
  const extraNotes = spec.extras.map(() => new Notes());
  const loadNotes = new Notes();
  // Every GET at once (the client's connection limit paces them); /slots after, only when /metrics gave nothing.
  const [health, model, extras, load] = await Promise.all([
    readHealth(http, spec.kind),
    attempt(http, spec.model.path),
    Promise.all(spec.extras.map((extra, i) => getOptionalJson(http, extra.path, extraNotes[i] ?? new Notes()))),
    names === undefined ? undefined : readLoadMetrics(http, names, loadNotes),
  ]);
  if (!model.ok) throw model.error;
  const rule = HEALTH_RULES[spec.kind];
  if (rule.loadingMessage !== undefined && isLoading(model.response, rule.loadingMessage)) {
    // Loading (llama.cpp answers 503 everywhere until its model is in): no model to report yet.
    return { kind: spec.kind, health: { status: 'loading', message: rule.loadingMessage }, workers: [] };
  }
  if (model.response.status !== 200 && (health.status === 'loading' || health.status === 'not-ready')) {
    return { kind: spec.kind, health, workers: [] };
  }

  const notes = new Notes();
  const entry = modelEntry(spec, jsonOf(spec.model.path, model.response));
  const figures = readFigures(entry, spec.model.figures, `GET ${spec.model.path}`, notes);
  spec.extras.forEach((extra, i) => {
    notes.addAll(extraNotes[i] ?? new Notes());
    const json = extras[i];
    if (json !== undefined) Object.assign(figures, definedOnly(readFigures(json, extra.figures, `GET ${extra.path}`, notes)));
  });
  let loadFigures: LoadFigures = {};
  if (load?.available === true) loadFigures = load.figures;
  else if (load !== undefined) {
    const fallback = spec.fallbackLoad === undefined ? undefined : await spec.fallbackLoad(http, loadNotes);
    if (fallback === undefined) notes.add(load.why);
    loadFigures = fallback ?? {};
  }
  notes.addAll(loadNotes);

  const worker: EngineWorkerReading = definedOnly({
    modelId: modelId(spec, entry),
    ...loadFigures,
    maxConcurrency: figures.maxConcurrency,
    contextLength: figures.contextLength,
  });
  return definedOnly({ kind: spec.kind, version: figures.version, health, workers: [worker], note: notes.text() });
}

/** The object that names the model: the answer, or its list's first entry without `skipWith`. */
function modelEntry(spec: SingleWorkerSpec, json: unknown): Readonly<Record<string, unknown>> {
  const where = `GET ${spec.model.path}`;
  if (!isRecord(json)) throw new EngineError('bad-answer', `${where}: not a JSON object`);
  const list = spec.model.list;
  if (list === undefined) return json;
  const entries = json[list.key];
  if (!Array.isArray(entries)) throw new EngineError('bad-answer', `${where}: no ${list.key} list`);
  const skip = list.skipWith;
  const entry: unknown = entries.find((e) => isRecord(e) && (skip === undefined || e[skip] === undefined || e[skip] === null));
  if (!isRecord(entry)) {
    const why = entries.length === 0 ? 'no model listed' : skip === undefined ? 'no model entry' : `every model has a ${skip}`;
    throw new EngineError('bad-answer', `${where}: ${why}`);
  }
  return entry;
}

function modelId(spec: SingleWorkerSpec, entry: Readonly<Record<string, unknown>>): string {
  const id = entry[spec.model.id];
  if (typeof id !== 'string' || id === '') throw new EngineError('bad-answer', `GET ${spec.model.path}: no ${spec.model.id}`);
  return id;
}

interface Figures {
  version?: string;
  maxConcurrency?: number;
  contextLength?: number;
}

function readFigures(json: unknown, paths: FigurePaths, where: string, notes: Notes): Figures {
  const figures: Figures = {};
  if (paths.version !== undefined) figures.version = textAt(json, paths.version, where, notes);
  if (paths.maxConcurrency !== undefined) figures.maxConcurrency = integerAt(json, paths.maxConcurrency, 1, where, notes);
  if (paths.contextLength !== undefined) figures.contextLength = integerAt(json, paths.contextLength, 1, where, notes);
  return figures;
}
