import OpenAI from 'openai';
import { SimulatedInference } from '../../src/simulator/simulated-inference';
import type { ServerConfig } from '../../src/server/queen-server';
import { TestQueen } from './queen';
import type { WorkerState } from '../../gen/hive/v1/registry_pb';
import { wireWorker } from './wire-builders';

/** A worker of a test hive: an id, its model and, when it is not one of the simulated ones, its URL. */
export interface FleetWorker {
  readonly workerId: string;
  readonly modelId: string;
  /** Defaults to the simulated server's URL for the worker. */
  readonly url?: string;
  readonly fields?: Partial<Omit<WorkerState, '$typeName' | '$unknown'>>;
}

/**
 * A queen with its HTTP listener (and so the gateway) plus one SimulatedInference server answering for the
 * simulated workers; hives are connected over real heartbeat streams. `openai()` is the official client pointed at
 * the gateway.
 */
export class GatewayFleet {
  private constructor(
    readonly queen: TestQueen,
    readonly inference: SimulatedInference,
  ) {}

  static async start(
    simulated: readonly { workerId: string; modelId: string }[],
    config: Partial<ServerConfig> = {},
    inference: { firstByteDelayMs?: number; chunkDelayMs?: number; maxConcurrency?: number } = {},
  ): Promise<GatewayFleet> {
    const queen = await TestQueen.start({ httpListen: '127.0.0.1:0', ...config });
    const server = new SimulatedInference({ workers: simulated, firstByteDelayMs: 1, chunkDelayMs: 1, ...inference });
    await server.start();
    return new GatewayFleet(queen, server);
  }

  /** Connects `hiveId` with `workers` (max_concurrency 4 unless the fields say otherwise); returns its stream. */
  async hive(hiveId: string, workers: readonly FleetWorker[]): Promise<Awaited<ReturnType<TestQueen['connectHive']>>> {
    return this.queen.connectHive(
      hiveId,
      workers.map((w) =>
        wireWorker(w.workerId, { modelId: w.modelId, url: w.url ?? this.inference.urlOf(w.workerId), maxConcurrency: 4, gpuPercent: 10, ...w.fields }),
      ),
    );
  }

  get baseURL(): string {
    return `http://127.0.0.1:${this.queen.httpPort}/v1`;
  }

  /** The official OpenAI client against the gateway; no retries of its own, so what the gateway does shows. */
  openai(apiKey = 'unused-without-auth'): OpenAI {
    return new OpenAI({ baseURL: this.baseURL, apiKey, maxRetries: 0, timeout: 20_000 });
  }

  async stop(): Promise<void> {
    await this.queen.stop();
    await this.inference.close();
  }
}
