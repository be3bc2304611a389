import { CompactMultimap } from '../../src/common/compact-multimap';

describe('CompactMultimap', () => {
  test('a key with one value, then two, then one again, then none', () => {
    const map = new CompactMultimap<string, string>();
    expect(map.count('w1')).toBe(0);
    expect([...map.values('w1')]).toEqual([]);

    map.add('w1', 'hive-a');
    map.add('w1', 'hive-a');
    expect(map.count('w1')).toBe(1);
    expect(map.has('w1', 'hive-a')).toBe(true);
    expect(map.has('w1', 'hive-b')).toBe(false);
    expect([...map.values('w1')]).toEqual(['hive-a']);

    map.add('w1', 'hive-b');
    map.add('w1', 'hive-c');
    expect(map.count('w1')).toBe(3);
    expect([...map.values('w1')]).toEqual(['hive-a', 'hive-b', 'hive-c']);

    map.delete('w1', 'hive-a');
    map.delete('w1', 'hive-c');
    expect(map.count('w1')).toBe(1);
    expect(map.has('w1', 'hive-b')).toBe(true);
    expect([...map.values('w1')]).toEqual(['hive-b']);

    map.delete('w1', 'hive-x');
    expect(map.count('w1')).toBe(1);
    map.delete('w1', 'hive-b');
    expect(map.count('w1')).toBe(0);
    expect(map.has('w1', 'hive-b')).toBe(false);
  });

  test('keys are independent; object values are told apart by identity', () => {
    const map = new CompactMultimap<string, { id: number }>();
    const one = { id: 1 };
    const same = { id: 1 };
    map.add('w1', one);
    map.add('w1', same);
    map.add('w2', one);
    expect(map.count('w1')).toBe(2);
    expect(map.count('w2')).toBe(1);
    map.delete('w1', one);
    expect([...map.values('w1')]).toEqual([same]);
    expect([...map.values('w1')][0]).toBe(same);
    expect(map.has('w2', one)).toBe(true);
  });
});
