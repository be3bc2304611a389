import {
  CatalogKeys,
  decodeHive,
  decodeToken,
  deleteFact,
  encodeHive,
  encodeToken,
  putFact,
} from '../../src/catalog/etcd-catalog-keys';
import type { CatalogRecord, HiveTokenRecord } from '../../src/catalog/types';

const keys = new CatalogKeys('/hive-registry/');
const record: CatalogRecord = {
  hiveId: 'gpu-1',
  labels: Object.freeze({ gpu: 'h100', zone: 'eu' }),
  description: 'rack 4',
  createdAtMs: 1_000,
  updatedAtMs: 2_000,
  lastSeenMs: 3_000,
  lastPeer: 'ipv4:10.0.0.7:50123',
  cordoned: true,
};
const token: HiveTokenRecord = {
  tokenId: '0123456789abcdef',
  hiveId: 'gpu-1',
  sha256: Buffer.alloc(32, 0xab),
  createdAtMs: 1_500,
  lastUsedAtMs: 2_500,
};
const entry = (key: string, value: string) => ({
  key,
  value: Buffer.from(value),
  createRevision: 5n,
  modRevision: 7n,
  lease: '0',
});

describe('etcd catalog keys', () => {
  test('a hive, its tokens, and the prefix they share', () => {
    expect(keys.root).toBe('/hive-registry/catalog/');
    expect(keys.hive('gpu-1')).toBe('/hive-registry/catalog/hives/gpu-1');
    expect(keys.token('gpu-1', 'ab12')).toBe('/hive-registry/catalog/tokens/gpu-1/ab12');
    expect(keys.token('gpu-1', 'ab12').startsWith(keys.tokensOf('gpu-1'))).toBe(true);
    // gpu-1's prefix never covers gpu-10's tokens.
    expect(keys.token('gpu-10', 'ab12').startsWith(keys.tokensOf('gpu-1'))).toBe(false);
  });

  test.each<[string, unknown]>([
    ['/hive-registry/catalog/hives/gpu-1', { kind: 'hive', hiveId: 'gpu-1' }],
    ['/hive-registry/catalog/tokens/gpu-1/ab12', { kind: 'token', hiveId: 'gpu-1', tokenId: 'ab12' }],
    ['/hive-registry/catalog/hives/', undefined],
    ['/hive-registry/catalog/hives/a/b', undefined],
    ['/hive-registry/catalog/tokens/gpu-1', undefined],
    ['/hive-registry/catalog/tokens/gpu-1/ab/c', undefined],
    ['/hive-registry/catalog/other/x', undefined],
    ['/hive-registry/queens/q1', undefined],
  ])('parse(%s)', (key, expected) => {
    expect(keys.parse(key)).toEqual(expected);
  });
});

describe('etcd catalog values', () => {
  test('a hive and a token round-trip; the token is kept as its hash only', () => {
    expect(decodeHive('gpu-1', Buffer.from(encodeHive(record)))).toStrictEqual(record);
    const { lastSeenMs: _never, ...unseen } = record;
    expect(decodeHive('gpu-1', Buffer.from(encodeHive(unseen)))).toStrictEqual(unseen);
    expect(JSON.parse(encodeToken(token))).toEqual({
      tokenId: token.tokenId,
      hiveId: 'gpu-1',
      sha256: 'ab'.repeat(32),
      createdAtMs: 1_500,
      lastUsedAtMs: 2_500,
    });
    expect(decodeToken('gpu-1', token.tokenId, Buffer.from(encodeToken(token)))).toStrictEqual(token);
  });

  test.each<[string, string, string]>([
    ['not JSON', '{', 'not a JSON object'],
    ['an array', '[]', 'not a JSON object'],
    ['labels not an object', '{"labels":[],"description":"","createdAtMs":1,"updatedAtMs":1,"lastPeer":"","cordoned":false}', 'labels: not an object'],
    ['a missing time', '{"labels":{},"description":"","createdAtMs":1,"lastPeer":"","cordoned":false}', 'createdAtMs and updatedAtMs: must be numbers'],
    ['cordoned as a string', '{"labels":{},"description":"","createdAtMs":1,"updatedAtMs":1,"lastPeer":"","cordoned":"yes"}', 'cordoned: not a boolean'],
  ])('a hive value that is %s: the message says what is wrong', (_name, value, message) => {
    expect(decodeHive('h', Buffer.from(value))).toBe(message);
  });

  test('a hand-edited label that is not a string is dropped, not the hive', () => {
    const value = '{"labels":{"zone":"eu","n":3},"description":"","createdAtMs":1,"updatedAtMs":1,"lastPeer":"","cordoned":false}';
    expect(decodeHive('h', Buffer.from(value))).toMatchObject({ hiveId: 'h', labels: { zone: 'eu' } });
  });

  test.each<[string, string, string]>([
    ['another token id', JSON.stringify({ ...JSON.parse(encodeToken(token)), tokenId: 'ffff' }), 'tokenId and hiveId: must be those of its key'],
    ['a short hash', JSON.stringify({ ...JSON.parse(encodeToken(token)), sha256: 'abcd' }), 'sha256: must be 64 lowercase hex digits'],
    ['no creation time', JSON.stringify({ ...JSON.parse(encodeToken(token)), createdAtMs: 'x' }), 'createdAtMs: not a number'],
  ])('a token value with %s: the message says what is wrong', (_name, value, message) => {
    expect(decodeToken('gpu-1', token.tokenId, Buffer.from(value))).toBe(message);
  });

  test('facts: a put as of its mod revision, a delete as of the revision given, none for keys not ours', () => {
    expect(putFact(keys, entry(keys.hive('gpu-1'), encodeHive(record)))).toStrictEqual({ kind: 'hive', hiveId: 'gpu-1', record, revision: 7n });
    expect(putFact(keys, entry(keys.token('gpu-1', token.tokenId), encodeToken(token)))).toMatchObject({ kind: 'token', tokenId: token.tokenId, revision: 7n });
    expect(putFact(keys, entry(keys.hive('gpu-1'), '{'))).toBe('not a JSON object');
    expect(putFact(keys, entry('/hive-registry/queens/q1', '{}'))).toBeUndefined();
    expect(deleteFact(keys, keys.token('gpu-1', 'ab12'), 9n)).toEqual({ kind: 'token', hiveId: 'gpu-1', tokenId: 'ab12', record: undefined, revision: 9n });
    expect(deleteFact(keys, '/elsewhere', 9n)).toBeUndefined();
  });
});
