import { checkId, checkModelId, MAX_ID_LENGTH, MAX_MODEL_ID_LENGTH, quote } from '../../src/registry/ids';

describe('limits', () => {
  test('match the contract: ids up to 128 characters, model ids up to 256', () => {
    expect(MAX_ID_LENGTH).toBe(128);
    expect(MAX_MODEL_ID_LENGTH).toBe(256);
  });
});

describe('checkId', () => {
  test.each([
    ['a single letter', 'a'],
    ['a single digit', '7'],
    ['upper case', 'HIVE'],
    ['every allowed punctuation', 'a.b_c:d-e'],
    ['only punctuation', '._:-'],
    ['a typical hive id', 'gpu-node-01.rack3:eu-west'],
    ['exactly 128 characters', 'x'.repeat(128)],
  ])('accepts %s', (_name, value) => {
    expect(checkId('hive_id', value)).toBeUndefined();
  });

  test('rejects an empty id, naming the field', () => {
    expect(checkId('hive_id', '')).toBe('hive_id: must not be empty');
  });

  test('rejects 129 characters, naming the field, the limit and the length', () => {
    expect(checkId('worker_id', 'x'.repeat(129))).toBe('worker_id: must be at most 128 characters, got 129');
  });

  test('reports the length before the charset for an overlong id with bad characters', () => {
    expect(checkId('hive_id', ' '.repeat(200))).toBe('hive_id: must be at most 128 characters, got 200');
  });

  test.each([
    ['a space', 'a b', '"a b"'],
    ['a leading space', ' a', '" a"'],
    ['a trailing newline', 'a\n', '"a\\n"'],
    ['an embedded newline', 'a\nb', '"a\\nb"'],
    ['a tab', 'a\tb', '"a\\tb"'],
    ['a slash', 'org/hive', '"org/hive"'],
    ['an at sign', 'a@b', '"a@b"'],
    ['a plus', 'a+b', '"a+b"'],
    ['a non-ASCII letter', 'hïve', '"hïve"'],
    ['a quote', 'a"b', '"a\\"b"'],
  ])('rejects %s, naming the field, the charset and the value', (_name, value, quoted) => {
    expect(checkId('hive_id', value)).toBe(`hive_id: must contain only the characters [A-Za-z0-9._:-], got ${quoted}`);
  });

  test('passes an indexed field path through unchanged', () => {
    expect(checkId('workers[3].worker_id', '')).toBe('workers[3].worker_id: must not be empty');
  });

  test('truncates a long bad value in the message to 64 characters', () => {
    const value = '/'.repeat(100);
    expect(checkId('hive_id', value)).toBe(
      `hive_id: must contain only the characters [A-Za-z0-9._:-], got "${'/'.repeat(64)}..."`,
    );
  });
});

describe('checkModelId', () => {
  test.each([
    ['a single character', 'm'],
    ['org/model style', 'meta-llama/Llama-3.1-8B-Instruct'],
    ['punctuation outside the id charset', 'org/model@rev#1+q4_K_M'],
    ['non-ASCII letters', 'モデル/ünïcode'],
    ['exactly 256 characters', 'm'.repeat(256)],
  ])('accepts %s', (_name, value) => {
    expect(checkModelId('model_id', value)).toBeUndefined();
  });

  test('rejects an empty model id, naming the field', () => {
    expect(checkModelId('model_id', '')).toBe('model_id: must not be empty');
  });

  test('rejects 257 characters, naming the field, the limit and the length', () => {
    expect(checkModelId('model_id', 'm'.repeat(257))).toBe('model_id: must be at most 256 characters, got 257');
  });

  test.each([
    ['a space', 'org/my model', '"org/my model"'],
    ['a leading space', ' org/model', '" org/model"'],
    ['a trailing space', 'org/model ', '"org/model "'],
    ['a tab', 'org/\tmodel', '"org/\\tmodel"'],
    ['a newline', 'org/model\n', '"org/model\\n"'],
    ['a carriage return', 'org\r/model', '"org\\r/model"'],
    ['a no-break space', 'org/\u00a0model', '"org/\u00a0model"'],
    ['an em space', 'org/\u2003model', '"org/\u2003model"'],
    ['only whitespace', '   ', '"   "'],
  ])('rejects %s, naming the field and the value', (_name, value, quoted) => {
    expect(checkModelId('model_id', value)).toBe(`model_id: must not contain whitespace, got ${quoted}`);
  });

  test('passes the field name through unchanged', () => {
    expect(checkModelId('workers[0].model_id', 'a b')).toBe('workers[0].model_id: must not contain whitespace, got "a b"');
  });
});

describe('quote', () => {
  test.each([
    ['a short value as JSON', 'abc', undefined, '"abc"'],
    ['an empty value', '', undefined, '""'],
    ['quotes and control characters escaped', 'a"b\\c\n', undefined, '"a\\"b\\\\c\\n"'],
    ['exactly 64 characters untruncated', 'q'.repeat(64), undefined, `"${'q'.repeat(64)}"`],
    ['65 characters cut to 64 plus an ellipsis', 'q'.repeat(65), undefined, `"${'q'.repeat(64)}..."`],
    ['a custom limit', 'abcdef', 3, '"abc..."'],
  ])('shows %s', (_name, value, max, expected) => {
    expect(quote(value, max)).toBe(expected);
  });
});

describe('characters are code points, not UTF-16 units', () => {
  test('a model id of 256 emoji (512 UTF-16 units) is accepted; 257 are rejected with the count in characters', () => {
    expect(checkModelId('model_id', '🦙'.repeat(256))).toBeUndefined();
    expect(checkModelId('model_id', '🦙'.repeat(257))).toBe('model_id: must be at most 256 characters, got 257');
  });

  test('quote never cuts an emoji in half', () => {
    const quoted = quote(`${'a'.repeat(63)}🦙🦙`);
    expect(quoted).toBe(JSON.stringify(`${'a'.repeat(63)}🦙...`));
  });
});
