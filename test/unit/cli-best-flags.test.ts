// The flags of `best` as pick options: byte sizes, the reservation TTL, the selector, and every problem at once.
import { bestOptions, parseByteSize, UsageError } from '../../src/cli/operator-commands';

const GiB = 2 ** 30;

describe('parseByteSize', () => {
  test.each([
    ['0', 0],
    ['21474836480', 20 * GiB],
    ['512B', 512],
    ['20GiB', 20 * GiB],
    ['20gib', 20 * GiB],
    ['512MiB', 512 * 2 ** 20],
    ['4KiB', 4_096],
    ['1TiB', 2 ** 40],
    ['80GB', 80e9],
    ['1.5TB', 1.5e12],
    ['1.5GiB', 1.5 * GiB],
    ['2 GiB', 2 * GiB],
    [' 7 ', 7],
    // A fraction of a larger unit is rounded to whole bytes.
    ['0.3KiB', 307],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('%j is %p bytes', (text, bytes) => {
    expect(parseByteSize('--min-vram', text)).toBe(bytes);
  });

  test.each(['', 'lots', '-1', '1.5', '1.5B', '20G', '20 GiBs', '0x10', '1e9', '8192TiB', '9007199254740992'])(
    '%j is a usage error naming the flag and the value',
    (text) => {
      const parse = (): number => parseByteSize('--min-vram', text);
      expect(parse).toThrow(UsageError);
      expect(parse).toThrow(`--min-vram: must be a number of bytes such as 21474836480, 20GiB, 512MiB or 80GB`);
      expect(parse).toThrow(`got ${JSON.stringify(text)}`);
    },
  );
});

describe('bestOptions', () => {
  test('no flags: a plain pick', () => {
    expect(bestOptions({})).toEqual({ reserve: false, selector: {} });
  });

  test('every flag', () => {
    expect(
      bestOptions({ reserve: true, ttl: '2m', minVram: '20GiB', selector: ['zone=eu-1,gpu=h100', 'rack=4'] }),
    ).toEqual({
      reserve: true,
      reservationTtlMs: 120_000,
      minVramBytes: 20 * GiB,
      selector: { zone: 'eu-1', gpu: 'h100', rack: '4' },
    });
    expect(bestOptions({ reserve: true, ttl: '500ms' })).toMatchObject({ reservationTtlMs: 500 });
  });

  test('a TTL over the queen\'s limit is the queen\'s to refuse (it names reservation_ttl)', () => {
    expect(bestOptions({ reserve: true, ttl: '11m' })).toMatchObject({ reservationTtlMs: 660_000 });
  });

  test('every problem at once, in one usage error', () => {
    const parse = (): unknown => bestOptions({ ttl: '0s', minVram: 'big', selector: ['novalue', 'a=1,a=2'] });
    expect(parse).toThrow(UsageError);
    expect(parse).toThrow(
      [
        '--ttl: must be a duration such as 30s or 2m, got "0s"',
        '--ttl: only with --reserve',
        '--min-vram: must be a number of bytes such as 21474836480, 20GiB, 512MiB or 80GB (at most 9007199254740991), got "big"',
        '--selector: expected KEY=VALUE, got "novalue"',
      ].join('; '),
    );
    expect(() => bestOptions({ reserve: true, ttl: 'soon' })).toThrow('--ttl: must be a duration such as 30s or 2m, got "soon"');
    expect(() => bestOptions({ ttl: '30s' })).toThrow(/^--ttl: only with --reserve$/);
  });
});
