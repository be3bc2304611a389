import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { SnapshotProvider } from '../agent/hive-snapshot.js';
import { systemTimers } from '../agent/timers.js';
import { systemClock } from '../common/clock.js';
import { SimulatedInference } from '../simulator/simulated-inference.js';
import { SimulatedWorkers, simulatedWorkerModels } from '../simulator/simulated-workers.js';
import type { SimulateSource } from './agent-command.js';
import { packageVersion } from './package-version.js';

/** A simulated hive, its inference server listening: what runAgent feeds the heartbeat agent with. */
export interface SimulatedHive {
  /** The hive's snapshot now (SimulatedWorkers.snapshot). */
  readonly provider: SnapshotProvider;
  /**
   * Calls `listener` (synchronously; it must not throw) whenever a worker's reported figures may have changed: a
   * request started, ended or began waiting on it, or the random walk moved it (SimulatedWorkers.onChange). Returns
   * the function that unsubscribes it.
   */
  onChange(listener: () => void): () => void;
  /** Drops the change listeners, then stops the inference server (every connection cut). */
  close(): Promise<void>;
}

/**
 * Simulated workers and the inference server answering for them, listening; undefined (logged) when it cannot
 * listen. A wildcard bind advertises this machine's host name in the URLs, so other machines can use them. The
 * workers report the server's live request counts, and the package's version as their engine_version.
 */
export async function startSimulatedHive(hiveId: string, source: SimulateSource, logger: Logger): Promise<SimulatedHive | undefined> {
  const log = logger.child({ component: 'inference', hiveId });
  const wildcard = source.inferenceHost === '0.0.0.0' || source.inferenceHost === '::';
  const inference = new SimulatedInference({
    workers: simulatedWorkerModels(hiveId, source.count, source.models),
    host: source.inferenceHost,
    port: source.inferencePort,
    ...(wildcard ? { advertiseHost: hostname() } : {}),
    maxConcurrency: source.maxConcurrency,
    firstByteDelayMs: source.firstByteDelayMs,
    chunkDelayMs: source.chunkDelayMs,
    // Requests end by the caller's doing (answered, refused, gone) at debug; a fault of the server at warn.
    onRequestEnd: ({ error, ...end }) =>
      end.outcome === 'failed' ? log.warn({ ...end, err: error }, 'inference request failed') : log.debug(end, 'inference request ended'),
  });
  const version = packageVersion();
  const workers = new SimulatedWorkers({
    hiveId,
    count: source.count,
    clock: systemClock,
    timers: systemTimers,
    maxConcurrency: source.maxConcurrency,
    requests: inference.requests,
    // Asked at each snapshot, once the server listens.
    urlOf: (workerId: string): string => inference.urlOf(workerId),
    ...(version === undefined ? {} : { engineVersion: version }),
    ...(source.steady ? { changeProbability: 0 } : {}),
    ...(source.models === undefined ? {} : { models: source.models }),
  });
  try {
    const { address, port } = await inference.start();
    const example = workers.workerIds[0] ?? '';
    const listen = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    log.info({ listen, port, workers: source.count, url: inference.urlOf(example), workerId: example }, 'inference server listening');
  } catch (error) {
    workers.close();
    log.error({ err: error, listen: `${source.inferenceHost}:${source.inferencePort}` }, 'the inference server cannot listen');
    return undefined;
  }
  return {
    provider: () => workers.snapshot(),
    onChange: (listener) => workers.onChange(listener),
    close: async () => {
      workers.close();
      await inference.close();
    },
  };
}
