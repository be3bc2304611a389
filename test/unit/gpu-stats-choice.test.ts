import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { chooseGpuStats, findOnPath } from '../../src/agent/engines/gpu-stats-choice';
import { NvidiaSmiSource } from '../../src/agent/engines/nvidia-smi';
import { RocmSysfsSource } from '../../src/agent/engines/rocm-sysfs';
import { FakeNvidiaSmi, FAKE_NVIDIA_SMI_BIN_DIR } from '../helpers/fake-nvidia-smi';

const scratch = mkdtempSync(join(tmpdir(), 'gpu-choice-'));
const fake = new FakeNvidiaSmi();
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  fake.cleanup();
});

function dir(name: string): string {
  const path = join(scratch, name);
  mkdirSync(path, { recursive: true });
  return path;
}

function file(path: string, mode: number): void {
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, mode);
}

/** A DRM root with one AMD card, and one with none. */
const amdRoot = dir('drm-amd');
mkdirSync(join(amdRoot, 'card0', 'device'), { recursive: true });
writeFileSync(join(amdRoot, 'card0', 'device', 'vendor'), '0x1002\n');
writeFileSync(join(amdRoot, 'card0', 'device', 'mem_info_vram_total'), '17163091968\n');
const noGpuRoot = dir('drm-none');
const emptyBin = dir('empty-bin');

describe('findOnPath', () => {
  test('the first executable regular file in order; directories, plain files and relative entries skipped', async () => {
    const notExec = dir('not-exec');
    file(join(notExec, 'nvidia-smi'), 0o644);
    const isDir = dir('is-dir');
    mkdirSync(join(isDir, 'nvidia-smi'));
    const first = dir('first');
    file(join(first, 'nvidia-smi'), 0o755);
    const second = dir('second');
    file(join(second, 'nvidia-smi'), 0o755);
    // A relative entry naming a directory that has one: never used (it depends on the agent's current directory).
    const rel = dir('relative');
    file(join(rel, 'nvidia-smi'), 0o755);
    const path = ['', '.', relative(process.cwd(), rel), emptyBin, isDir, first, second].join(delimiter);
    // As root, access(X_OK) passes for any file with an x bit: a 0644 file is skipped either way.
    const withNotExec = [notExec, first].join(delimiter);
    await expect(findOnPath('nvidia-smi', path)).resolves.toBe(join(first, 'nvidia-smi'));
    await expect(findOnPath('nvidia-smi', withNotExec)).resolves.toBe(join(first, 'nvidia-smi'));
    await expect(findOnPath('nvidia-smi', emptyBin)).resolves.toBeUndefined();
    await expect(findOnPath('nvidia-smi', undefined)).resolves.toBeUndefined();
    await expect(findOnPath('nvidia-smi', '')).resolves.toBeUndefined();
  });
});

describe('chooseGpuStats', () => {
  test('auto: nvidia-smi on PATH wins, and the source runs the one found', async () => {
    fake.set([{ index: 0, uuid: 'GPU-a', name: 'NVIDIA T4', totalMiB: 15360, usedMiB: 0, utilization: 0 }]);
    const choice = await chooseGpuStats('auto', {
      pathEnv: fake.pathEnv(emptyBin),
      drmRoot: amdRoot,
      nvidiaSmi: { env: fake.env() },
    });
    expect(choice.source).toBeInstanceOf(NvidiaSmiSource);
    expect((choice.source as NvidiaSmiSource).command).toBe(join(FAKE_NVIDIA_SMI_BIN_DIR, 'nvidia-smi'));
    expect(choice.description).toBe(`nvidia-smi (${join(FAKE_NVIDIA_SMI_BIN_DIR, 'nvidia-smi')})`);
    await expect(choice.source?.read()).resolves.toMatchObject({ devices: [{ index: 0, name: 'NVIDIA T4' }] });
  });

  test('auto: without nvidia-smi, ROCm sysfs when it lists an AMD GPU, else none', async () => {
    const rocm = await chooseGpuStats('auto', { pathEnv: emptyBin, drmRoot: amdRoot });
    expect(rocm.source).toBeInstanceOf(RocmSysfsSource);
    expect(rocm.description).toBe(`rocm-sysfs (${amdRoot}: 1 AMD GPU)`);
    const none = await chooseGpuStats('auto', { pathEnv: emptyBin, drmRoot: noGpuRoot });
    expect(none).toStrictEqual({
      source: undefined,
      description: `none (auto: no nvidia-smi on PATH, no AMD GPU under ${noGpuRoot})`,
    });
    const missingRoot = join(scratch, 'no-drm');
    await expect(chooseGpuStats('auto', { pathEnv: undefined, drmRoot: missingRoot })).resolves.toMatchObject({
      source: undefined,
    });
  });

  test('nvidia-smi: chosen even when missing, and each read then says it is not on PATH', async () => {
    const found = await chooseGpuStats('nvidia-smi', { pathEnv: fake.pathEnv(emptyBin) });
    expect((found.source as NvidiaSmiSource).command).toBe(join(FAKE_NVIDIA_SMI_BIN_DIR, 'nvidia-smi'));
    const missing = await chooseGpuStats('nvidia-smi', { pathEnv: emptyBin, nvidiaSmi: { env: { PATH: emptyBin } } });
    expect(missing.source).toBeInstanceOf(NvidiaSmiSource);
    expect(missing.description).toBe('nvidia-smi (not found on PATH: GPU stats will fail until it is)');
    await expect(missing.source?.read()).rejects.toThrow(/^nvidia-smi: not found on PATH$/);
  });

  test('rocm and none: as asked, whatever the machine has', async () => {
    const rocm = await chooseGpuStats('rocm', { pathEnv: fake.pathEnv(), drmRoot: noGpuRoot });
    expect(rocm.source).toBeInstanceOf(RocmSysfsSource);
    expect((rocm.source as RocmSysfsSource).root).toBe(noGpuRoot);
    expect(rocm.description).toBe(`rocm-sysfs (${noGpuRoot})`);
    await expect(chooseGpuStats('none', { pathEnv: fake.pathEnv(), drmRoot: amdRoot })).resolves.toStrictEqual({
      source: undefined,
      description: 'none',
    });
  });
});
