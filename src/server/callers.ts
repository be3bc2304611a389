import { timingSafeEqual } from 'node:crypto';

/** What a caller token may do: `read` = lookups, scheduling, Watch, catalog reads; `admin` = `read` and every write. */
export type Role = 'read' | 'admin';
export const ROLES: readonly Role[] = ['read', 'admin'];

/** One entry of the auth file: a named caller, its role, and the SHA-256 of its token (never the token). */
export interface Caller {
  readonly name: string;
  readonly role: Role;
  /** 32 bytes. */
  readonly tokenSha256: Buffer;
}

/** The auth file could not be read or is malformed; the CLI exits 2 with this message. */
export class AuthFileError extends Error {
  override readonly name = 'AuthFileError';
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const CALLER_NAME = /^[A-Za-z0-9._:@-]{1,64}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses the auth file's JSON: `{"callers":[{"name","role","token_sha256"}]}`. Strict, because a typo in a
 * security file should stop the server rather than silently grant or deny: unknown keys, duplicate names and
 * duplicate hashes are refused. Errors name the entry and the field; `source` names the file.
 */
export function parseAuthFile(text: string, source: string): Caller[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AuthFileError(`${source}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(parsed)) throw new AuthFileError(`${source}: must be a JSON object with a "callers" array`);
  for (const key of Object.keys(parsed)) {
    if (key !== 'callers') throw new AuthFileError(`${source}: unknown key ${JSON.stringify(key)} (only "callers")`);
  }
  const list = parsed['callers'];
  if (!Array.isArray(list) || list.length === 0) {
    throw new AuthFileError(`${source}: "callers" must be a non-empty array`);
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  return list.map((entry: unknown, i): Caller => {
    const at = `${source}: callers[${i}]`;
    if (!isObject(entry)) throw new AuthFileError(`${at}: must be an object with name, role and token_sha256`);
    for (const key of Object.keys(entry)) {
      if (!['name', 'role', 'token_sha256'].includes(key)) {
        throw new AuthFileError(`${at}: unknown key ${JSON.stringify(key)} (name, role, token_sha256)`);
      }
    }
    const { name, role, token_sha256: hash } = entry;
    if (typeof name !== 'string' || !CALLER_NAME.test(name)) {
      throw new AuthFileError(`${at}.name: must be 1-64 characters of [A-Za-z0-9._:@-]`);
    }
    if (names.has(name)) throw new AuthFileError(`${at}.name: ${JSON.stringify(name)} appears twice`);
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      throw new AuthFileError(`${at}.role: must be "read" or "admin"`);
    }
    if (typeof hash !== 'string' || !HEX_SHA256.test(hash.toLowerCase())) {
      throw new AuthFileError(
        `${at}.token_sha256: must be the token's SHA-256 as 64 hex digits (printf %s "$TOKEN" | sha256sum), not the token`,
      );
    }
    if (hashes.has(hash.toLowerCase())) {
      throw new AuthFileError(`${at}.token_sha256: the same token hash appears twice`);
    }
    names.add(name);
    hashes.add(hash.toLowerCase());
    return { name, role: role as Role, tokenSha256: Buffer.from(hash, 'hex') };
  });
}

/**
 * The callers allowed in, matched by token hash. Every entry is compared, in constant time, whatever matches:
 * the time a lookup takes says nothing about which entry (or how much of it) matched.
 */
export class CallerTokens {
  constructor(private callers: readonly Caller[]) {}

  get size(): number {
    return this.callers.length;
  }

  /** The caller whose token hashes to `sha256`, or undefined. */
  match(sha256: Buffer): Caller | undefined {
    let found: Caller | undefined;
    for (const caller of this.callers) {
      if (timingSafeEqual(caller.tokenSha256, sha256) && found === undefined) found = caller;
    }
    return found;
  }

  /** Replaces the callers (a reloaded auth file); calls in flight keep the access they were given. */
  replace(callers: readonly Caller[]): void {
    this.callers = callers;
  }
}
