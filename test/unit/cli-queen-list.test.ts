import { MAX_QUEENS, parseQueenList, queensFrom } from '../../src/cli/queen-list';

const queens = (text: string): readonly string[] | string[] => {
  const parsed = parseQueenList(text);
  return parsed.ok ? parsed.queens : parsed.problems;
};

describe('parseQueenList (--queen, HIVE_REGISTRY_QUEEN)', () => {
  test.each([
    ['127.0.0.1:50051', ['127.0.0.1:50051']],
    ['[::1]:6000', ['[::1]:6000']],
    ['q1.internal:50051,q2.internal:50051', ['q1.internal:50051', 'q2.internal:50051']],
    ['10.0.0.1:1, 10.0.0.2:2 ,[::1]:3', ['10.0.0.1:1', '10.0.0.2:2', '[::1]:3']],
    ['[fe80::1]:50051,[2001:db8::7]:50051', ['[fe80::1]:50051', '[2001:db8::7]:50051']],
  ])('%j is the list %j, in order', (text, expected) => {
    expect(parseQueenList(text)).toEqual({ ok: true, queens: expected });
  });

  test('a single address is checked exactly as before, with the same message', () => {
    expect(queens('no-port')).toEqual(['must be HOST:PORT or [IPv6]:PORT, got "no-port"']);
    expect(queens('127.0.0.1:65536')).toEqual(['port must be 0 to 65535, got 65536']);
  });

  test.each([
    ['127.0.0.1:1,no-port', ['must be HOST:PORT or [IPv6]:PORT, got "no-port"']],
    ['127.0.0.1:1,127.0.0.1:70000', ['"127.0.0.1:70000": port must be 0 to 65535, got 70000']],
    ['[::1]:1,[not-v6]:2', ['"[not-v6]:2": "not-v6" is not an IPv6 address']],
    ['::1:50051,127.0.0.1:1', ['must be HOST:PORT or [IPv6]:PORT, got "::1:50051"']],
    ['bad_host:1,ok:2', ['"bad_host:1": "bad_host" is not a host name']],
    ['127.0.0.1:1,', ['entry 2 of "127.0.0.1:1," is empty']],
    [',127.0.0.1:1', ['entry 1 of ",127.0.0.1:1" is empty']],
    ['a:1,b:2,a:1', ['"a:1" is given twice']],
    ['Queen.Example:1,queen.example:1', ['"queen.example:1" is given twice']],
    ['[::1]:5,[::1]:5', ['"[::1]:5" is given twice']],
    ['x,a:1,a:1', ['must be HOST:PORT or [IPv6]:PORT, got "x"', '"a:1" is given twice']],
  ])('%j is refused, naming the entry: %j', (text, problems) => {
    expect(parseQueenList(text)).toEqual({ ok: false, problems });
  });

  test(`at most ${MAX_QUEENS} queens`, () => {
    const list = (n: number): string => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:50051`).join(',');
    expect(queens(list(MAX_QUEENS))).toHaveLength(MAX_QUEENS);
    expect(queens(list(MAX_QUEENS + 1))).toEqual([`at most ${MAX_QUEENS} queens, got ${MAX_QUEENS + 1}`]);
  });
});

describe('queensFrom: --queen, else HIVE_REGISTRY_QUEEN, else the default', () => {
  const fallback = '127.0.0.1:50051';
  test.each([
    ['a:1,b:2', { HIVE_REGISTRY_QUEEN: 'c:3' }, ['a:1', 'b:2']],
    [undefined, { HIVE_REGISTRY_QUEEN: 'c:3,d:4' }, ['c:3', 'd:4']],
    [undefined, { HIVE_REGISTRY_QUEEN: '' }, [fallback]],
    [undefined, {}, [fallback]],
  ])('flag %j with env %j: %j', (flag, env, expected) => {
    expect(queensFrom(flag, env, fallback)).toEqual({ ok: true, queens: expected });
  });

  test('a problem says where the list came from', () => {
    expect(queensFrom('a:1,a:1', {}, fallback)).toEqual({ ok: false, problems: ['--queen: "a:1" is given twice'] });
    expect(queensFrom(undefined, { HIVE_REGISTRY_QUEEN: 'a:1,nope' }, fallback)).toEqual({
      ok: false,
      problems: ['HIVE_REGISTRY_QUEEN: must be HOST:PORT or [IPv6]:PORT, got "nope"'],
    });
  });
});
