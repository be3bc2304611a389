import { checkId, quote } from '../registry/ids.js';
import { checkDescription, checkLabels, normalizeLabels, type Labels } from './labels.js';
import type { CatalogRecord, HiveTokenRecord } from './types.js';

/**
 * The catalog as one JSON document, for `hive-registry catalog export` and `catalog import`: every hive and every
 * live hive token (its SHA-256 only, never the token), so a queen's catalog moves to another file or store whole.
 *
 * ```json
 * {"format": "hive-registry.catalog.v1", "exportedAt": "2026-12-07T14:00:00.000Z",
 *  "hives": [{"hiveId": "gpu-1", "labels": {"zone": "eu-1"}, "description": "", "createdAt": "...",
 *             "updatedAt": "...", "lastSeen": "...", "lastPeer": "10.0.0.7:51234", "cordoned": false}],
 *  "tokens": [{"tokenId": "9f2c...", "hiveId": "gpu-1", "sha256": "<64 hex>", "createdAt": "...", "lastUsedAt": "..."}]}
 * ```
 * Times are RFC 3339 in UTC with milliseconds; `lastSeen` and `lastUsedAt` are left out when never.
 */
export const CATALOG_DOCUMENT_FORMAT = 'hive-registry.catalog.v1';

/** Most hives and most tokens one document may hold. */
export const MAX_DOCUMENT_HIVES = 100_000;
export const MAX_DOCUMENT_TOKENS = 1_000_000;
const MAX_PEER_LENGTH = 256;
const TOKEN_ID = /^[0-9a-f]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface CatalogDocument {
  readonly hives: readonly CatalogRecord[];
  readonly tokens: readonly HiveTokenRecord[];
}

/** A document that cannot be imported; `message` names the entry and field: `hives[2].labels: ...`. */
export class CatalogDocumentError extends Error {
  override readonly name = 'CatalogDocumentError';
}

/** The document for `hives` and `tokens`, as written by `catalog export` (sorted, indented, one trailing newline). */
export function catalogDocumentJson(document: CatalogDocument, exportedAtMs: number): string {
  const hives = [...document.hives].sort((a, b) => compare(a.hiveId, b.hiveId));
  const tokens = [...document.tokens].sort((a, b) => compare(a.hiveId, b.hiveId) || a.createdAtMs - b.createdAtMs || compare(a.tokenId, b.tokenId));
  const json = {
    format: CATALOG_DOCUMENT_FORMAT,
    exportedAt: iso(exportedAtMs),
    hives: hives.map((h) => ({
      hiveId: h.hiveId,
      labels: h.labels,
      description: h.description,
      createdAt: iso(h.createdAtMs),
      updatedAt: iso(h.updatedAtMs),
      ...(h.lastSeenMs === undefined ? {} : { lastSeen: iso(h.lastSeenMs) }),
      lastPeer: h.lastPeer,
      cordoned: h.cordoned,
    })),
    tokens: tokens.map((t) => ({
      tokenId: t.tokenId,
      hiveId: t.hiveId,
      sha256: t.sha256.toString('hex'),
      createdAt: iso(t.createdAtMs),
      ...(t.lastUsedAtMs === undefined ? {} : { lastUsedAt: iso(t.lastUsedAtMs) }),
    })),
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/**
 * Reads a document written by catalogDocumentJson (or by hand), checking every field by the catalog's own rules;
 * throws CatalogDocumentError naming the first problem.
 */
export function parseCatalogDocument(text: string): CatalogDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CatalogDocumentError(`invalid JSON: ${(error as Error).message}`);
  }
  const root = object('the document', json);
  if (root['format'] !== CATALOG_DOCUMENT_FORMAT) {
    throw new CatalogDocumentError(`format: must be ${JSON.stringify(CATALOG_DOCUMENT_FORMAT)}, got ${describe(root['format'])}`);
  }
  const hiveList = array('hives', root['hives'], MAX_DOCUMENT_HIVES);
  const tokenList = array('tokens', root['tokens'] ?? [], MAX_DOCUMENT_TOKENS);
  const hives = hiveList.map((entry, i) => hiveOf(`hives[${i}]`, entry));
  const hiveIds = new Set<string>();
  for (const [i, hive] of hives.entries()) {
    if (hiveIds.has(hive.hiveId)) throw new CatalogDocumentError(`hives[${i}].hiveId: ${quote(hive.hiveId)} is listed twice`);
    hiveIds.add(hive.hiveId);
  }
  const tokens = tokenList.map((entry, i) => tokenOf(`tokens[${i}]`, entry));
  const tokenIds = new Set<string>();
  const hashes = new Set<string>();
  for (const [i, token] of tokens.entries()) {
    if (!hiveIds.has(token.hiveId)) throw new CatalogDocumentError(`tokens[${i}].hiveId: ${quote(token.hiveId)} is not among the hives`);
    if (tokenIds.has(token.tokenId)) throw new CatalogDocumentError(`tokens[${i}].tokenId: ${quote(token.tokenId)} is listed twice`);
    const hash = token.sha256.toString('hex');
    if (hashes.has(hash)) throw new CatalogDocumentError(`tokens[${i}].sha256: the same hash is listed twice`);
    tokenIds.add(token.tokenId);
    hashes.add(hash);
  }
  return { hives, tokens };
}

function hiveOf(field: string, value: unknown): CatalogRecord {
  const o = object(field, value);
  const hiveId = string(`${field}.hiveId`, o['hiveId']);
  fail(checkId(`${field}.hiveId`, hiveId));
  const labelsJson = object(`${field}.labels`, o['labels'] ?? {});
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(labelsJson)) labels[key] = string(`${field}.labels.${key}`, v);
  fail(checkLabels(`${field}.labels`, labels as Labels));
  const description = string(`${field}.description`, o['description'] ?? '');
  fail(checkDescription(`${field}.description`, description));
  const lastPeer = string(`${field}.lastPeer`, o['lastPeer'] ?? '');
  if (lastPeer.length > MAX_PEER_LENGTH) throw new CatalogDocumentError(`${field}.lastPeer: must be at most ${MAX_PEER_LENGTH} characters`);
  const cordoned = o['cordoned'] ?? false;
  if (typeof cordoned !== 'boolean') throw new CatalogDocumentError(`${field}.cordoned: must be true or false, got ${describe(cordoned)}`);
  const createdAtMs = time(`${field}.createdAt`, o['createdAt']);
  const record: CatalogRecord = {
    hiveId,
    labels: normalizeLabels(labels),
    description,
    createdAtMs,
    updatedAtMs: o['updatedAt'] === undefined ? createdAtMs : time(`${field}.updatedAt`, o['updatedAt']),
    lastPeer,
    cordoned,
  };
  return o['lastSeen'] === undefined ? record : { ...record, lastSeenMs: time(`${field}.lastSeen`, o['lastSeen']) };
}

function tokenOf(field: string, value: unknown): HiveTokenRecord {
  const o = object(field, value);
  const tokenId = string(`${field}.tokenId`, o['tokenId']);
  if (!TOKEN_ID.test(tokenId)) throw new CatalogDocumentError(`${field}.tokenId: must be 1-64 lowercase hex digits, got ${quote(tokenId)}`);
  const hiveId = string(`${field}.hiveId`, o['hiveId']);
  const sha256 = string(`${field}.sha256`, o['sha256']);
  if (!SHA256_HEX.test(sha256)) throw new CatalogDocumentError(`${field}.sha256: must be 64 lowercase hex digits (a SHA-256), got ${quote(sha256)}`);
  const record: HiveTokenRecord = { tokenId, hiveId, sha256: Buffer.from(sha256, 'hex'), createdAtMs: time(`${field}.createdAt`, o['createdAt']) };
  return o['lastUsedAt'] === undefined ? record : { ...record, lastUsedAtMs: time(`${field}.lastUsedAt`, o['lastUsedAt']) };
}

function object(field: string, value: unknown): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CatalogDocumentError(`${field}: must be a JSON object, got ${describe(value)}`);
  }
  return value as Readonly<Record<string, unknown>>;
}

function array(field: string, value: unknown, max: number): readonly unknown[] {
  if (!Array.isArray(value)) throw new CatalogDocumentError(`${field}: must be a JSON array, got ${describe(value)}`);
  if (value.length > max) throw new CatalogDocumentError(`${field}: at most ${max} entries, got ${value.length}`);
  return value;
}

function string(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new CatalogDocumentError(`${field}: must be a string, got ${describe(value)}`);
  return value;
}

/** An RFC 3339 time with a zone (`Z` or an offset), within years 1970 to 9999; epoch ms. */
function time(field: string, value: unknown): number {
  const text = string(field, value);
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) throw new CatalogDocumentError(`${field}: must be an RFC 3339 time such as 2026-12-07T14:00:00.000Z, got ${quote(text)}`);
  return ms;
}

function fail(problem: string | undefined): void {
  if (problem !== undefined) throw new CatalogDocumentError(problem);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value === 'string' ? quote(value) : typeof value === 'object' ? 'an object' : String(value);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
