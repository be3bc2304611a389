import { queensTable } from '../../src/cli/queen-format';
import { hiveReport } from '../../src/cli/format';
import type { HiveStateView, QueenInfo } from '../../src/client/proto-to-domain';

const NOW = Date.UTC(2026, 0, 1, 12);

const queen = (overrides: Partial<QueenInfo>): QueenInfo => ({
  queenId: 'gpu-queen-1:50051',
  address: 'gpu-queen-1:50051',
  httpAddress: '',
  startedAtMs: NOW - 3 * 3_600_000,
  hives: 12,
  self: false,
  ...overrides,
});

describe('queensTable', () => {
  test('one row per queen in the given order; the one that answered marked; - without an HTTP listener', () => {
    expect(
      queensTable(
        [
          queen({ httpAddress: '10.0.0.1:9090', self: true }),
          queen({ queenId: 'gpu-queen-2:50051', address: '10.0.0.2:50051', startedAtMs: NOW - 4_000, hives: 0 }),
        ],
        NOW,
      ),
    ).toBe(
      [
        'QUEEN              ADDRESS            HTTP           STARTED  HIVES',
        'gpu-queen-1:50051  gpu-queen-1:50051  10.0.0.1:9090  3h ago   12     (this one)',
        'gpu-queen-2:50051  10.0.0.2:50051     -              4s ago   0',
        '',
      ].join('\n'),
    );
  });

  test('text from a queen stays on one line', () => {
    expect(queensTable([queen({ queenId: 'q\n1', address: 'a\u202eb:1' })], NOW).split('\n')[1]).toMatch(/^q 1 {2,}a b:1 /);
  });

  test('no queens at all', () => {
    expect(queensTable([], NOW)).toBe('no queens\n');
  });
});

describe('hiveReport: the owner queen', () => {
  const view: HiveStateView = {
    hiveId: 'hive-a',
    workers: [],
    devices: [],
    online: true,
    lastHeartbeatWallMs: NOW - 2_000,
    sequence: 3n,
    resources: { workerCount: 0, vramUsedBytes: 0n, ramUsedBytes: 0n, vramTotalBytes: 0n, vramFreeBytes: 0n, ramTotalBytes: 0n },
  };

  test('a queen: line under the hive line when the queen names itself; none otherwise', () => {
    expect(hiveReport({ ...view, queenId: 'gpu-queen-1:50051' }, undefined, NOW)).toMatch(
      /^hive: {12}hive-a\nqueen: {11}gpu-queen-1:50051\nstatus: {10}online/,
    );
    expect(hiveReport(view, undefined, NOW)).toMatch(/^hive: {12}hive-a\nstatus: /);
  });
});
