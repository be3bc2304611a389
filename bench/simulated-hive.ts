// A simulated hive for the inference scenarios: the real CLI's agent (`hive-registry agent --simulate N`) in its own
// process, its workers answering OpenAI requests under their own URLs, and what the queen says it reported.
import { createRegistryClient } from '../src/client/registry-client.js';
import { BenchChild } from './bench-child.js';
import { sleep } from './stats.js';

/** What the agent simulates: `--simulate workers --models model --steady` and the pacing of the answers. */
export interface SimulatedHiveSpec {
  readonly hiveId: string;
  readonly workers: number;
  /** The one model every worker loads. */
  readonly model: string;
  /** Requests each worker runs at once (`--max-concurrency`); the rest wait in order. */
  readonly maxConcurrency: number;
  /** `--response-delay`: ms before the first byte of an answer. */
  readonly responseDelayMs: number;
  /** `--chunk-delay`: ms between streamed tokens. */
  readonly chunkDelayMs: number;
}

/** A worker as the queen lists it. */
export interface ReportedWorker {
  readonly workerId: string;
  /** Its base URL: OpenAI paths go under it. */
  readonly url: string;
}

const REPORT_TIMEOUT_MS = 20_000;

/** Starts the agent against the queen at `queenAddress` (HOST:PORT), logging warnings only. */
export function startSimulatedHive(queenAddress: string, spec: SimulatedHiveSpec): BenchChild {
  return new BenchChild('hive', '../src/cli/main.js', [
    'agent',
    '--queen',
    queenAddress,
    '--hive-id',
    spec.hiveId,
    '--simulate',
    String(spec.workers),
    '--models',
    spec.model,
    '--steady',
    '--max-concurrency',
    String(spec.maxConcurrency),
    '--response-delay',
    String(spec.responseDelayMs),
    '--chunk-delay',
    String(spec.chunkDelayMs),
    '--log-level',
    'warn',
  ]);
}

/** The online workers the queen at `address` lists, once there are `count` of them; throws after 20 s. */
export async function reportedWorkers(address: string, count: number): Promise<ReportedWorker[]> {
  const client = createRegistryClient(address);
  try {
    const deadline = Date.now() + REPORT_TIMEOUT_MS;
    for (;;) {
      const workers = (await client.listAllWorkers())
        .filter((e) => e.hiveOnline)
        .map((e) => ({ workerId: e.worker.workerId, url: e.worker.url }));
      if (workers.length === count) return workers;
      if (Date.now() > deadline) throw new Error(`the simulated hive reported ${workers.length} of ${count} workers`);
      await sleep(100);
    }
  } finally {
    client.close();
  }
}
