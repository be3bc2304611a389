import { EngineError, type EngineHttp, type EngineResponse } from './engine.js';

/**
 * Reading engines' JSON answers at the edge: parsed as `unknown`, checked field by field, every refusal short and
 * naming the endpoint ("GET /info: no model_id"). A required answer that is wrong rejects the poll with
 * EngineError('bad-answer'); an optional figure that is wrong is left out and said in the reading's note.
 */

/** Things worth telling people about one poll that did not stop it; joined into EngineReading.note. */
export class Notes {
  private readonly items: string[] = [];

  add(note: string): void {
    if (!this.items.includes(note)) this.items.push(note);
  }

  /** Appends `other`'s notes: parts of a poll that run in parallel keep their own, merged in a fixed order. */
  addAll(other: Notes): void {
    for (const note of other.items) this.add(note);
  }

  /** The notes joined with "; ", or undefined when there are none. */
  text(): string | undefined {
    return this.items.length === 0 ? undefined : this.items.join('; ');
  }
}

/** An answer, or why there was none; never rejects (what to do with a failure is the caller's business). */
export type Attempt = { readonly ok: true; readonly response: EngineResponse } | { readonly ok: false; readonly error: EngineError };

export async function attempt(http: EngineHttp, path: string): Promise<Attempt> {
  try {
    return { ok: true, response: await http.get(path) };
  } catch (error) {
    if (error instanceof EngineError) return { ok: false, error };
    throw error;
  }
}

/** `GET /x: <why>`: unreachable messages ("timed out after 2000 ms") do not name the endpoint by themselves. */
export function failureNote(path: string, error: EngineError): string {
  return error.message.startsWith('GET ') ? error.message : `GET ${path}: ${error.message}`;
}

/** The JSON of a 200 answer; EngineError('bad-answer') naming the endpoint for any other status or a non-JSON body. */
export function jsonOf(path: string, response: EngineResponse): unknown {
  if (response.status !== 200) throw new EngineError('bad-answer', `GET ${path}: ${response.status}`);
  try {
    return JSON.parse(response.body) as unknown;
  } catch {
    const looksHtml = /^\s*</.test(response.body);
    throw new EngineError('bad-answer', `GET ${path}: ${looksHtml ? 'HTML' : 'text'} where JSON belongs`);
  }
}

/** GETs `path` and reads its JSON: for required answers (every failure rejects). */
export async function getJson(http: EngineHttp, path: string): Promise<unknown> {
  return jsonOf(path, await http.get(path));
}

/**
 * GETs an optional answer's JSON: undefined, with a note, when it does not come (a 404, garbage, a timeout while
 * the required answers came).
 */
export async function getOptionalJson(http: EngineHttp, path: string, notes: Notes): Promise<unknown> {
  const result = await attempt(http, path);
  try {
    if (!result.ok) throw result.error;
    return jsonOf(path, result.response);
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    notes.add(failureNote(path, error));
    return undefined;
  }
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON path: object keys and array indexes, from the answer's root. */
export type JsonPath = readonly (string | number)[];

/** The value at `path`, or undefined when any step is missing or of the wrong type. */
export function valueAt(root: unknown, path: JsonPath): unknown {
  let value = root;
  for (const step of path) {
    if (typeof step === 'number') value = Array.isArray(value) ? (value as unknown[])[step] : undefined;
    else value = isRecord(value) ? value[step] : undefined;
  }
  return value;
}

/** How a path is written in notes: `default_generation_settings.n_ctx`, `models[2].name`. */
export function pathText(path: JsonPath): string {
  return path.map((step, i) => (typeof step === 'number' ? `[${step}]` : i === 0 ? step : `.${step}`)).join('');
}

/**
 * The string at `path`, when it is a non-empty one. Absent or null: undefined, nothing said (engines leave
 * figures unset). Anything else: undefined and a note, since a figure we cannot trust is better left out than
 * guessed.
 */
export function textAt(root: unknown, path: JsonPath, where: string, notes: Notes): string | undefined {
  const value = valueAt(root, path);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value !== '') return value;
  notes.add(`${where}: ${pathText(path)} is not a string (${shortJson(value)})`);
  return undefined;
}

/** The integer at `path`, when it is a safe integer >= `min`; otherwise as textAt. */
export function integerAt(root: unknown, path: JsonPath, min: 0 | 1, where: string, notes: Notes): number | undefined {
  const value = valueAt(root, path);
  if (value === undefined || value === null) return undefined;
  if (isCount(value) && value >= min) return value;
  notes.add(`${where}: ${pathText(path)} is not ${min === 0 ? 'a count' : 'a positive integer'} (${shortJson(value)})`);
  return undefined;
}

function shortJson(value: unknown): string {
  return (JSON.stringify(value) ?? typeof value).slice(0, 40);
}

/** A non-negative safe integer. */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** `value` without its undefined properties: a reading says nothing of what it did not read. */
export function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
