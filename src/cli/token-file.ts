import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Bearer tokens reach the CLI only through a file (`--token-file FILE`): a token on the command line or in an
 * environment variable's value would show in `ps`, shell history and process dumps. The environment may name the
 * file (HIVE_REGISTRY_TOKEN_FILE), never hold the token.
 */

/** Names the token file when --token-file is not given. */
export const TOKEN_FILE_ENV = 'HIVE_REGISTRY_TOKEN_FILE';

/** Largest token file read, in bytes: a token is tens of bytes; anything bigger is the wrong file. */
export const MAX_TOKEN_FILE_BYTES = 4 * 1024;

/** The token file cannot be used: `problem` says why. Never carries the file's content. */
export class TokenFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`token file ${path}: ${problem}`);
    this.name = 'TokenFileError';
  }
}

/** A token read from a file. */
export interface TokenFile {
  readonly token: string;
  /** Set when the file is readable by group or others: worth printing (to stderr), not worth refusing. */
  readonly warning?: string;
}

/**
 * Reads a bearer token from `path`: the whole file, surrounding whitespace (the trailing newline of `echo` or an
 * editor) removed. Refuses, with TokenFileError, a file that cannot be read, is over MAX_TOKEN_FILE_BYTES, is
 * empty, or holds anything but one run of printable ASCII (gRPC metadata values must be printable ASCII, and a
 * space or second line means the file is not a bare token). Errors name the path and the problem, never a byte
 * of the content.
 *
 * Synchronous on purpose: the agent re-reads the file each time it opens a stream, inside the transport's open(),
 * and a small local file costs less than threading a promise through the reconnect path.
 */
export function readTokenFile(path: string, platform: NodeJS.Platform = process.platform): TokenFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new TokenFileError(path, `cannot read it (${reason(error)})`);
  }
  let bytes: Buffer;
  let mode: number | undefined;
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new TokenFileError(path, 'is a directory');
    if (stat.isFile()) {
      if (stat.size > MAX_TOKEN_FILE_BYTES) throw tooLarge(path);
      mode = stat.mode;
    }
    bytes = readAtMost(fd, MAX_TOKEN_FILE_BYTES + 1);
  } catch (error) {
    if (error instanceof TokenFileError) throw error;
    throw new TokenFileError(path, `cannot read it (${reason(error)})`);
  } finally {
    closeSync(fd);
  }
  // Sizes are checked again on what was read: a pipe or device has no size, and a file can grow after fstat.
  if (bytes.length > MAX_TOKEN_FILE_BYTES) throw tooLarge(path);
  const token = checkToken(path, bytes);
  // Windows has no group/other mode bits (Node reports 0o666 for every writable file).
  if (mode === undefined || platform === 'win32' || (mode & 0o077) === 0) return { token };
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return {
    token,
    warning: `warning: token file ${path} is readable by group or others (mode ${octal}); restrict it with chmod 600`,
  };
}

/** The token in `bytes`, or TokenFileError naming what is wrong (by position, never by content). */
function checkToken(path: string, bytes: Buffer): string {
  // latin1 maps each byte to one character, so every non-ASCII byte is seen (and refused) as such.
  const text = bytes.toString('latin1');
  if (text.startsWith('\xef\xbb\xbf')) {
    throw new TokenFileError(path, 'starts with a UTF-8 byte order mark; save it as plain ASCII');
  }
  const token = text.replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '');
  if (token === '') throw new TokenFileError(path, 'is empty');
  if (/[\r\n]/.test(token)) throw new TokenFileError(path, 'holds more than one line; it must hold the token alone');
  const space = token.search(/[\t\v\f ]/);
  if (space >= 0) throw new TokenFileError(path, `has whitespace inside the token (at character ${space + 1})`);
  const bad = token.search(/[^\x21-\x7e]/);
  if (bad >= 0) {
    throw new TokenFileError(path, `has a character outside printable ASCII (at character ${bad + 1})`);
  }
  return token;
}

function tooLarge(path: string): TokenFileError {
  return new TokenFileError(path, `is larger than ${MAX_TOKEN_FILE_BYTES} bytes; a token file holds one token`);
}

/** Up to `limit` bytes from `fd`, reading until end of file or the limit. */
function readAtMost(fd: number, limit: number): Buffer {
  const buffer = Buffer.alloc(limit);
  let length = 0;
  while (length < limit) {
    const n = readSync(fd, buffer, length, limit - length, null);
    if (n === 0) break;
    length += n;
  }
  return buffer.subarray(0, length);
}

function reason(error: unknown): string {
  // Duck-typed, not instanceof Error: fs errors can come from another realm (vm contexts, jest).
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}
