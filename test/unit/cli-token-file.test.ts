import { chmodSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildAgentConfig, tokenFileMetadata } from '../../src/cli/agent-command';
import { MAX_TOKEN_FILE_BYTES, readTokenFile, TokenFileError } from '../../src/cli/token-file';

/** A distinctive secret: no error or warning may contain it, or any part of a file's content. */
const SECRET = 'hvt_s3cr3t-VALUE.xyz';

describe('readTokenFile', () => {
  let dir: string;
  const write = (name: string, content: string | Buffer, mode = 0o600): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    chmodSync(path, mode);
    return path;
  };
  /** The TokenFileError `read` throws; fails the test if it throws anything else or nothing. */
  const failure = (read: () => unknown): TokenFileError => {
    try {
      read();
    } catch (error) {
      if (error instanceof TokenFileError) return error;
      throw error;
    }
    throw new Error('expected a TokenFileError');
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-token-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['a bare token', SECRET],
    ['a trailing newline (echo, editors)', `${SECRET}\n`],
    ['a trailing CRLF', `${SECRET}\r\n`],
    ['surrounding blanks and blank lines', `\n  ${SECRET}\t \n\n`],
  ])('reads %s, without a warning for mode 0600', (_name, content) => {
    expect(readTokenFile(write('hive.token', content))).toEqual({ token: SECRET });
  });

  test('accepts every printable ASCII character and a token of exactly the size limit', () => {
    const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
    expect(readTokenFile(write('printable', printable)).token).toBe(printable);
    const largest = 'x'.repeat(MAX_TOKEN_FILE_BYTES);
    expect(readTokenFile(write('largest', largest)).token).toBe(largest);
  });

  test.each(['0640', '0604', '0644', '0666'])('mode %s: warns (naming the path and the mode) but does not refuse', (octal) => {
    const path = write('open.token', `${SECRET}\n`, parseInt(octal, 8));
    const read = readTokenFile(path, 'linux');
    expect(read.token).toBe(SECRET);
    expect(read.warning).toBe(
      `warning: token file ${path} is readable by group or others (mode ${octal}); restrict it with chmod 600`,
    );
  });

  test('no warning from mode bits on Windows, which has none', () => {
    expect(readTokenFile(write('win.token', SECRET, 0o644), 'win32')).toEqual({ token: SECRET });
  });

  test.each([
    ['empty', '', 'is empty'],
    ['only whitespace', ' \n\t\r\n', 'is empty'],
    ['two lines', `${SECRET}\n${SECRET}-2\n`, 'holds more than one line; it must hold the token alone'],
    ['a space inside', `Bearer ${SECRET}`, 'has whitespace inside the token (at character 7)'],
    ['a tab inside', `${SECRET}\tx`, `has whitespace inside the token (at character ${SECRET.length + 1})`],
    ['a control character', `${SECRET}\x01x`, `has a character outside printable ASCII (at character ${SECRET.length + 1})`],
    ['DEL', `x\x7f${SECRET}`, 'has a character outside printable ASCII (at character 2)'],
    ['UTF-8', `${SECRET}é`, `has a character outside printable ASCII (at character ${SECRET.length + 1})`],
    ['a byte order mark', `\ufeff${SECRET}`, 'starts with a UTF-8 byte order mark; save it as plain ASCII'],
    ['over 4 KiB', `${SECRET}${'x'.repeat(MAX_TOKEN_FILE_BYTES)}`, 'is larger than 4096 bytes; a token file holds one token'],
  ])('refuses a file with %s, naming the path and the problem but no content', (_name, content, problem) => {
    const path = write('bad.token', content);
    const error = failure(() => readTokenFile(path));
    expect({ path: error.path, problem: error.problem, message: error.message }).toEqual({
      path,
      problem,
      message: `token file ${path}: ${problem}`,
    });
    expect(error.message).not.toContain(SECRET.slice(0, 6));
  });

  test('refuses a missing file and a directory, naming the path', () => {
    const missing = join(dir, 'missing.token');
    const error = failure(() => readTokenFile(missing));
    expect(error.path).toBe(missing);
    expect(error.message).toMatch(/^token file .*missing\.token: cannot read it \(ENOENT: no such file or directory/);
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    expect(failure(() => readTokenFile(folder)).problem).toBe('is a directory');
  });
});

describe('tokenFileMetadata (the agent reads its token file at every connect)', () => {
  let dir: string;
  let path: string;
  let logs: { level: number; msg: string; problem?: string; tokenFile?: string }[];
  const logger = () => pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-token-metadata-'));
    path = join(dir, 'hive.token');
    logs = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('each call reads the file again: a rotated token is sent on the next connect', () => {
    writeFileSync(path, 'token-one\n', { mode: 0o600 });
    const metadata = tokenFileMetadata(path, logger());
    expect(metadata().get('authorization')).toEqual(['Bearer token-one']);
    writeFileSync(path, 'token-two\n');
    expect(metadata().get('authorization')).toEqual(['Bearer token-two']);
    expect(logs).toEqual([]);
  });

  test('an unusable file throws each time, logged at error once per distinct problem, and recovers', () => {
    writeFileSync(path, 'token-one\n', { mode: 0o600 });
    const metadata = tokenFileMetadata(path, logger());
    unlinkSync(path);
    expect(() => metadata()).toThrow(TokenFileError);
    expect(() => metadata()).toThrow(TokenFileError);
    writeFileSync(path, '', { mode: 0o600 });
    expect(() => metadata()).toThrow('is empty');
    writeFileSync(path, `${SECRET}\n`);
    expect(metadata().get('authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(logs.map((l) => [l.level, l.msg, l.problem?.replace(/\(.*\)/, '(...)')])).toEqual([
      [50, 'cannot use the token file: retrying with backoff', 'cannot read it (...)'],
      [20, 'cannot use the token file: retrying with backoff', 'cannot read it (...)'],
      [50, 'cannot use the token file: retrying with backoff', 'is empty'],
      [30, 'the token file is usable again', undefined],
    ]);
    expect(JSON.stringify(logs)).not.toContain(SECRET);
  });

  test('a file others can read is used, with one warning (not one per connect)', () => {
    writeFileSync(path, `${SECRET}\n`);
    chmodSync(path, 0o644);
    const metadata = tokenFileMetadata(path, logger());
    metadata();
    metadata();
    expect(logs.map((l) => [l.level, l.msg, l.tokenFile])).toEqual([
      [40, `warning: token file ${path} is readable by group or others (mode 0644); restrict it with chmod 600`, path],
    ]);
  });
});

describe('agent --token-file (buildAgentConfig)', () => {
  let dir: string;
  const base = { hiveId: 'hive-a', simulate: '2' };
  const problems = (result: ReturnType<typeof buildAgentConfig>): string[] => (result.ok ? [] : result.problems);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-agent-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('takes the path from --token-file, else from HIVE_REGISTRY_TOKEN_FILE; none without either', () => {
    const flag = join(dir, 'flag.token');
    const env = join(dir, 'env.token');
    writeFileSync(flag, 'a\n', { mode: 0o600 });
    writeFileSync(env, 'b\n', { mode: 0o600 });
    const tokenFile = (result: ReturnType<typeof buildAgentConfig>) => (result.ok ? result.config.tokenFile : problems(result));
    expect(tokenFile(buildAgentConfig({ ...base, tokenFile: flag }, { HIVE_REGISTRY_TOKEN_FILE: env }, '127.0.0.1:1'))).toBe(flag);
    expect(tokenFile(buildAgentConfig(base, { HIVE_REGISTRY_TOKEN_FILE: env }, '127.0.0.1:1'))).toBe(env);
    expect(tokenFile(buildAgentConfig(base, { HIVE_REGISTRY_TOKEN_FILE: '' }, '127.0.0.1:1'))).toBeUndefined();
  });

  test('a token file that cannot be used at start is a configuration problem (exit 2) naming where it came from', () => {
    const empty = join(dir, 'empty.token');
    writeFileSync(empty, '\n', { mode: 0o600 });
    expect(problems(buildAgentConfig({ ...base, tokenFile: empty }, {}, '127.0.0.1:1'))).toEqual([
      `--token-file: token file ${empty}: is empty`,
    ]);
    const missing = join(dir, 'missing.token');
    expect(problems(buildAgentConfig(base, { HIVE_REGISTRY_TOKEN_FILE: missing }, '127.0.0.1:1'))).toEqual([
      expect.stringMatching(/^HIVE_REGISTRY_TOKEN_FILE: token file .*missing\.token: cannot read it \(ENOENT/),
    ]);
  });
});
