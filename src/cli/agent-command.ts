import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { HeartbeatAgent } from '../agent/heartbeat-agent.js';
import type { SnapshotProvider } from '../agent/hive-snapshot.js';
import { MAX_SIMULATED_WORKERS, SimulatedWorkers } from '../agent/simulated-workers.js';
import { WorkersFile, WorkersFileError } from '../agent/workers-file.js';
import { systemClock } from '../common/clock.js';
import { checkId, checkModelId } from '../registry/ids.js';
import { checkListen, LOG_LEVELS, type LogLevel } from './config.js';
import { clientCredentials, type ClientTlsFlags } from './tls-files.js';

/** `hive-registry agent` as parsed from its flags (and the environment). */
export interface AgentConfig {
  readonly queen: string;
  readonly hiveId: string;
  readonly source: { readonly kind: 'simulate'; readonly count: number; readonly models?: readonly string[] } | {
    readonly kind: 'workers-file';
    readonly path: string;
  };
  readonly logLevel: LogLevel;
  /** Plaintext or TLS, from the --tls-* flags. */
  readonly credentials: ChannelCredentials;
}

export interface AgentFlags extends ClientTlsFlags {
  readonly queen?: string;
  readonly hiveId?: string;
  readonly simulate?: string;
  readonly models?: string;
  readonly workersFile?: string;
  readonly logLevel?: string;
}

/** Checks the agent's flags; returns every problem at once (exit 2), like `serve`. */
export function buildAgentConfig(
  flags: AgentFlags,
  env: Readonly<Record<string, string | undefined>>,
  defaultQueen: string,
): { ok: true; config: AgentConfig } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const queen = flags.queen ?? (env.HIVE_REGISTRY_QUEEN || defaultQueen);
  const badQueen = checkListen(queen);
  if (badQueen !== undefined) problems.push(`--queen: ${badQueen}`);
  const hiveId = flags.hiveId ?? '';
  const badId = flags.hiveId === undefined ? '--hive-id: required' : checkId('--hive-id', hiveId);
  if (badId !== undefined) problems.push(badId);
  const logLevel = (flags.logLevel ?? (env.HIVE_REGISTRY_LOG_LEVEL || 'info')) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  let source: AgentConfig['source'] | undefined;
  if ((flags.simulate === undefined) === (flags.workersFile === undefined)) {
    problems.push('give exactly one of --simulate N or --workers-file FILE');
  } else if (flags.simulate !== undefined) {
    const count = /^\d+$/.test(flags.simulate) ? Number(flags.simulate) : Number.NaN;
    if (!(count >= 1 && count <= MAX_SIMULATED_WORKERS)) {
      problems.push(`--simulate: must be a whole number from 1 to ${MAX_SIMULATED_WORKERS}, got ${JSON.stringify(flags.simulate)}`);
    }
    const models = flags.models?.split(',').filter((m) => m !== '');
    for (const model of models ?? []) {
      const bad = checkModelId('--models', model);
      if (bad !== undefined) problems.push(bad);
    }
    if (models !== undefined && models.length === 0) problems.push('--models: give at least one model id');
    source = { kind: 'simulate', count, ...(models === undefined ? {} : { models }) };
  } else if (flags.workersFile !== undefined) {
    if (flags.models !== undefined) problems.push('--models goes with --simulate, not --workers-file');
    source = { kind: 'workers-file', path: flags.workersFile };
  }
  const credentials = clientCredentials(flags, problems);
  if (problems.length > 0 || source === undefined || credentials === undefined) return { ok: false, problems };
  return { ok: true, config: { queen, hiveId, source, logLevel, credentials } };
}

/**
 * Runs a hive: one HeartbeatAgent fed by simulated workers or a workers file, until `stop` is called (SIGTERM,
 * SIGINT) or the queen aborts the stream (superseded, removed, deregistered). Resolves with the exit code: 0 when
 * stopped, 1 when aborted. A workers file that cannot be read at start rejects with WorkersFileError (exit 2).
 */
export async function runAgent(
  config: AgentConfig,
  logger: Logger,
  onStop: (stop: () => Promise<void>) => void,
): Promise<number> {
  let provider: SnapshotProvider;
  let close = (): void => undefined;
  if (config.source.kind === 'simulate') {
    const workers = new SimulatedWorkers({
      hiveId: config.hiveId,
      count: config.source.count,
      clock: systemClock,
      ...(config.source.models === undefined ? {} : { models: config.source.models }),
    });
    provider = () => workers.snapshot();
  } else {
    const file = await WorkersFile.open(config.source.path, { logger });
    provider = file.provider;
    close = () => file.close();
  }
  const agent = HeartbeatAgent.forQueen(config.queen, config.hiveId, provider, { logger, credentials: config.credentials });
  onStop(() => agent.stop());
  agent.start();
  logger.info({ component: 'agent', hiveId: config.hiveId, queen: config.queen, source: config.source.kind }, 'hive agent started');
  const stopped = await agent.whenStopped();
  close();
  if (stopped.reason === 'aborted') {
    logger.error({ component: 'agent', hiveId: config.hiveId, code: stopped.code, details: stopped.details }, 'hive agent stopped by the queen');
    return 1;
  }
  return 0;
}

export { WorkersFileError };
