import { mkdtempSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { HiveSnapshot } from '../../src/agent/hive-snapshot';
import { WorkersFile, WorkersFileError } from '../../src/agent/workers-file';

interface LogLine {
  level: number;
  msg: string;
  file?: string;
  problem?: string;
}

function payloadJson(workerIds: string[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    hiveId: 'ignored-hive',
    sequence: '99',
    timestamp: '2026-01-01T00:00:00Z',
    unchanged: true,
    workers: workerIds.map((workerId) => ({
      workerId,
      state: 'WORKER_STATUS_IDLE',
      url: 'http://10.0.0.5:8000/',
      modelId: 'org/model',
      backend: 'BACKEND_CUDA',
      deviceId: 0,
      vramBytes: '17179869184',
      gpuPercent: 12.5,
      health: 'HEALTH_STATUS_HEALTHY',
    })),
    devices: [{ deviceId: 0, backend: 'BACKEND_CUDA', name: 'gpu-0', vramTotalBytes: '85899345920' }],
    ramTotalBytes: '549755813888',
    ...extra,
  });
}

function ids(snapshot: HiveSnapshot): string[] {
  return snapshot.workers.map((w) => w.workerId ?? '');
}

describe('WorkersFile', () => {
  let dir: string;
  let path: string;
  let logs: LogLine[];
  let opened: WorkersFile[];
  const logger = () => pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const open = async (): Promise<WorkersFile> => {
    const file = await WorkersFile.open(path, { logger: logger() });
    opened.push(file);
    return file;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-workers-file-'));
    path = join(dir, 'workers.json');
    logs = [];
    opened = [];
  });

  afterEach(() => {
    for (const file of opened) file.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads workers, devices and ramTotalBytes; the agent-owned fields are ignored', async () => {
    writeFileSync(path, payloadJson(['w-1', 'w-2']));
    const file = await open();
    const snapshot = await file.provider();
    expect(ids(snapshot)).toEqual(['w-1', 'w-2']);
    expect(snapshot.workers[0]).toMatchObject({ url: 'http://10.0.0.5:8000/', vramBytes: 17179869184n, gpuPercent: 12.5 });
    expect(snapshot.devices.map((d) => d.vramTotalBytes)).toEqual([85899345920n]);
    expect(snapshot.ramTotalBytes).toBe(549755813888n);
    expect(Object.keys(snapshot).sort()).toEqual(['devices', 'ramTotalBytes', 'workers']);
  });

  describe.each([
    ['with its watch', true],
    ['by its version check alone (watch closed)', false],
  ])('picks up changes %s', (_how, watching) => {
    const openFile = async (): Promise<WorkersFile> => {
      const file = await open();
      if (!watching) file.close();
      return file;
    };

    // A different size: two same-size writes within one tick of the kernel's coarse file clock look the same to
    // the version check; that case is the watch's (tested below).
    it('rewritten in place', async () => {
      writeFileSync(path, payloadJson(['w-1']));
      const file = await openFile();
      expect(ids(await file.snapshot())).toEqual(['w-1']);
      writeFileSync(path, payloadJson(['w-1', 'w-2', 'w-3']));
      expect(ids(await file.snapshot())).toEqual(['w-1', 'w-2', 'w-3']);
    });

    it('replaced by rename', async () => {
      writeFileSync(path, payloadJson(['w-1']));
      const file = await openFile();
      expect(ids(await file.snapshot())).toEqual(['w-1']);
      const staging = join(dir, '.workers.json.tmp');
      writeFileSync(staging, payloadJson(['w-9']));
      renameSync(staging, path);
      expect(ids(await file.snapshot())).toEqual(['w-9']);
    });
  });

  it('keeps the last good snapshot while the file is invalid or missing, warning once per distinct problem', async () => {
    writeFileSync(path, payloadJson(['w-1']));
    const file = await open();
    writeFileSync(path, '{"workers": [');
    expect(ids(await file.snapshot())).toEqual(['w-1']);
    expect(ids(await file.snapshot())).toEqual(['w-1']);
    writeFileSync(path, payloadJson(['w-2'], { bogus: 1 }));
    expect(ids(await file.snapshot())).toEqual(['w-1']);
    unlinkSync(path);
    expect(ids(await file.snapshot())).toEqual(['w-1']);
    expect(ids(await file.snapshot())).toEqual(['w-1']);
    writeFileSync(path, payloadJson(['w-3']));
    expect(ids(await file.snapshot())).toEqual(['w-3']);
    expect(logs.filter((l) => l.level >= 30).map((l) => [l.level, l.msg, l.file, l.problem])).toEqual([
      [40, 'workers file unusable: keeping its last good content', path, expect.stringMatching(/^invalid JSON: /)],
      [40, 'workers file unusable: keeping its last good content', path, expect.stringMatching(/^not a hive\.v1\.HiveHeartbeatPayload in protobuf JSON: .*bogus/)],
      [40, 'workers file unusable: keeping its last good content', path, 'no such file'],
      [30, 'workers file usable again', path, undefined],
    ]);
  });

  it('fails to open a file that is missing, invalid JSON, has unknown fields or is too large', async () => {
    await expect(WorkersFile.open(path, { logger: logger() })).rejects.toThrow(
      new WorkersFileError(path, 'no such file'),
    );
    writeFileSync(path, 'workers: []');
    const invalid = await WorkersFile.open(path, { logger: logger() }).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(WorkersFileError);
    expect((invalid as Error).message).toMatch(new RegExp(`^workers file ${path}: invalid JSON: `));
    writeFileSync(path, payloadJson([], { gpus: 2 }));
    await expect(WorkersFile.open(path, { logger: logger() })).rejects.toThrow(/: not a hive\.v1\.HiveHeartbeatPayload in protobuf JSON: .*gpus/);
    writeFileSync(path, payloadJson(['w-1']));
    await expect(WorkersFile.open(path, { logger: logger(), maxBytes: 100 })).rejects.toThrow(
      /: the file is \d+ bytes, at most 100 allowed$/,
    );
  });

  it('catches through its watch a change the version check cannot see (same size, mtime put back)', async () => {
    const stamp = 1_767_225_600; // whole seconds: utimes restores it exactly
    writeFileSync(path, payloadJson(['w-1']));
    utimesSync(path, stamp, stamp);
    const unwatched = await open();
    unwatched.close();
    const watched = await open();
    writeFileSync(path, payloadJson(['w-2']));
    utimesSync(path, stamp, stamp);
    let seen: string[] = [];
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      seen = ids(await watched.snapshot());
      if (seen[0] === 'w-2') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Without its watch the same change goes unnoticed: the watch is what caught it.
    expect({ watched: seen, unwatched: ids(await unwatched.snapshot()) }).toEqual({ watched: ['w-2'], unwatched: ['w-1'] });
  });

  it('reads an unchanged file only once', async () => {
    writeFileSync(path, payloadJson(['w-1']));
    const file = await open();
    const first = await file.snapshot();
    expect(await file.snapshot()).toBe(first);
  });
});
