// EventLog: numbering, the replay ring and delivery, on their own.
import { EventLog, type PendingEvent } from '../../src/registry/event-log';
import type { RegistryEvent } from '../../src/registry/types';

const online = (hiveId: string): PendingEvent => ({ type: 'hive_online', hiveId, hiveOnline: true });
const revisions = (events: readonly RegistryEvent[] | undefined): number[] | undefined => events?.map((e) => e.revision);

describe('EventLog', () => {
  test('numbers events from 1, one revision each, in the order given', () => {
    const log = new EventLog(3);
    const seen: RegistryEvent[] = [];
    log.subscribe((event) => seen.push(event));
    log.append([online('a'), online('b')]);
    log.append([]);
    log.append([online('c')]);
    expect(seen).toStrictEqual([
      { revision: 1, type: 'hive_online', hiveId: 'a', hiveOnline: true },
      { revision: 2, type: 'hive_online', hiveId: 'b', hiveOnline: true },
      { revision: 3, type: 'hive_online', hiveId: 'c', hiveOnline: true },
    ]);
    expect(log.revision).toBe(3);
  });

  test('the ring keeps the latest historySize events across many wraps', () => {
    const log = new EventLog(3);
    for (let i = 0; i < 10; i++) log.append([online(`h${i}`)]);
    expect(revisions(log.eventsAfter(7))).toEqual([8, 9, 10]);
    expect(log.eventsAfter(7)?.map((e) => e.hiveId)).toEqual(['h7', 'h8', 'h9']);
    expect(revisions(log.eventsAfter(9))).toEqual([10]);
    expect(log.eventsAfter(10)).toEqual([]);
    expect(log.eventsAfter(6)).toBeUndefined();
    expect(log.eventsAfter(11)).toBeUndefined();
  });

  test('defaults to a history of 10,000', () => {
    const log = new EventLog();
    log.append(Array.from({ length: 10_001 }, (_, i) => online(`h${i}`)));
    expect(log.eventsAfter(1)).toHaveLength(10_000);
    expect(log.eventsAfter(0)).toBeUndefined();
  });

  test('a listener that appends sees its events after the ones in delivery, as do the others', () => {
    const log = new EventLog(10);
    const first: number[] = [];
    const second: number[] = [];
    log.subscribe((event) => {
      first.push(event.revision);
      if (event.revision === 1) log.append([online('x')]);
    });
    log.subscribe((event) => second.push(event.revision));
    log.append([online('a'), online('b')]);
    expect(first).toEqual([1, 2, 3]);
    expect(second).toEqual([1, 2, 3]);
    expect(log.revision).toBe(3);
  });

  test('a throwing listener is skipped for that event only', () => {
    const log = new EventLog(10);
    const seen: number[] = [];
    log.subscribe((event) => {
      if (event.revision === 1) throw new Error('boom');
      seen.push(event.revision);
    });
    log.append([online('a'), online('b')]);
    log.append([online('c')]);
    expect(seen).toEqual([2, 3]);
  });

  test('unsubscribing during delivery stops at once', () => {
    const log = new EventLog(10);
    const seen: number[] = [];
    const unsubscribe = log.subscribe((event) => {
      seen.push(event.revision);
      unsubscribe();
    });
    log.append([online('a'), online('b')]);
    expect(seen).toEqual([1]);
  });
});
