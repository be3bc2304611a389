// The GPU mapping on real processes of this machine: a process tree like an inference server's (a listener and a
// child holding the GPU), a fake nvidia-smi first on PATH listing the child's real pid on GPUs, and the agent's
// parts end to end: the --gpu-stats choice, the process table over the real /proc, engineGpuUsage.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { GpuStatsSource } from '../../src/agent/engines/gpu';
import { chooseGpuStats } from '../../src/agent/engines/gpu-stats-choice';
import { deviceUsage, engineGpuUsage } from '../../src/agent/engines/gpu-usage';
import { NvidiaSmiSource } from '../../src/agent/engines/nvidia-smi';
import { ProcessTable } from '../../src/agent/engines/process-table';
import { FakeNvidiaSmi } from '../helpers/fake-nvidia-smi';

const MIB = 1_048_576;
const TREE = join(__dirname, '..', 'fixtures', 'gpu-engine-tree.js');

const hasLoopback6 = Object.values(networkInterfaces()).some((addresses) =>
  addresses?.some((a) => a.family === 'IPv6' && a.address === '::1'),
);
/** Why IPv6 cannot be tested here, or undefined when it can. */
const noIpv6 = !existsSync('/proc/net/tcp6')
  ? 'no /proc/net/tcp6 (IPv6 off in this kernel)'
  : !hasLoopback6
    ? 'no ::1 on any interface'
    : undefined;

interface Tree {
  readonly pid: number;
  readonly port: number;
  readonly port6?: number;
  readonly holderPid: number;
}

/** Starts the fixture tree and resolves with its first stdout line, parsed; rejects if it exits first. */
function startTree(child: ChildProcessWithoutNullStreams): Promise<Tree> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(out.slice(0, newline)) as Tree);
    });
    child.once('exit', (code) => reject(new Error(`gpu-engine-tree exited with ${code}: ${err}`)));
  });
}

describe('GPU mapping on real processes', () => {
  const fake = new FakeNvidiaSmi();
  let child: ChildProcessWithoutNullStreams;
  let tree: Tree;
  let source: GpuStatsSource | undefined;

  beforeAll(async () => {
    child = spawn(process.execPath, [TREE, ...(noIpv6 === undefined ? ['--ipv6'] : [])]);
    tree = await startTree(child);
    const choice = await chooseGpuStats('auto', { pathEnv: fake.pathEnv(), nvidiaSmi: { env: fake.env() } });
    source = choice.source;
  });

  afterAll(() => {
    for (const pid of [tree?.holderPid, child?.pid]) {
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fake.cleanup();
  });

  test('the tree is what it claims: the listener is the child, the holder its own child', () => {
    expect(tree.pid).toBe(child.pid);
    expect(tree.holderPid).not.toBe(tree.pid);
    expect(tree.port).toBeGreaterThan(0);
  });

  test('pidsListeningOn finds the listening child, not this process', async () => {
    const table = new ProcessTable();
    await expect(table.pidsListeningOn(tree.port)).resolves.toEqual([tree.pid]);
    // A port nothing listens on: this process's own pid must never show up.
    const listening = await table.listeningPids([tree.port, 1]);
    expect(listening.get(1)).toEqual([]);
    expect([...listening.values()].flat()).not.toContain(process.pid);
  });

  test('withDescendants holds the GPU holder; descendantsAmong agrees without reading every process', async () => {
    const table = new ProcessTable();
    const pids = await table.withDescendants([tree.pid]);
    expect(pids).toContain(tree.pid);
    expect(pids).toContain(tree.holderPid);
    expect(pids).not.toContain(process.pid);
    const candidates = [tree.holderPid, process.pid, tree.pid, 1];
    await expect(table.descendantsAmong([tree.pid], candidates)).resolves.toEqual(
      [tree.pid, tree.holderPid].sort((a, b) => a - b),
    );
  });

  test('end to end: the fake nvidia-smi on PATH, the process table and engineGpuUsage map the engine to its GPUs', async () => {
    expect(source).toBeInstanceOf(NvidiaSmiSource);
    fake.set(
      [
        { index: 0, uuid: 'GPU-0000', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81559, usedMiB: 70000, utilization: 100 },
        { index: 1, uuid: 'GPU-1111', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81559, usedMiB: 30000, utilization: 35 },
        { index: 2, uuid: 'GPU-2222', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81559, usedMiB: 20500, utilization: 80 },
        { index: 3, uuid: 'GPU-3333', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81559, usedMiB: 0, utilization: '[N/A]' },
      ],
      [
        { pid: process.pid, usedMiB: 70000, gpuUuid: 'GPU-0000' }, // another engine on GPU 0: not this one's
        { pid: tree.holderPid, usedMiB: 30000, gpuUuid: 'GPU-1111' },
        { pid: tree.holderPid, usedMiB: 20000, gpuUuid: 'GPU-2222' },
        { pid: tree.pid, usedMiB: 500, gpuUuid: 'GPU-2222' },
      ],
    );
    const gpus = await (source as GpuStatsSource).read();
    const table = new ProcessTable();
    const pids = await table.withDescendants(await table.pidsListeningOn(tree.port));
    const expected = { deviceId: 1, vramBytes: (30000 + 20000 + 500) * MIB, gpuPercent: 80, backend: 'cuda' };
    expect(engineGpuUsage(pids, gpus)).toStrictEqual(expected);
    // The cheap path the poller can take: only nvidia-smi's pids are walked up.
    const listeners = await table.pidsListeningOn(tree.port);
    const owned = await table.descendantsAmong(listeners, gpus.processes.map((p) => p.pid));
    expect(engineGpuUsage(owned, gpus)).toStrictEqual(expected);
    // device=3 overrides: that GPU's figures (utilization not reported there).
    expect(deviceUsage(3, gpus)).toStrictEqual({ deviceId: 3, backend: 'cuda' });
  });

  test('an engine whose processes hold no GPU maps to nothing', async () => {
    fake.set([{ index: 0, uuid: 'GPU-0000', name: 'NVIDIA L4', totalMiB: 23034, usedMiB: 0, utilization: 0 }], []);
    const gpus = await (source as GpuStatsSource).read();
    const table = new ProcessTable();
    expect(engineGpuUsage(await table.withDescendants(await table.pidsListeningOn(tree.port)), gpus)).toBeUndefined();
  });

  (noIpv6 === undefined ? test : test.skip)(
    `an engine listening on [::1] is found through /proc/net/tcp6${noIpv6 === undefined ? '' : ` (skipped: ${noIpv6})`}`,
    async () => {
      expect(tree.port6).toBeGreaterThan(0);
      await expect(new ProcessTable().pidsListeningOn(tree.port6 as number)).resolves.toEqual([tree.pid]);
    },
  );
});
