import { catalogDocumentJson, parseCatalogDocument } from '../../src/catalog/catalog-document';
import { CatalogStore, IN_MEMORY } from '../../src/catalog/catalog-store';
import { normalizeLabels } from '../../src/catalog/labels';
import type { HiveTokenRecord } from '../../src/catalog/types';
import { DomainError } from '../../src/common/domain-error';
import { makeRecord } from '../helpers/catalog-fixtures';

const AT = Date.UTC(2026, 11, 7, 14);
const hash = (byte: number): Buffer => Buffer.alloc(32, byte);

const hives = [
  makeRecord('gpu-2', { labels: normalizeLabels({ zone: 'eu-1', gpu: 'h100' }), description: 'rack 4', cordoned: true, lastSeenMs: AT - 5_000, lastPeer: '10.0.0.7:51234' }),
  makeRecord('gpu-1'),
];
const tokens: HiveTokenRecord[] = [
  { tokenId: '00aa11bb22cc33dd', hiveId: 'gpu-2', sha256: hash(7), createdAtMs: AT - 60_000, lastUsedAtMs: AT - 1_000 },
  { tokenId: '99ee88ff77aa6655', hiveId: 'gpu-1', sha256: hash(9), createdAtMs: AT - 30_000 },
];

describe('the catalog document', () => {
  it('round-trips every field, sorted, with times in RFC 3339', () => {
    const text = catalogDocumentJson({ hives, tokens }, AT);
    const json = JSON.parse(text) as { format: string; exportedAt: string; hives: { hiveId: string }[]; tokens: { sha256: string }[] };
    expect([json.format, json.exportedAt, json.hives.map((h) => h.hiveId), json.tokens[0]?.sha256]).toEqual([
      'hive-registry.catalog.v1',
      '2026-12-07T14:00:00.000Z',
      ['gpu-1', 'gpu-2'],
      '09'.repeat(32),
    ]);
    const back = parseCatalogDocument(text);
    expect(back.hives).toEqual([hives[1], hives[0]]);
    expect(back.tokens).toEqual([tokens[1], tokens[0]]);
  });

  it.each([
    ['not json', 'invalid JSON'],
    ['[]', 'the document: must be a JSON object, got an array'],
    ['{"format":"other","hives":[]}', 'format: must be "hive-registry.catalog.v1", got "other"'],
    ['{"format":"hive-registry.catalog.v1"}', 'hives: must be a JSON array, got nothing'],
    ['{"format":"hive-registry.catalog.v1","hives":[{"hiveId":"a b","createdAt":"2026-01-01T00:00:00Z"}]}', 'hives[0].hiveId: must contain only the characters'],
    ['{"format":"hive-registry.catalog.v1","hives":[{"hiveId":"a","createdAt":"yesterday"}]}', 'hives[0].createdAt: must be an RFC 3339 time'],
    ['{"format":"hive-registry.catalog.v1","hives":[{"hiveId":"a","createdAt":"2026-01-01T00:00:00Z","labels":{"bad key!":"x"}}]}', 'hives[0].labels'],
    ['{"format":"hive-registry.catalog.v1","hives":[{"hiveId":"a","createdAt":"2026-01-01T00:00:00Z","cordoned":"yes"}]}', 'hives[0].cordoned: must be true or false, got "yes"'],
    [
      '{"format":"hive-registry.catalog.v1","hives":[{"hiveId":"a","createdAt":"2026-01-01T00:00:00Z"},{"hiveId":"a","createdAt":"2026-01-01T00:00:00Z"}]}',
      'hives[1].hiveId: "a" is listed twice',
    ],
    [
      '{"format":"hive-registry.catalog.v1","hives":[],"tokens":[{"tokenId":"ab","hiveId":"a","sha256":"' + '0'.repeat(64) + '","createdAt":"2026-01-01T00:00:00Z"}]}',
      'tokens[0].hiveId: "a" is not among the hives',
    ],
    [
      '{"format":"hive-registry.catalog.v1","hives":[{"hiveId":"a","createdAt":"2026-01-01T00:00:00Z"}],"tokens":[{"tokenId":"ab","hiveId":"a","sha256":"xyz","createdAt":"2026-01-01T00:00:00Z"}]}',
      'tokens[0].sha256: must be 64 lowercase hex digits',
    ],
  ])('rejects %s naming the field', (text, message) => {
    expect(() => parseCatalogDocument(text)).toThrow(message);
  });
});

describe('CatalogStore.importAll', () => {
  it('adds hives and live tokens in one transaction, and refuses (adding nothing) what is already there', () => {
    const from = CatalogStore.open(IN_MEMORY, AT);
    from.saveAll(hives);
    for (const token of tokens) from.saveToken(token);
    const document = parseCatalogDocument(catalogDocumentJson({ hives: from.loadAll(), tokens: from.loadLiveTokens() }, AT));
    from.close();

    const to = CatalogStore.open(IN_MEMORY, AT);
    to.save(makeRecord('gpu-9'));
    to.importAll(document.hives, document.tokens);
    expect(to.loadAll().map((h) => h.hiveId).sort()).toEqual(['gpu-1', 'gpu-2', 'gpu-9']);
    expect(to.loadAll().find((h) => h.hiveId === 'gpu-2')).toEqual(hives[0]);
    expect(to.loadLiveTokens()).toEqual([tokens[0], tokens[1]]);

    const writes = to.writeTransactions;
    let thrown: unknown;
    try {
      to.importAll([makeRecord('gpu-3'), ...document.hives], []);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect((thrown as DomainError).message).toBe('already in the catalog: hive "gpu-1", hive "gpu-2"; nothing was imported');
    expect([to.writeTransactions, to.loadAll().some((h) => h.hiveId === 'gpu-3')]).toEqual([writes, false]);
    to.close();
  });
});
