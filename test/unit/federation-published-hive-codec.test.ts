import { decodeHiveRecord, encodePublishedHive, encodeRemoval } from '../../src/federation/published-hive-codec';
import type { PublishedHive } from '../../src/registry/types';
import { makeDevice, makeWorker } from '../helpers/domain-builders';

const hive: PublishedHive = {
  hiveId: 'hive-1',
  owner: 'queen-a',
  online: true,
  workers: [makeWorker('w1', { modelId: 'm', requestsRunning: 3, kvCacheUsage: 0.25, engine: 'vllm' }), makeWorker('w2')],
  devices: [makeDevice(0, 80 * 2 ** 30)],
  ramTotalBytes: 2 ** 40,
  sequence: 18_446_744_073_709_551_615n,
  senderTime: { seconds: 1_700_000_000, nanos: 5 },
  lastHeartbeatWallMs: 1_700_000_000_123,
};

describe("a hive's record in etcd", () => {
  test('round-trips every field, a uint64 sequence included', () => {
    expect(decodeHiveRecord('hive-1', Buffer.from(encodePublishedHive(hive)))).toEqual({ kind: 'hive', hive });
    const { senderTime: _s, ramTotalBytes: _r, ...bare } = hive;
    expect(decodeHiveRecord('hive-1', Buffer.from(encodePublishedHive(bare)))).toEqual({ kind: 'hive', hive: bare });
  });

  test('a removal names the queen that removed the hive', () => {
    expect(decodeHiveRecord('hive-1', Buffer.from(encodeRemoval('queen-b')))).toEqual({ kind: 'removed', hiveId: 'hive-1', by: 'queen-b' });
  });

  test.each([
    ['not JSON', '{', 'not JSON'],
    ['an array', '[]', 'unknown version'],
    ['another version', JSON.stringify({ v: 2 }), 'unknown version 2'],
    ['no owner', encodePublishedHive(hive).replace('"owner":"queen-a"', '"owner":""'), 'owner'],
    ['a number sequence', encodePublishedHive(hive).replace('"sequence":"18446744073709551615"', '"sequence":5'), 'sequence'],
    ['workers not a list', encodePublishedHive(hive).replace(/"workers":\[.*?\],"devices"/, '"workers":{},"devices"'), 'workers'],
    ['a bad device', encodePublishedHive(hive).replace('"deviceId":0', '"deviceId":-1'), 'devices'],
    ['a bad sender time', encodePublishedHive(hive).replace('"nanos":5', '"nanos":"5"'), 'senderTime'],
  ])('an unreadable record (%s) is refused with a reason, never half-read', (_name, text, reason) => {
    const decoded = decodeHiveRecord('hive-1', Buffer.from(text));
    expect(decoded).toEqual({ error: expect.stringContaining(reason) });
  });
});
