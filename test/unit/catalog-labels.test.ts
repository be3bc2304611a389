import {
  checkDescription,
  checkLabels,
  matchesSelector,
  MAX_DESCRIPTION_LENGTH,
  MAX_LABEL_KEY_LENGTH,
  MAX_LABEL_VALUE_LENGTH,
  MAX_LABELS,
  normalizeLabels,
  type Labels,
} from '../../src/catalog/labels';

/** `count` labels k00..k{count-1}, all with value "v". */
function manyLabels(count: number): Record<string, string> {
  const labels: Record<string, string> = {};
  for (let i = 0; i < count; i += 1) labels[`k${String(i).padStart(2, '0')}`] = 'v';
  return labels;
}

const KEY_63 = 'k'.repeat(MAX_LABEL_KEY_LENGTH);
const KEY_64 = 'k'.repeat(MAX_LABEL_KEY_LENGTH + 1);
const VALUE_63 = 'v'.repeat(MAX_LABEL_VALUE_LENGTH);
const VALUE_64 = 'v'.repeat(MAX_LABEL_VALUE_LENGTH + 1);

describe('limits', () => {
  test('are the documented ones', () => {
    expect([MAX_LABELS, MAX_LABEL_KEY_LENGTH, MAX_LABEL_VALUE_LENGTH, MAX_DESCRIPTION_LENGTH]).toEqual([64, 63, 63, 1024]);
  });
});

describe('checkLabels', () => {
  test.each<[string, Labels]>([
    ['no labels', {}],
    ['a plain key and value', { zone: 'eu-west-1' }],
    ['every allowed key character', { 'Az09._/-': 'x' }],
    ['a key with slashes (domain-prefixed, like Kubernetes)', { 'topology.kubernetes.io/zone': 'eu' }],
    ['every allowed value character', { k: 'Az09._-' }],
    ['an empty value', { cordon: '' }],
    [`a ${MAX_LABEL_KEY_LENGTH}-character key`, { [KEY_63]: 'v' }],
    [`a ${MAX_LABEL_VALUE_LENGTH}-character value`, { k: VALUE_63 }],
    [`${MAX_LABELS} entries`, manyLabels(MAX_LABELS)],
  ])('accepts %s', (_name, labels) => {
    expect(checkLabels('labels', labels)).toBeUndefined();
  });

  test.each<[string, string, Labels, string]>([
    ['an empty key', 'labels', { '': 'x' }, 'labels: keys must not be empty'],
    [
      `a ${MAX_LABEL_KEY_LENGTH + 1}-character key`,
      'labels',
      { [KEY_64]: 'v' },
      `labels: key "${KEY_64}" must be at most 63 characters, got 64`,
    ],
    [
      `a ${MAX_LABEL_VALUE_LENGTH + 1}-character value`,
      'hive.labels',
      { gpu: VALUE_64 },
      'hive.labels["gpu"]: value must be at most 63 characters, got 64',
    ],
    [
      'a space in a key',
      'labels',
      { 'gpu model': 'a100' },
      'labels: key "gpu model" must contain only the characters [A-Za-z0-9._/-]',
    ],
    ['a colon in a key', 'selector', { 'gpu:model': 'a100' }, 'selector: key "gpu:model" must contain only the characters [A-Za-z0-9._/-]'],
    ['a non-ASCII key', 'labels', { 'gpü': 'x' }, 'labels: key "gpü" must contain only the characters [A-Za-z0-9._/-]'],
    [
      'a space in a value',
      'labels',
      { gpu: 'a 100' },
      'labels["gpu"]: value must contain only the characters [A-Za-z0-9._-], got "a 100"',
    ],
    [
      'a slash in a value (allowed in keys only)',
      'labels',
      { 'example.com/zone': 'eu/west' },
      'labels["example.com/zone"]: value must contain only the characters [A-Za-z0-9._-], got "eu/west"',
    ],
    [
      'a newline in a value',
      'selector',
      { zone: 'eu\n' },
      'selector["zone"]: value must contain only the characters [A-Za-z0-9._-], got "eu\\n"',
    ],
    [
      `${MAX_LABELS + 1} entries`,
      'hive.labels',
      manyLabels(MAX_LABELS + 1),
      'hive.labels: at most 64 entries, got 65',
    ],
  ])('rejects %s, naming the field and key', (_name, field, labels, expected) => {
    expect(checkLabels(field, labels)).toBe(expected);
  });

  test('reports the first problem in key order, whatever the map order', () => {
    const problems: Labels = { zzz: 'bad value', 'a b': 'x' };
    const reversed: Labels = { 'a b': 'x', zzz: 'bad value' };
    const expected = 'labels: key "a b" must contain only the characters [A-Za-z0-9._/-]';
    expect(checkLabels('labels', problems)).toBe(expected);
    expect(checkLabels('labels', reversed)).toBe(expected);
  });
});

describe('checkDescription', () => {
  test.each<[string, string]>([
    ['an empty description', ''],
    [`${MAX_DESCRIPTION_LENGTH} ASCII characters`, 'a'.repeat(MAX_DESCRIPTION_LENGTH)],
    [`${MAX_DESCRIPTION_LENGTH} astral characters (2 UTF-16 units each)`, '😀'.repeat(MAX_DESCRIPTION_LENGTH)],
    [`${MAX_DESCRIPTION_LENGTH - 1} ASCII characters and one astral one`, `${'a'.repeat(MAX_DESCRIPTION_LENGTH - 1)}😀`],
    ['tab and newline', 'rack 4\tslot 2\nsecond line'],
    ['non-ASCII text', 'Salle serveur à Zürich, 東京'],
  ])('accepts %s', (_name, description) => {
    expect(checkDescription('description', description)).toBeUndefined();
  });

  test.each<[string, string, number]>([
    [`${MAX_DESCRIPTION_LENGTH + 1} ASCII characters`, 'a'.repeat(MAX_DESCRIPTION_LENGTH + 1), 1025],
    [`${MAX_DESCRIPTION_LENGTH + 1} astral characters`, '😀'.repeat(MAX_DESCRIPTION_LENGTH + 1), 1025],
    ['1024 ASCII characters and one astral one', `${'a'.repeat(MAX_DESCRIPTION_LENGTH)}😀`, 1025],
  ])('rejects %s, counting code points', (_name, description, count) => {
    expect(checkDescription('hive.description', description)).toBe(
      `hive.description: must be at most 1024 characters, got ${count}`,
    );
  });

  const CONTROL_MESSAGE = 'description: must not contain control characters (tab and newline are fine)';

  test.each<[string, string]>([
    ['NUL', 'a\u0000b'],
    ['BEL', 'ding\u0007'],
    ['carriage return (forges log lines)', 'ok\rFAKE LINE'],
    ['vertical tab', 'a\u000bb'],
    ['form feed', 'a\u000cb'],
    ['ESC (terminal escape sequences)', '\u001b[31mred'],
    ['unit separator (last C0 control)', 'a\u001fb'],
    ['DEL', 'a\u007fb'],
  ])('rejects the C0 control character %s', (_name, description) => {
    expect(checkDescription('description', description)).toBe(CONTROL_MESSAGE);
  });

  // "No control characters" per Unicode (general category Cc) includes the C1 range U+0080-U+009F: NEL is a line
  // break to many tools and CSI starts an escape sequence in terminals that honour 8-bit controls.
  test.each<[string, string]>([
    ['NEL U+0085 (next line)', 'ok\u0085FAKE LINE'],
    ['CSI U+009B (control sequence introducer)', '\u009b31mred'],
    ['U+0080 (first C1 control)', 'a\u0080b'],
  ])('rejects the C1 control character %s', (_name, description) => {
    expect(checkDescription('description', description)).toBe(CONTROL_MESSAGE);
  });
});

describe('matchesSelector', () => {
  test.each<[string, Labels, Labels, boolean]>([
    ['empty selector, no labels', {}, {}, true],
    ['empty selector, some labels', { zone: 'eu', gpu: 'a100' }, {}, true],
    ['selector equal to labels', { zone: 'eu' }, { zone: 'eu' }, true],
    ['selector a subset of labels', { zone: 'eu', gpu: 'a100', rack: '4' }, { zone: 'eu', gpu: 'a100' }, true],
    ['empty value on both sides', { cordon: '' }, { cordon: '' }, true],
    ['key missing from labels', { zone: 'eu' }, { gpu: 'a100' }, false],
    ['one of two keys missing', { zone: 'eu' }, { zone: 'eu', gpu: 'a100' }, false],
    ['different value', { zone: 'eu' }, { zone: 'us' }, false],
    ['value differs only by case', { zone: 'eu' }, { zone: 'EU' }, false],
    ['empty selector value, key missing from labels', {}, { cordon: '' }, false],
    ['"constructor" not in labels', {}, { constructor: '' }, false],
    ['"toString" not in labels', { zone: 'eu' }, { toString: 'x' }, false],
    ['"hasOwnProperty" not in labels', {}, { hasOwnProperty: 'x' }, false],
    ['"constructor" as a real label', { constructor: 'x' }, { constructor: 'x' }, true],
    ['"toString" as a real label, different value', { toString: 'x' }, { toString: 'y' }, false],
  ])('%s', (_name, labels, selector, expected) => {
    expect(matchesSelector(labels, selector)).toBe(expected);
  });

  test('a key inherited by the labels object (not its own) does not match', () => {
    const labels = Object.create({ zone: 'eu' }) as Labels;
    expect(labels['zone']).toBe('eu');
    expect(matchesSelector(labels, { zone: 'eu' })).toBe(false);
  });

  test('a "__proto__" key decoded from JSON is an ordinary key', () => {
    const selector = JSON.parse('{"__proto__": "x"}') as Labels;
    expect(matchesSelector({}, selector)).toBe(false);
    expect(matchesSelector({ zone: 'eu' }, selector)).toBe(false);
  });
});

describe('normalizeLabels', () => {
  test('returns a frozen copy with keys in sorted order', () => {
    const input: Record<string, string> = { zone: 'eu', gpu: 'a100', 'a/b': '', rack: '4' };
    const normalized = normalizeLabels(input);
    expect(Object.keys(normalized)).toEqual(['a/b', 'gpu', 'rack', 'zone']);
    expect(JSON.stringify(normalized)).toBe('{"a/b":"","gpu":"a100","rack":"4","zone":"eu"}');
    expect(normalized).toEqual(input);
    expect(normalized).not.toBe(input);
    expect(Object.isFrozen(normalized)).toBe(true);
    expect(Object.isFrozen(input)).toBe(false);
    expect(() => {
      (normalized as Record<string, string>)['zone'] = 'us';
    }).toThrow(TypeError);
    expect(normalized['zone']).toBe('eu');
  });

  test('gives the same JSON whatever the input order (integer-like keys included)', () => {
    const a = normalizeLabels({ b: '1', '10': 'x', a: '2', '9': 'y' });
    const b = normalizeLabels({ '9': 'y', a: '2', '10': 'x', b: '1' });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a).toEqual({ a: '2', b: '1', '9': 'y', '10': 'x' });
  });

  test('of no labels is an empty frozen object', () => {
    const normalized = normalizeLabels({});
    expect(normalized).toEqual({});
    expect(Object.isFrozen(normalized)).toBe(true);
  });

  // checkLabels accepts "__proto__" (only allowed characters) and protobuf-es decodes a map entry with that key as an
  // own property, so a registered hive can carry it: normalizing must not drop it.
  test('keeps a valid "__proto__" key as an own label', () => {
    const labels = JSON.parse('{"zone": "eu", "__proto__": "x"}') as Labels;
    expect(checkLabels('labels', labels)).toBeUndefined();
    const normalized = normalizeLabels(labels);
    expect(Object.keys(normalized)).toEqual(['__proto__', 'zone']);
    expect(matchesSelector(normalized, labels)).toBe(true);
  });
});
