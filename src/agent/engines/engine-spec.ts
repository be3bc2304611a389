import { isIP } from 'node:net';
import { MAX_CONCURRENCY, type Backend } from '../../common/worker.js';
import { checkId, MAX_ID_LENGTH, quote } from '../../registry/ids.js';
import { ENGINE_KINDS, type EngineKind } from './engine.js';

/**
 * One engine the agent polls, as `--engine SPEC` or an `--engines-file` entry gives it. Only `url` is required;
 * the rest overrides what the engine says or the agent would work out.
 */
export interface EngineSpec {
  /** Base URL, http or https, without a trailing `/` (a path is kept: `http://10.0.0.5/vllm`). */
  readonly url: string;
  /** The engine's kind; undefined: detected from its answers. */
  readonly kind?: EngineKind;
  /** The worker id (Ollama: the prefix of its workers' ids); undefined: `<hive-id>-<port>`. */
  readonly id?: string;
  /** The GPU index it runs on, over the GPU mapping. */
  readonly device?: number;
  /** Its backend, over the GPU mapping. */
  readonly backend?: Exclude<Backend, 'unspecified'>;
  /** Requests it takes at once, 1 to 4096, over the engine's own figure. */
  readonly maxConcurrency?: number;
}

/** A SPEC or an engines file that cannot be used; `message` names the key and what is wrong. */
export class EngineSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineSpecError';
  }
}

const BACKENDS: readonly EngineSpec['backend'][] = ['cpu', 'cuda', 'metal', 'rocm'];
/** Largest GPU index taken (the wire's device_id is a uint32). */
const MAX_DEVICE = 4_294_967_295;
/** Most engines one agent polls: the queen's default limit of workers per hive. */
export const MAX_ENGINES = 1_024;

/** The SPEC keys, and the engines file's JSON keys for each. */
const SPEC_KEYS = ['url', 'kind', 'id', 'device', 'backend', 'max-concurrency'] as const;
type SpecKey = (typeof SPEC_KEYS)[number];
const JSON_KEYS: Readonly<Record<string, SpecKey>> = {
  url: 'url',
  kind: 'kind',
  id: 'id',
  device: 'device',
  backend: 'backend',
  maxConcurrency: 'max-concurrency',
};

/**
 * Parses one `--engine` SPEC: a base URL (`http://127.0.0.1:8000`), or comma-separated `key=value` pairs with
 * keys url (required), kind, id, device, backend, max-concurrency. Throws EngineSpecError naming the key.
 */
export function parseEngineSpec(text: string): EngineSpec {
  if (/^https?:\/\//i.test(text)) return buildSpec({ url: text }, (key) => key);
  const values: Partial<Record<SpecKey, string>> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0) {
      throw new EngineSpecError(
        `${quote(pair)} is not key=value; a SPEC is a base URL or key=value pairs (keys ${SPEC_KEYS.join(', ')})`,
      );
    }
    const key = pair.slice(0, eq).trim();
    if (!(SPEC_KEYS as readonly string[]).includes(key)) {
      throw new EngineSpecError(`unknown key ${quote(key)}: the keys are ${SPEC_KEYS.join(', ')}`);
    }
    if (values[key as SpecKey] !== undefined) throw new EngineSpecError(`${key}: given twice`);
    values[key as SpecKey] = pair.slice(eq + 1).trim();
  }
  return buildSpec(values, (key) => key);
}

/**
 * Parses an engines file: a JSON array of objects with the keys url (required), kind, id, device, backend,
 * maxConcurrency. Throws EngineSpecError naming the entry and key: `[2].maxConcurrency: must be ...`.
 */
export function parseEnginesJson(text: string): EngineSpec[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EngineSpecError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(json)) throw new EngineSpecError('must be a JSON array of engine objects');
  const specs = json.map((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new EngineSpecError(`[${i}]: must be an object such as {"url": "http://127.0.0.1:8000"}`);
    }
    const values: Partial<Record<SpecKey, string>> = {};
    for (const [jsonKey, value] of Object.entries(entry)) {
      const key = JSON_KEYS[jsonKey];
      if (key === undefined) {
        throw new EngineSpecError(`[${i}].${jsonKey}: unknown key; the keys are ${Object.keys(JSON_KEYS).join(', ')}`);
      }
      if (typeof value === 'number' && (key === 'device' || key === 'max-concurrency')) values[key] = String(value);
      else if (typeof value === 'string') values[key] = value;
      else throw new EngineSpecError(`[${i}].${jsonKey}: must be a ${key === 'device' || key === 'max-concurrency' ? 'number' : 'string'}`);
    }
    const jsonName = (key: SpecKey): string => `[${i}].${key === 'max-concurrency' ? 'maxConcurrency' : key}`;
    return buildSpec(values, jsonName);
  });
  checkDistinct(specs);
  return specs;
}

/**
 * Checks that no two specs poll the same URL or claim the same worker id; throws EngineSpecError naming them.
 * Ids left to the agent (`<hive-id>-<port>`) are checked by the caller, which knows the hive id.
 */
export function checkDistinct(specs: readonly EngineSpec[]): void {
  if (specs.length > MAX_ENGINES) throw new EngineSpecError(`at most ${MAX_ENGINES} engines, got ${specs.length}`);
  const urls = new Set<string>();
  const ids = new Set<string>();
  for (const spec of specs) {
    if (urls.has(spec.url)) throw new EngineSpecError(`url: ${spec.url} is given twice`);
    urls.add(spec.url);
    if (spec.id !== undefined) {
      if (ids.has(spec.id)) throw new EngineSpecError(`id: ${quote(spec.id)} is given twice`);
      ids.add(spec.id);
    }
  }
}

/** The id of an engine's worker (Ollama: the prefix of its workers' ids): `id=`, else `<hive-id>-<port>`, cut to 128. */
export function baseWorkerId(spec: EngineSpec, hiveId: string): string {
  return (spec.id ?? `${hiveId}-${portOf(spec.url)}`).slice(0, MAX_ID_LENGTH);
}

/** Checks that no two engines end up with the same worker id (two hosts on one port, an `id=` clash). */
export function checkWorkerIds(specs: readonly EngineSpec[], hiveId: string): void {
  const seen = new Map<string, string>();
  for (const spec of specs) {
    const id = baseWorkerId(spec, hiveId);
    const other = seen.get(id);
    if (other !== undefined) {
      throw new EngineSpecError(`id: ${spec.url} and ${other} would both be worker ${quote(id)}; give one of them id=`);
    }
    seen.set(id, spec.url);
  }
}

/** The port an engine URL reaches: its own, or the scheme's (80, 443). */
export function portOf(url: string): number {
  const parsed = new URL(url);
  return parsed.port !== '' ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
}

function buildSpec(values: Partial<Record<SpecKey, string>>, name: (key: SpecKey) => string): EngineSpec {
  if (values.url === undefined) throw new EngineSpecError(`${name('url')}: required (the engine's base URL)`);
  const spec: { -readonly [K in keyof EngineSpec]: EngineSpec[K] } = { url: checkedUrl(name('url'), values.url) };
  if (values.kind !== undefined) {
    if (!(ENGINE_KINDS as readonly string[]).includes(values.kind)) {
      throw new EngineSpecError(`${name('kind')}: must be one of ${ENGINE_KINDS.join(', ')}, got ${quote(values.kind)}`);
    }
    spec.kind = values.kind as EngineKind;
  }
  if (values.id !== undefined) {
    const bad = checkId(name('id'), values.id);
    if (bad !== undefined) throw new EngineSpecError(bad);
    spec.id = values.id;
  }
  if (values.device !== undefined) spec.device = wholeNumber(name('device'), values.device, 0, MAX_DEVICE);
  if (values.backend !== undefined) {
    const backend = values.backend.toLowerCase();
    if (!(BACKENDS as readonly string[]).includes(backend)) {
      throw new EngineSpecError(`${name('backend')}: must be one of ${BACKENDS.join(', ')}, got ${quote(values.backend)}`);
    }
    spec.backend = backend as EngineSpec['backend'];
  }
  if (values['max-concurrency'] !== undefined) {
    spec.maxConcurrency = wholeNumber(name('max-concurrency'), values['max-concurrency'], 1, MAX_CONCURRENCY);
  }
  return spec;
}

function wholeNumber(name: string, text: string, min: number, max: number): number {
  const n = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw new EngineSpecError(`${name}: must be a whole number from ${min} to ${max}, got ${quote(text)}`);
  return n;
}

/** An http(s) URL with a host and no query, fragment or credentials; returned without a trailing `/`. */
function checkedUrl(name: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EngineSpecError(`${name}: must be an absolute http(s) URL such as http://127.0.0.1:8000, got ${quote(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new EngineSpecError(`${name}: must be http or https, got ${quote(url.protocol.replace(/:$/, ''))}`);
  }
  if (url.hostname === '') throw new EngineSpecError(`${name}: needs a host, got ${quote(text)}`);
  if (url.search !== '' || url.hash !== '') {
    throw new EngineSpecError(`${name}: must not have a query or fragment (the agent appends the engine's paths), got ${quote(text)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new EngineSpecError(`${name}: must not carry credentials (they would be reported to the queen), got a user name`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host.includes(':') && isIP(host) !== 6) throw new EngineSpecError(`${name}: ${quote(host)} is not an IPv6 address`);
  return url.href.replace(/\/+$/, '');
}
