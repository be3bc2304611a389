import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NVIDIA_SMI_APPS_ARGS,
  NVIDIA_SMI_GPU_ARGS,
  NvidiaSmiSource,
  parseComputeAppsQuery,
  parseGpuQuery,
} from '../../src/agent/engines/nvidia-smi';
import { FakeNvidiaSmi } from '../helpers/fake-nvidia-smi';

const MIB = 1_048_576;

describe('parseGpuQuery', () => {
  test('one device per line: index, uuid, name, memory in bytes, utilization', () => {
    const text =
      '0, GPU-8f5e5b8a-3c3e-7f4b-9e2c-1a2b3c4d5e6f, NVIDIA H100 80GB HBM3, 81559, 75324, 97\n' +
      '1, GPU-1b2c3d4e-0000-1111-2222-333344445555, NVIDIA H100 80GB HBM3, 81559, 4, 0\n';
    expect(parseGpuQuery(text)).toStrictEqual([
      {
        index: 0,
        uuid: 'GPU-8f5e5b8a-3c3e-7f4b-9e2c-1a2b3c4d5e6f',
        name: 'NVIDIA H100 80GB HBM3',
        backend: 'cuda',
        vramTotalBytes: 81559 * MIB,
        vramUsedBytes: 75324 * MIB,
        utilizationPercent: 97,
      },
      {
        index: 1,
        uuid: 'GPU-1b2c3d4e-0000-1111-2222-333344445555',
        name: 'NVIDIA H100 80GB HBM3',
        backend: 'cuda',
        vramTotalBytes: 81559 * MIB,
        vramUsedBytes: 4 * MIB,
        utilizationPercent: 0,
      },
    ]);
  });

  test('[N/A], [Not Supported] and empty fields are absent; CRLF and blank lines are fine', () => {
    const text =
      '0, GPU-aaaa, NVIDIA A100-SXM4-40GB, 40960, 1234, [N/A]\r\n' + // MIG mode: no utilization
      '\r\n' +
      '1, GPU-bbbb, NVIDIA GB10, [N/A], [Not Supported], 3\r\n' + // unified memory: no VRAM figures
      '2, [N/A], , 16384, , \r\n';
    expect(parseGpuQuery(text)).toStrictEqual([
      { index: 0, uuid: 'GPU-aaaa', name: 'NVIDIA A100-SXM4-40GB', backend: 'cuda', vramTotalBytes: 40960 * MIB, vramUsedBytes: 1234 * MIB },
      { index: 1, uuid: 'GPU-bbbb', name: 'NVIDIA GB10', backend: 'cuda', utilizationPercent: 3 },
      { index: 2, name: 'GPU 2', backend: 'cuda', vramTotalBytes: 16384 * MIB },
    ]);
  });

  test('a name holding commas stays whole; fractional MiB round to bytes', () => {
    const [gpu] = parseGpuQuery('3, GPU-cccc, Tesla V100, SXM2, 32GB, 32768.5, 0, 12.5\n');
    expect(gpu).toMatchObject({ index: 3, name: 'Tesla V100, SXM2, 32GB', vramTotalBytes: 32768.5 * MIB, utilizationPercent: 12.5 });
  });

  test('empty output and "No devices were found" are no devices', () => {
    expect(parseGpuQuery('')).toStrictEqual([]);
    expect(parseGpuQuery('No devices were found\n')).toStrictEqual([]);
  });

  test.each([
    ['too few fields', '0, GPU-a, A100\n', /line 1 "0, GPU-a, A100": expected 6 fields, got 3/],
    ['a memory that is not a number', '0, GPU-a, A100, 40960, lots, 5\n', /line 1 .*memory\.used must be a number of MiB, got "lots"/],
    ['a utilization over 100', '0, GPU-a, A100, 40960, 1, 101\n', /utilization\.gpu must be a number from 0 to 100, got "101"/],
    ['a missing index', '[N/A], GPU-a, A100, 40960, 1, 1\n', /index must be a whole number, got "\[N\/A\]"/],
    ['the second line bad', '0, GPU-a, A100, 1, 1, 1\n1, GPU-b, A100, 1, -1, 1\n', /^nvidia-smi --query-gpu: line 2 /],
  ])('rejects %s, naming the line', (_name, text, message) => {
    expect(() => parseGpuQuery(text)).toThrow(message);
  });
});

describe('parseComputeAppsQuery', () => {
  test('a process on two GPUs is two entries; [N/A] memory is absent', () => {
    const text = '4242, 30000, GPU-aaaa\n4242, 31000, GPU-bbbb\n777, [N/A], GPU-aaaa\n';
    expect(parseComputeAppsQuery(text)).toStrictEqual([
      { pid: 4242, gpuUuid: 'GPU-aaaa', usedBytes: 30000 * MIB },
      { pid: 4242, gpuUuid: 'GPU-bbbb', usedBytes: 31000 * MIB },
      { pid: 777, gpuUuid: 'GPU-aaaa' },
    ]);
  });

  test('an entry without a GPU uuid is dropped; no processes is empty output', () => {
    expect(parseComputeAppsQuery('12, 100, [N/A]\n13, 200, GPU-a\n')).toStrictEqual([{ pid: 13, gpuUuid: 'GPU-a', usedBytes: 200 * MIB }]);
    expect(parseComputeAppsQuery('')).toStrictEqual([]);
    expect(parseComputeAppsQuery('No running processes found\n')).toStrictEqual([]);
  });

  test.each([
    ['a pid that is not a number', 'abc, 100, GPU-a\n', /--query-compute-apps: line 1 "abc, 100, GPU-a": pid must be a whole number/],
    ['pid 0', '0, 100, GPU-a\n', /pid must be positive/],
    ['a wrong field count', '12, 100\n', /expected 3 fields, got 2/],
    ['a bad memory', '12, 1e3, GPU-a\n', /used_memory must be a number of MiB, got "1e3"/],
  ])('rejects %s, naming the line', (_name, text, message) => {
    expect(() => parseComputeAppsQuery(text)).toThrow(message);
  });
});

describe('NvidiaSmiSource', () => {
  const fake = new FakeNvidiaSmi();
  const scratch = mkdtempSync(join(tmpdir(), 'nvidia-smi-test-'));
  afterAll(() => {
    fake.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** An executable script in the scratch directory. */
  function script(name: string, body: string): string {
    const path = join(scratch, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  test('runs both queries with exactly the documented arguments and parses them', async () => {
    fake.set(
      [{ index: 0, uuid: 'GPU-a', name: 'NVIDIA L4', totalMiB: 23034, usedMiB: 20000, utilization: 55 }],
      [{ pid: 99, usedMiB: 19990, gpuUuid: 'GPU-a' }],
    );
    const before = fake.calls().length;
    const source = new NvidiaSmiSource({ command: 'nvidia-smi', env: fake.env() });
    await expect(source.read()).resolves.toEqual({
      devices: [
        {
          index: 0,
          uuid: 'GPU-a',
          name: 'NVIDIA L4',
          backend: 'cuda',
          vramTotalBytes: 23034 * MIB,
          vramUsedBytes: 20000 * MIB,
          utilizationPercent: 55,
        },
      ],
      processes: [{ pid: 99, gpuUuid: 'GPU-a', usedBytes: 19990 * MIB }],
    });
    expect(fake.calls().slice(before).sort()).toEqual([NVIDIA_SMI_APPS_ARGS.join(' '), NVIDIA_SMI_GPU_ARGS.join(' ')]);
    expect(source.name).toBe('nvidia-smi');
  });

  test('reads asked for while one runs share it', async () => {
    fake.set([{ index: 0, uuid: 'GPU-a', name: 'NVIDIA L4', totalMiB: 1, usedMiB: 1, utilization: 1 }]);
    const source = new NvidiaSmiSource({ command: fake.command, env: fake.env() });
    const before = fake.calls().length;
    const [a, b] = await Promise.all([source.read(), source.read()]);
    expect(a).toBe(b);
    expect(fake.calls().length - before).toBe(2);
    await source.read();
    expect(fake.calls().length - before).toBe(4);
  });

  test('a non-zero exit rejects with what nvidia-smi said (first line)', async () => {
    fake.fail(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\nMake sure ...\n");
    const source = new NvidiaSmiSource({ command: fake.command, env: fake.env() });
    const said = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.";
    const error = await source.read().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/nvidia-smi --query-(gpu|compute-apps): exited with code 9: /);
    expect((error as Error).message.endsWith(`: ${said}`)).toBe(true);
  });

  test('unparsable output rejects naming the line', async () => {
    fake.set(['0, GPU-a, NVIDIA L4, 23034, 1, 1', 'garbage']);
    await expect(new NvidiaSmiSource({ command: fake.command, env: fake.env() }).read()).rejects.toThrow(
      'nvidia-smi --query-gpu: line 2 "garbage": expected 6 fields, got 1',
    );
  });

  test('a command not on PATH, or not at its path, says so', async () => {
    const emptyDir = mkdtempSync(join(scratch, 'empty-'));
    await expect(new NvidiaSmiSource({ env: { PATH: emptyDir } }).read()).rejects.toThrow(/^nvidia-smi: not found on PATH$/);
    await expect(new NvidiaSmiSource({ command: join(emptyDir, 'nvidia-smi') }).read()).rejects.toThrow(
      `${join(emptyDir, 'nvidia-smi')}: not found`,
    );
  });

  test('a hung run is killed at the timeout', async () => {
    const started = Date.now();
    const source = new NvidiaSmiSource({ command: script('hangs', 'exec sleep 30'), timeoutMs: 300 });
    await expect(source.read()).rejects.toThrow(/--query-(gpu|compute-apps): timed out after 300 ms$/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('output past the cap is cut off with a clear reason', async () => {
    const chatty = script('chatty', 'yes "0, GPU-a, x, 1, 1, 1" | head -n 1000');
    const source = new NvidiaSmiSource({ command: chatty, maxOutputBytes: 1000 });
    await expect(source.read()).rejects.toThrow(/: output over 1000 bytes$/);
  });
});
