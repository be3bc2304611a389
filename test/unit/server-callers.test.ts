import { createHash } from 'node:crypto';
import { AuthFileError, CallerTokens, parseAuthFile } from '../../src/server/callers';

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

function problem(text: string): string {
  try {
    parseAuthFile(text, 'auth.json');
  } catch (error) {
    expect(error).toBeInstanceOf(AuthFileError);
    return (error as Error).message;
  }
  throw new Error('expected the auth file to be refused');
}

describe('parseAuthFile', () => {
  test("the contract's form: callers with names, roles and token SHA-256s (hex in either case)", () => {
    const callers = parseAuthFile(
      JSON.stringify({
        callers: [
          { name: 'ops', role: 'admin', token_sha256: hash('a') },
          { name: 'router', role: 'read', token_sha256: hash('b').toUpperCase() },
        ],
      }),
      'auth.json',
    );
    expect(callers.map((c) => [c.name, c.role, c.tokenSha256.toString('hex')])).toEqual([
      ['ops', 'admin', hash('a')],
      ['router', 'read', hash('b')],
    ]);
  });

  test.each([
    ['not JSON', '{', /auth.json: not valid JSON/],
    ['an array', '[]', /must be a JSON object with a "callers" array/],
    ['no callers', '{}', /"callers" must be a non-empty array/],
    ['empty callers', '{"callers":[]}', /"callers" must be a non-empty array/],
    ['an unknown top-level key', `{"callers":[{"name":"a","role":"read","token_sha256":"${hash('a')}"}],"caller":[]}`, /unknown key "caller"/],
    ['an unknown entry key', `{"callers":[{"name":"a","role":"read","token":"a"}]}`, /callers\[0\]: unknown key "token"/],
    ['a bad role', `{"callers":[{"name":"a","role":"root","token_sha256":"${hash('a')}"}]}`, /callers\[0\].role: must be "read" or "admin"/],
    ['a bad name', `{"callers":[{"name":"a b","role":"read","token_sha256":"${hash('a')}"}]}`, /callers\[0\].name: must be 1-64 characters/],
    ['the token instead of its hash', `{"callers":[{"name":"a","role":"read","token_sha256":"secret"}]}`, /callers\[0\].token_sha256: must be the token's SHA-256 as 64 hex digits/],
    ['a duplicate name', `{"callers":[{"name":"a","role":"read","token_sha256":"${hash('a')}"},{"name":"a","role":"read","token_sha256":"${hash('b')}"}]}`, /callers\[1\].name: "a" appears twice/],
    ['a duplicate hash', `{"callers":[{"name":"a","role":"read","token_sha256":"${hash('a')}"},{"name":"b","role":"admin","token_sha256":"${hash('a')}"}]}`, /callers\[1\].token_sha256: the same token hash appears twice/],
  ])('refuses %s, naming the file and the field', (_what, text, message) => {
    expect(problem(text)).toMatch(message);
  });

  test('the secret in a malformed entry is never echoed', () => {
    expect(problem('{"callers":[{"name":"a","role":"read","token_sha256":"my-secret-token"}]}')).not.toContain('my-secret-token');
  });
});

describe('CallerTokens', () => {
  const callers = parseAuthFile(
    JSON.stringify({ callers: [{ name: 'ops', role: 'admin', token_sha256: hash('a') }, { name: 'router', role: 'read', token_sha256: hash('b') }] }),
    'auth.json',
  );

  test('matches by hash; unknown hashes match nothing', () => {
    const tokens = new CallerTokens(callers);
    expect(tokens.match(createHash('sha256').update('b').digest())?.name).toBe('router');
    expect(tokens.match(createHash('sha256').update('c').digest())).toBeUndefined();
  });

  test('replace swaps the list for new lookups', () => {
    const tokens = new CallerTokens(callers);
    tokens.replace(callers.slice(0, 1));
    expect(tokens.size).toBe(1);
    expect(tokens.match(createHash('sha256').update('b').digest())).toBeUndefined();
  });
});
