import { AddressCounts, peerAddress, RateAllowance, UnboundStreams } from '../../src/server/stream-limits';

describe('peerAddress', () => {
  test.each([
    ['127.0.0.1:54321', '127.0.0.1'],
    ['[::1]:54321', '::1'],
    ['[2001:db8::7]:50051', '2001:db8::7'],
    ['unix:/tmp/queen.sock', 'unix:/tmp/queen.sock'],
    ['no-port', 'no-port'],
  ])('%s counts as %s', (peer, address) => {
    expect(peerAddress(peer)).toBe(address);
  });
});

describe('AddressCounts', () => {
  test('counts per address and forgets an address at zero', () => {
    const counts = new AddressCounts();
    counts.add('a');
    counts.add('a');
    counts.add('b');
    expect([counts.of('a'), counts.of('b'), counts.of('c')]).toEqual([2, 1, 0]);
    counts.remove('a');
    counts.remove('b');
    counts.remove('b');
    expect([counts.of('a'), counts.of('b')]).toEqual([1, 0]);
  });
});

describe('RateAllowance', () => {
  test('a burst of `rate`, then one more every interval / rate, never more than `rate` saved up', () => {
    const bucket = new RateAllowance(4, 1_000, 0);
    expect([0, 0, 0, 0, 0].map((t) => bucket.take(t))).toEqual([true, true, true, true, false]);
    expect(bucket.take(249)).toBe(false);
    expect(bucket.take(250)).toBe(true);
    expect(bucket.take(250)).toBe(false);
    // A long quiet spell saves up at most `rate`.
    expect([10_000, 10_000, 10_000, 10_000, 10_000].map((t) => bucket.take(t))).toEqual([true, true, true, true, false]);
  });

  test('a clock that steps back refills nothing', () => {
    const bucket = new RateAllowance(1, 1_000, 5_000);
    expect(bucket.take(5_000)).toBe(true);
    expect(bucket.take(1_000)).toBe(false);
  });
});

describe('UnboundStreams', () => {
  test('overdue lists the streams past the timeout, oldest first; bound ones are gone', () => {
    const unbound = new UnboundStreams();
    unbound.add(1, 0);
    unbound.add(2, 100);
    unbound.add(3, 200);
    unbound.remove(2);
    expect(unbound.overdue(10_099, 10_000)).toEqual([1]);
    expect(unbound.overdue(10_200, 10_000)).toEqual([1, 3]);
    expect(unbound.overdue(5_000, 10_000)).toEqual([]);
  });
});
