import type { GpuProbe } from './engine-poller.js';
import type { EngineGpuUsage, GpuStatsSource } from './gpu.js';
import { engineGpuUsage } from './gpu-usage.js';
import { ProcessTable } from './process-table.js';

/**
 * GPU stats and the contract's mapping of an engine to its GPUs: the processes listening on its port, and those
 * of their descendants that hold a GPU (vLLM, SGLang and Ollama hold it in child processes). Only the processes
 * the stats list are walked up to a listener, so a round costs one stats read, one read of the socket tables and
 * a few /proc reads, whatever else runs on the machine.
 */
export function gpuProbe(source: GpuStatsSource, table: ProcessTable = new ProcessTable()): GpuProbe {
  return {
    async sample(ports) {
      const gpus = await source.read();
      const usage = new Map<number, EngineGpuUsage>();
      const gpuPids = gpus.processes.map((p) => p.pid);
      if (ports.length === 0 || gpuPids.length === 0) return { gpus, usage };
      const listening = await table.listeningPids(ports);
      for (const [port, pids] of listening) {
        if (pids.length === 0) continue;
        const holders = await table.descendantsAmong(pids, gpuPids);
        const found = engineGpuUsage(holders, gpus);
        if (found !== undefined) usage.set(port, found);
      }
      return { gpus, usage };
    },
  };
}
