// Golden output of the operator tables: the same data and the same "now" always print the same text.
import type { CatalogHive, HiveToken } from '../../src/client/proto-to-domain';
import { computeResources } from '../../src/registry/resources';
import type { HiveView } from '../../src/registry/types';
import type { Device, Worker } from '../../src/common/worker';
import {
  age,
  bestReport,
  catalogReport,
  catalogTable,
  cordonNote,
  duration,
  exclusionNote,
  gib,
  hiveReport,
  hivesTable,
  issuedTokenNote,
  percent,
  releaseNote,
  table,
  tokensTable,
  watchLine,
  workersTable,
} from '../../src/cli/format';
import { kvCell, printable, requestsCell } from '../../src/cli/engine-format';

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const GiB = 1024 ** 3;

const worker = (workerId: string, overrides: Partial<Worker> = {}): Worker => ({
  workerId,
  state: 'idle',
  url: `http://10.0.0.1:9300/${workerId}`,
  backend: 'cuda',
  health: 'healthy',
  ...overrides,
});

function hive(hiveId: string, workers: Worker[], devices: Device[], online: boolean, lastMs: number): HiveView {
  return {
    hiveId,
    workers,
    devices,
    online,
    lastHeartbeatWallMs: lastMs,
    sequence: 42n,
    resources: computeResources(workers, devices, 512 * GiB),
  };
}

const A100 = (deviceId: number): Device => ({ deviceId, backend: 'cuda', name: 'NVIDIA A100 80GB', vramTotalBytes: 80 * GiB });

const hiveA = hive(
  'hive-a',
  [
    worker('a-0', { modelId: 'meta/llama-3-8b', deviceId: 0, vramBytes: 16 * GiB, gpuPercent: 35 }),
    worker('a-1', { state: 'busy', modelId: 'qwen/qwen2-7b', deviceId: 1, vramBytes: 8 * GiB, gpuPercent: 90.4 }),
  ],
  [A100(0), A100(1)],
  true,
  NOW - 3_000,
);
const hiveB = hive('hive-b', [worker('b-0', { health: 'degraded' })], [], false, NOW - 125_000);

/** A hive running real engines: vLLM serving, llama.cpp loading, Ollama (no request figures), one unreachable. */
const hiveE = hive(
  'gpu-node-1',
  [
    worker('gpu-node-1-8000', {
      state: 'busy',
      modelId: 'meta-llama/Llama-3.1-8B-Instruct',
      deviceId: 0,
      vramBytes: 70 * GiB,
      gpuPercent: 97,
      maxConcurrency: 8,
      requestsRunning: 8,
      requestsWaiting: 3,
      kvCacheUsage: 0.8125,
      engine: 'vllm',
      engineVersion: '0.6.3.post1',
      contextLength: 131_072,
    }),
    worker('gpu-node-1-8080', {
      state: 'loading',
      modelId: 'qwen2.5-7b',
      backend: 'cpu',
      requestsRunning: 0,
      engine: 'llama.cpp',
      engineVersion: 'b4567 (3f1d6f9)',
      statusMessage: 'Loading model',
    }),
    worker('gpu-node-1-11434-llama3', { modelId: 'llama3:8b', engine: 'ollama', engineVersion: '0.5.7', contextLength: 8_192 }),
    worker('gpu-node-1-9000', { state: 'error', health: 'degraded', engine: 'sglang', statusMessage: 'connection refused\n\u001b[31mECONNREFUSED\u001b[0m' }),
  ],
  [A100(0)],
  true,
  NOW - 1_000,
);

describe('format', () => {
  test.each([
    [undefined, 'never'],
    [NOW - 400, 'just now'],
    [NOW - 3_000, '3s ago'],
    [NOW - 119_999, '119s ago'],
    [NOW - 120_000, '2m ago'],
    [NOW - 3 * 3_600_000, '3h ago'],
    [NOW - 72 * 3_600_000, '3d ago'],
  ])('age(%p) is %p', (then, expected) => {
    expect(age(then, NOW)).toBe(expected);
  });

  test('gib and percent', () => {
    expect([gib(16 * GiB), gib(1.5 * GiB), gib(0n), percent(undefined), percent(90.4), percent(0)]).toEqual([
      '16.0',
      '1.5',
      '0.0',
      '-',
      '90%',
      '0%',
    ]);
  });

  test('engine cells: running/waiting, KV cache, printable text', () => {
    const w = (overrides: Partial<Worker>) => worker('w', overrides);
    expect([
      requestsCell(w({})),
      requestsCell(w({ requestsRunning: 3, requestsWaiting: 1 })),
      requestsCell(w({ requestsRunning: 0 })),
      requestsCell(w({ requestsWaiting: 2 })),
      kvCell(w({})),
      kvCell(w({ kvCacheUsage: 0 })),
      kvCell(w({ kvCacheUsage: 0.375 })),
      kvCell(w({ kvCacheUsage: 1 })),
      printable('a\tb\r\nc\u0007d\u202ee\u2028f'),
    ]).toEqual(['-', '3/1', '0/-', '-/2', '-', '0%', '38%', '100%', 'a b c d e f']);
  });

  test('table aligns columns and trims trailing blanks', () => {
    expect(table(['A', 'LONGER'], [['xxx', ''], ['y', 'z']])).toBe('A    LONGER\nxxx\ny    z\n');
  });

  test('hives', () => {
    expect(hivesTable([hiveA, hiveB], NOW)).toBe(
      [
        'HIVE    STATUS   LAST HEARTBEAT  WORKERS  IDLE  GPU LOAD  VRAM USED / TOTAL',
        'hive-a  online   3s ago          2        1     63%       24.0 / 160.0 GiB',
        'hive-b  offline  2m ago          1        1     -         0.0 GiB',
        '',
      ].join('\n'),
    );
    expect(hivesTable([], NOW)).toBe('no hives in the registry\n');
    // Held by one queen: no QUEEN column; by several (a federation): which queen holds each.
    expect(hivesTable([{ ...hiveA, queenId: 'q1' }, { ...hiveB, queenId: 'q1' }], NOW)).not.toContain('QUEEN');
    expect(hivesTable([{ ...hiveA, queenId: 'q1' }, { ...hiveB, queenId: 'q2' }], NOW)).toBe(
      [
        'HIVE    STATUS   QUEEN  LAST HEARTBEAT  WORKERS  IDLE  GPU LOAD  VRAM USED / TOTAL',
        'hive-a  online   q1     3s ago          2        1     63%       24.0 / 160.0 GiB',
        'hive-b  offline  q2     2m ago          1        1     -         0.0 GiB',
        '',
      ].join('\n'),
    );
  });

  test('workers, with and without the hive status column', () => {
    const entries = [
      { hiveId: 'hive-a', worker: hiveA.workers[0]!, hiveOnline: true },
      { hiveId: 'hive-b', worker: hiveB.workers[0]!, hiveOnline: false },
    ];
    expect(workersTable(entries, true)).toBe(
      [
        'HIVE    HIVE STATUS  WORKER  STATE  MODEL            ENGINE  DEVICE  GPU  VRAM      RUN/WAIT  KV  HEALTH    URL',
        'hive-a  online       a-0     idle   meta/llama-3-8b  -       cuda:0  35%  16.0 GiB  -         -   healthy   http://10.0.0.1:9300/a-0',
        'hive-b  offline      b-0     idle   -                -       cuda    -    -         -         -   degraded  http://10.0.0.1:9300/b-0',
        '',
      ].join('\n'),
    );
    expect(workersTable(entries.slice(0, 1), false).split('\n')[0]).toBe(
      'HIVE    WORKER  STATE  MODEL            ENGINE  DEVICE  GPU  VRAM      RUN/WAIT  KV  HEALTH   URL',
    );
    expect(workersTable([], false)).toBe('no matching workers\n');
  });

  test('workers of engines: engine, device, running/waiting and KV cache, `-` for what is not reported', () => {
    const entries = hiveE.workers.map((w) => ({ hiveId: 'gpu-node-1', worker: w, hiveOnline: true }));
    expect(workersTable(entries, false)).toBe(
      [
        'HIVE        WORKER                   STATE    MODEL                             ENGINE     DEVICE  GPU  VRAM      RUN/WAIT  KV   HEALTH    URL',
        'gpu-node-1  gpu-node-1-8000          busy     meta-llama/Llama-3.1-8B-Instruct  vllm       cuda:0  97%  70.0 GiB  8/3       81%  healthy   http://10.0.0.1:9300/gpu-node-1-8000',
        'gpu-node-1  gpu-node-1-8080          loading  qwen2.5-7b                        llama.cpp  cpu     -    -         0/-       -    healthy   http://10.0.0.1:9300/gpu-node-1-8080',
        'gpu-node-1  gpu-node-1-11434-llama3  idle     llama3:8b                         ollama     cuda    -    -         -         -    healthy   http://10.0.0.1:9300/gpu-node-1-11434-llama3',
        'gpu-node-1  gpu-node-1-9000          error    -                                 sglang     cuda    -    -         -         -    degraded  http://10.0.0.1:9300/gpu-node-1-9000',
        '',
      ].join('\n'),
    );
  });

  test('one hive of engines in full: versions, context lengths and status messages in a table of their own', () => {
    const text = hiveReport(hiveE, undefined, NOW);
    expect(text.slice(text.indexOf('WORKER                   ENGINE'))).toBe(
      [
        'WORKER                   ENGINE                     CONTEXT  STATUS',
        'gpu-node-1-8000          vllm 0.6.3.post1           131072   -',
        'gpu-node-1-8080          llama.cpp b4567 (3f1d6f9)  -        Loading model',
        'gpu-node-1-11434-llama3  ollama 0.5.7               8192     -',
        // A hive's text never breaks the line or reaches the terminal as an escape sequence.
        'gpu-node-1-9000          sglang                     -        connection refused [31mECONNREFUSED [0m',
        '',
      ].join('\n'),
    );
    // Without any engine figure (hive-a), no such table.
    expect(hiveReport(hiveA, undefined, NOW)).not.toContain('CONTEXT');
  });

  test('best: the engine, its requests, KV cache, context length and status when reported', () => {
    const vllm = { hiveId: 'gpu-node-1', worker: hiveE.workers[0]!, hiveOnline: true };
    expect(bestReport('meta-llama/Llama-3.1-8B-Instruct', { entry: vllm, modelLoaded: true })).toBe(
      [
        'gpu-node-1/gpu-node-1-8000  http://10.0.0.1:9300/gpu-node-1-8000',
        '  why:      the idle worker with meta-llama/Llama-3.1-8B-Instruct loaded and the lowest load (then KV cache use, then GPU load)',
        '  model:    meta-llama/Llama-3.1-8B-Instruct',
        '  load:     GPU 97%, CPU -, VRAM 70.0 GiB, KV cache 81%',
        '  requests: 8 running, 3 waiting',
        '  slots:    8 (requests at once)',
        '  backend:  cuda, device 0',
        '  engine:   vllm 0.6.3.post1, context 131072 tokens',
        '',
      ].join('\n'),
    );
    const loading = { hiveId: 'gpu-node-1', worker: hiveE.workers[1]!, hiveOnline: true };
    expect(bestReport('qwen2.5-7b', { entry: loading, modelLoaded: true })).toContain(
      '  load:     GPU -, CPU -\n  requests: 0 running\n  backend:  cpu\n  engine:   llama.cpp b4567 (3f1d6f9)\n  status:   Loading model\n',
    );
    const versionOnly = { ...vllm, worker: { ...vllm.worker, engine: undefined, contextLength: undefined, requestsRunning: undefined } };
    expect(bestReport('m', { entry: versionOnly, modelLoaded: true })).toContain('  requests: 3 waiting\n');
    expect(bestReport('m', { entry: versionOnly, modelLoaded: true })).toContain('  engine:   0.6.3.post1\n');
  });

  test('watch lines show the engine figures when reported', () => {
    const line = (worker: Worker) =>
      watchLine({ revision: 12, epoch: 'e', type: 'worker_upserted', hiveId: 'gpu-node-1', hiveOnline: true, workerId: worker.workerId, worker });
    expect(line(hiveE.workers[0]!)).toBe(
      '    12  worker_upserted  gpu-node-1/gpu-node-1-8000  busy  meta-llama/Llama-3.1-8B-Instruct  GPU 97%  healthy  requests 8/3  KV 81%\n',
    );
    expect(line(hiveA.workers[0]!)).toBe('    12  worker_upserted  gpu-node-1/a-0  idle  meta/llama-3-8b  GPU 35%  healthy\n');
  });

  test('one hive in full, with its catalog labels', () => {
    const catalog: CatalogHive = {
      hiveId: 'hive-a',
      labels: { gpu: 'a100', zone: 'eu-1' },
      description: 'rack 3',
      createdAtMs: NOW - 86_400_000,
      updatedAtMs: NOW - 60_000,
      lastSeenMs: NOW - 3_000,
      lastPeer: '10.0.0.1:50000',
      cordoned: false,
      online: true,
    };
    expect(hiveReport(hiveA, catalog, NOW)).toBe(
      [
        'hive:            hive-a',
        'status:          online (last heartbeat 3s ago, sequence 42)',
        'workers:         2 (1 idle)',
        'vram:            24.0 GiB used of 160.0 GiB, 136.0 GiB free',
        'ram:             0.0 GiB used of 512.0 GiB',
        'labels:          gpu=a100,zone=eu-1',
        'description:     rack 3',
        '',
        'DEVICE  BACKEND  NAME              VRAM',
        '0       cuda     NVIDIA A100 80GB  80.0 GiB',
        '1       cuda     NVIDIA A100 80GB  80.0 GiB',
        '',
        'WORKER  STATE  MODEL            ENGINE  DEVICE  GPU  VRAM      RUN/WAIT  KV  HEALTH   URL',
        'a-0     idle   meta/llama-3-8b  -       cuda:0  35%  16.0 GiB  -         -   healthy  http://10.0.0.1:9300/a-0',
        'a-1     busy   qwen/qwen2-7b    -       cuda:1  90%  8.0 GiB   -         -   healthy  http://10.0.0.1:9300/a-1',
        '',
      ].join('\n'),
    );
    expect(hiveReport(hiveB, undefined, NOW)).toContain('vram:            0.0 GiB used (no devices reported)\n');
  });

  test('best: the pick and why, for a loaded model and for the fallback', () => {
    const entry = { hiveId: 'hive-a', worker: hiveA.workers[0]!, hiveOnline: true };
    expect(bestReport('meta/llama-3-8b', { entry, modelLoaded: true })).toBe(
      [
        'hive-a/a-0  http://10.0.0.1:9300/a-0',
        '  why:      the idle worker with meta/llama-3-8b loaded and the lowest load (then KV cache use, then GPU load)',
        '  model:    meta/llama-3-8b',
        '  load:     GPU 35%, CPU -, VRAM 16.0 GiB',
        '  backend:  cuda, device 0',
        '',
      ].join('\n'),
    );
    expect(bestReport('mistral/7b', { entry, modelLoaded: false })).toContain(
      '  why:      no idle worker has mistral/7b loaded: the idle worker with the lowest load, to load it on\n' +
        '  model:    meta/llama-3-8b (not the one asked for)\n',
    );
  });

  test.each([
    [0, '0ms'],
    [-20, '0ms'],
    [500, '500ms'],
    [1_000, '1s'],
    [30_000, '30s'],
    [90_000, '90s'],
    [119_400, '119s'],
    [120_000, '2m'],
    [150_000, '2m 30s'],
    [600_000, '10m'],
  ])('duration(%p) is %p', (ms, expected) => {
    expect(duration(ms)).toBe(expected);
  });

  test('best with a reservation: the id, its TTL and how to release it; the slots when reported', () => {
    const entry = { hiveId: 'hive-a', worker: { ...hiveA.workers[0]!, maxConcurrency: 4 }, hiveOnline: true };
    const reservationId = '0ae34a06-88df-4358-bfc0-e329fa83dca1';
    expect(bestReport('meta/llama-3-8b', { entry, modelLoaded: true, reservationId }, 30_000)).toBe(
      [
        'hive-a/a-0  http://10.0.0.1:9300/a-0',
        '  why:      the idle worker with meta/llama-3-8b loaded and the lowest load (then KV cache use, then GPU load)',
        '  model:    meta/llama-3-8b',
        '  load:     GPU 35%, CPU -, VRAM 16.0 GiB',
        '  slots:    4 (requests at once)',
        '  backend:  cuda, device 0',
        '  reserved: 0ae34a06-88df-4358-bfc0-e329fa83dca1 (one slot, held for 30s unless released)',
        'release it when the request is done: hive-registry release 0ae34a06-88df-4358-bfc0-e329fa83dca1 (with --failed if it failed)',
        '',
      ].join('\n'),
    );
    expect(bestReport('meta/llama-3-8b', { entry, modelLoaded: true, reservationId: 'r-1' }, 150_000)).toContain(
      '  reserved: r-1 (one slot, held for 2m 30s unless released)\n',
    );
    expect(bestReport('meta/llama-3-8b', { entry, modelLoaded: true, reservationId: 'r-1' })).toContain(
      '  reserved: r-1 (one slot, held until released or its TTL ends)\n',
    );
    // No reservation: no reservation lines, even when a TTL is passed.
    const plain = bestReport('meta/llama-3-8b', { entry, modelLoaded: true }, 30_000);
    expect(plain).not.toMatch(/reserved|release/);
    expect(plain).toContain('  slots:    4 (requests at once)\n');
  });

  test('release and report-failure: what each says', () => {
    expect(releaseNote('r-1', true, true)).toBe('released reservation r-1\n');
    expect(releaseNote('r-1', true, false)).toBe('released reservation r-1, its request reported as failed\n');
    expect(releaseNote('r-1', false, true)).toBe('reservation r-1 is unknown or expired: nothing to release\n');
    expect(releaseNote('r-1', false, false)).toBe('reservation r-1 is unknown or expired: nothing to release\n');
    expect(exclusionNote('a-0', NOW + 1_000, NOW + 5)).toBe('worker a-0 is not picked until 2026-11-30T12:00:01.000Z (in about 1s)\n');
    expect(exclusionNote('a-0', NOW + 300_000, NOW)).toBe('worker a-0 is not picked until 2026-11-30T12:05:00.000Z (in about 5m)\n');
    expect(exclusionNote('a-0', NOW + 120, NOW)).toBe('worker a-0 is not picked until 2026-11-30T12:00:00.120Z (in about 120ms)\n');
    // A CLI clock ahead of the queen's: never a negative span.
    expect(exclusionNote('a-0', NOW, NOW + 2_000)).toBe('worker a-0 is not picked until 2026-11-30T12:00:00.000Z (in about 0ms)\n');
  });

  test('catalog list and get', () => {
    const never: CatalogHive = {
      hiveId: 'hive-z',
      labels: {},
      description: 'spare\nnode',
      createdAtMs: NOW - 1_000,
      updatedAtMs: NOW - 1_000,
      lastPeer: '',
      cordoned: true,
      online: false,
    };
    expect(catalogTable([never], NOW)).toBe(
      ['HIVE    STATUS            LAST SEEN  LABELS  DESCRIPTION', 'hive-z  offline,cordoned  never      -       spare node', ''].join(
        '\n',
      ),
    );
    expect(catalogReport(never, NOW)).toBe(
      [
        'hive:         hive-z',
        'status:       offline, cordoned',
        'labels:       -',
        'description:  spare\nnode',
        'last seen:    never',
        'created:      2026-11-30T11:59:59.000Z',
        'updated:      2026-11-30T11:59:59.000Z',
        '',
      ].join('\n'),
    );
    expect(catalogTable([], NOW)).toBe('no hives in the catalog\n');
  });

  test('cordon and uncordon: the confirmations, and a cordoned hive in every catalog view', () => {
    expect(cordonNote('hive-a', true)).toBe('cordoned hive hive-a: its workers stay listed but are never picked\n');
    expect(cordonNote('hive-a', false)).toBe('uncordoned hive hive-a: its workers may be picked again\n');

    const base: CatalogHive = {
      hiveId: 'hive-a',
      labels: { gpu: 'a100' },
      description: '',
      createdAtMs: NOW - 60_000,
      updatedAtMs: NOW - 1_000,
      lastSeenMs: NOW - 2_000,
      lastPeer: '10.0.0.1:50000',
      cordoned: true,
      online: true,
    };
    const other: CatalogHive = { ...base, hiveId: 'hive-b', cordoned: false };
    expect(catalogTable([base, other], NOW)).toBe(
      [
        'HIVE    STATUS           LAST SEEN  LABELS    DESCRIPTION',
        'hive-a  online,cordoned  2s ago     gpu=a100',
        'hive-b  online           2s ago     gpu=a100',
        '',
      ].join('\n'),
    );
    expect(catalogReport(base, NOW).split('\n')[1]).toBe('status:       online, cordoned');
    expect(catalogReport(other, NOW).split('\n')[1]).toBe('status:       online');
    expect(hiveReport(hiveA, base, NOW)).toContain('labels:          gpu=a100\ncordoned:        yes (never picked)\n\n');
    expect(hiveReport(hiveA, other, NOW)).not.toContain('cordoned');
  });

  test('hive tokens: the table (never the secrets) and the note next to an issued token', () => {
    const tokens: HiveToken[] = [
      { tokenId: 'tok-1a2b3c', createdAtMs: NOW - 3 * 86_400_000, lastUsedAtMs: NOW - 4_000 },
      { tokenId: 'tok-9', createdAtMs: NOW - 90_000 },
    ];
    expect(tokensTable('hive-a', tokens, NOW)).toBe(
      ['TOKEN ID    CREATED  LAST USED', 'tok-1a2b3c  3d ago   4s ago', 'tok-9       90s ago  never', ''].join('\n'),
    );
    expect(tokensTable('hive-a', [], NOW)).toBe('hive hive-a has no live tokens\n');
    expect(issuedTokenNote('hive-a', 'tok-9')).toBe(
      'issued token tok-9 for hive hive-a. It is shown only once: the queen keeps only its hash.\n' +
        "Store it in a file only the hive's agent can read (chmod 600) and start the agent with --token-file FILE.\n",
    );
  });
});

describe('what hives report never drives the terminal', () => {
  it('prints control characters and bidirectional overrides in model ids, URLs and device names as spaces', () => {
    const text = table(['MODEL', 'URL'], [['evil\u001b[2Jmodel', 'http://h/\u202eplh']]);
    expect(text).toBe('MODEL          URL\nevil [2Jmodel  http://h/ plh\n');
    expect(text).not.toMatch(/[\u001b\u202e]/);
  });
});
