import type { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { HeartbeatAgent } from '../agent/heartbeat-agent.js';
import type { SnapshotProvider } from '../agent/hive-snapshot.js';
import type { ChangeSignal } from '../agent/heartbeat-agent-options.js';
import type { ConnectedEvent } from '../agent/heartbeat-agent-events.js';
import { startEngineHive } from './engine-hive.js';
import { DEFAULT_CHUNK_DELAY_MS, DEFAULT_FIRST_BYTE_DELAY_MS, DEFAULT_MAX_CONCURRENCY } from '../simulator/simulated-inference.js';
import { MAX_SIMULATED_WORKERS } from '../simulator/simulated-workers.js';
import { WorkersFile, WorkersFileError } from '../agent/workers-file.js';
import { MAX_CONCURRENCY } from '../common/worker.js';
import { bearerMetadata } from '../client/unary-client.js';
import { checkId, checkModelId } from '../registry/ids.js';
import { checkListen, LOG_LEVELS, type LogLevel } from './config.js';
import { queensFrom } from './queen-list.js';
import { ENGINE_ONLY_FLAGS, engineFlags, wantsEngines, type EngineFlags, type EnginesSource } from './engine-flags.js';
import { startSimulatedHive } from './simulated-hive.js';
import { clientCredentials, type ClientTlsFlags } from './tls-files.js';
import { readTokenFile, TOKEN_FILE_ENV, TokenFileError } from './token-file.js';

/** Where simulated workers answer OpenAI requests when --inference-listen is not given: loopback, a free port. */
export const DEFAULT_INFERENCE_LISTEN = '127.0.0.1:0';
/** Longest --response-delay and --chunk-delay, in ms. */
export const MAX_SIMULATED_DELAY_MS = 60_000;

/** `--simulate N` and its companions: the fake workers and the server answering for them. */
export interface SimulateSource {
  readonly kind: 'simulate';
  readonly count: number;
  readonly models?: readonly string[];
  /** The inference server's bind address (an IPv6 host without brackets) and port (0: any free port). */
  readonly inferenceHost: string;
  readonly inferencePort: number;
  /** Requests each worker runs at once (also reported as its max_concurrency). */
  readonly maxConcurrency: number;
  readonly firstByteDelayMs: number;
  readonly chunkDelayMs: number;
  /** No random state changes: every worker stays IDLE. */
  readonly steady: boolean;
}

/** `hive-registry agent` as parsed from its flags (and the environment). */
export interface AgentConfig {
  /** The queens over this hive's fleet, as listed (HOST:PORT): the agent starts at a random one. */
  readonly queens: readonly string[];
  readonly hiveId: string;
  readonly source: SimulateSource | { readonly kind: 'workers-file'; readonly path: string } | EnginesSource;
  readonly logLevel: LogLevel;
  /** Plaintext or TLS, from the --tls-* flags. */
  readonly credentials: ChannelCredentials;
  /** The hive token's file (--token-file or HIVE_REGISTRY_TOKEN_FILE), re-read at every connect; none without auth. */
  readonly tokenFile?: string;
}

export interface AgentFlags extends ClientTlsFlags, EngineFlags {
  readonly queen?: string;
  readonly hiveId?: string;
  readonly simulate?: string;
  readonly models?: string;
  readonly workersFile?: string;
  readonly logLevel?: string;
  readonly tokenFile?: string;
  readonly inferenceListen?: string;
  readonly maxConcurrency?: string;
  readonly responseDelay?: string;
  readonly chunkDelay?: string;
  readonly steady?: boolean;
}

/** The flags that only make sense with --simulate, by AgentFlags key. */
const SIMULATE_ONLY_FLAGS: readonly (readonly [keyof AgentFlags, string])[] = [
  ['models', '--models'],
  ['inferenceListen', '--inference-listen'],
  ['maxConcurrency', '--max-concurrency'],
  ['responseDelay', '--response-delay'],
  ['chunkDelay', '--chunk-delay'],
  ['steady', '--steady'],
];

/** Checks the agent's flags; returns every problem at once (exit 2), like `serve`. */
export function buildAgentConfig(
  flags: AgentFlags,
  env: Readonly<Record<string, string | undefined>>,
  defaultQueen: string,
): { ok: true; config: AgentConfig } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const queenList = queensFrom(flags.queen, env, defaultQueen);
  if (!queenList.ok) problems.push(...queenList.problems);
  const hiveId = flags.hiveId ?? '';
  const badId = flags.hiveId === undefined ? '--hive-id: required' : checkId('--hive-id', hiveId);
  if (badId !== undefined) problems.push(badId);
  const logLevel = (flags.logLevel ?? (env.HIVE_REGISTRY_LOG_LEVEL || 'info')) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  let source: AgentConfig['source'] | undefined;
  const engines = wantsEngines(flags);
  const sources = [flags.simulate !== undefined, flags.workersFile !== undefined, engines].filter(Boolean).length;
  if (sources !== 1) {
    problems.push('give exactly one of --simulate N, --workers-file FILE, or --engine SPEC (repeatable) / --engines-file FILE');
  } else if (engines) {
    for (const [key, flag] of SIMULATE_ONLY_FLAGS) {
      if (flags[key] !== undefined) problems.push(`${flag} goes with --simulate, not --engine`);
    }
    source = engineFlags(flags, env, hiveId, problems);
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
    source = { kind: 'simulate', count, ...(models === undefined ? {} : { models }), ...inferenceFlags(flags, problems) };
  } else if (flags.workersFile !== undefined) {
    for (const [key, flag] of SIMULATE_ONLY_FLAGS) {
      if (flags[key] !== undefined) problems.push(`${flag} goes with --simulate, not --workers-file`);
    }
    source = { kind: 'workers-file', path: flags.workersFile };
  }
  if (!engines) {
    for (const [key, flag] of ENGINE_ONLY_FLAGS) {
      if (flags[key] !== undefined) problems.push(`${flag} goes with --engine or --engines-file`);
    }
  }
  const credentials = clientCredentials(flags, problems);
  const tokenFile = flags.tokenFile ?? (env[TOKEN_FILE_ENV] || undefined);
  if (tokenFile !== undefined) {
    // Read once now so a wrong path is a usage error at start, not a reconnect loop; runAgent reads it again.
    try {
      readTokenFile(tokenFile);
    } catch (error) {
      if (!(error instanceof TokenFileError)) throw error;
      problems.push(`${flags.tokenFile !== undefined ? '--token-file' : TOKEN_FILE_ENV}: ${error.message}`);
    }
  }
  if (problems.length > 0 || !queenList.ok || source === undefined || credentials === undefined) return { ok: false, problems };
  const config = { queens: queenList.queens, hiveId, source, logLevel, credentials };
  return { ok: true, config: tokenFile === undefined ? config : { ...config, tokenFile } };
}

/** The inference server's flags, checked; problems go to `problems`. */
function inferenceFlags(
  flags: AgentFlags,
  problems: string[],
): Omit<SimulateSource, 'kind' | 'count' | 'models'> {
  const listen = flags.inferenceListen ?? DEFAULT_INFERENCE_LISTEN;
  const badListen = checkListen(listen);
  if (badListen !== undefined) problems.push(`--inference-listen: ${badListen}`);
  const colon = listen.lastIndexOf(':');
  const wholeNumber = (flag: string, text: string | undefined, fallback: number, min: number, max: number, unit = ''): number => {
    if (text === undefined) return fallback;
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(n >= min && n <= max)) {
      problems.push(`${flag}: must be a whole number${unit} from ${min} to ${max}, got ${JSON.stringify(text)}`);
    }
    return n;
  };
  return {
    inferenceHost: listen.slice(0, colon).replace(/^\[|\]$/g, ''),
    inferencePort: Number(listen.slice(colon + 1)),
    maxConcurrency: wholeNumber('--max-concurrency', flags.maxConcurrency, DEFAULT_MAX_CONCURRENCY, 1, MAX_CONCURRENCY),
    firstByteDelayMs: wholeNumber('--response-delay', flags.responseDelay, DEFAULT_FIRST_BYTE_DELAY_MS, 0, MAX_SIMULATED_DELAY_MS, ' of ms'),
    chunkDelayMs: wholeNumber('--chunk-delay', flags.chunkDelay, DEFAULT_CHUNK_DELAY_MS, 0, MAX_SIMULATED_DELAY_MS, ' of ms'),
    steady: flags.steady === true,
  };
}

/** Least time between two snapshots of a simulated hive sent on a change, in ms. */
export const SIMULATED_CHANGE_INTERVAL_MS = 100;

/** What feeds the heartbeat agent: simulated workers, a workers file or the machine's engines. */
export interface HiveSource {
  readonly provider: SnapshotProvider;
  /** Says when the provider's answer changed (see HeartbeatAgentOptions.changes). */
  readonly changes?: ChangeSignal;
  readonly minChangeIntervalMs?: number;
  /** Called each time a heartbeat stream opens, with the queen it goes to. */
  readonly onConnected?: (event: ConnectedEvent) => void;
  /** Stops whatever the source runs (servers, polls, file watches). */
  close(): Promise<void>;
}

/**
 * Runs a hive: one HeartbeatAgent fed by simulated workers, a workers file or the machine's engines, until `stop` is called (SIGTERM,
 * SIGINT) or the queen aborts the stream (superseded, removed, deregistered). Simulated workers answer OpenAI
 * requests first: their inference server is listening before the first heartbeat reports its URLs, and stops
 * after the last. Resolves with the exit code: 0 when stopped, 1 when aborted or when the inference server
 * cannot listen. A workers file that cannot be read at start rejects with WorkersFileError (exit 2); the token
 * file was checked by buildAgentConfig and is read again at every connect (see tokenFileMetadata).
 */
export async function runAgent(
  config: AgentConfig,
  logger: Logger,
  onStop: (stop: () => Promise<void>) => void,
): Promise<number> {
  let source: HiveSource;
  if (config.source.kind === 'simulate') {
    const hive = await startSimulatedHive(config.hiveId, config.source, logger);
    if (hive === undefined) return 1;
    // A simulated worker's counts move with every request: tell the queen within SIMULATED_CHANGE_INTERVAL_MS.
    source = { ...hive, changes: hive, minChangeIntervalMs: SIMULATED_CHANGE_INTERVAL_MS };
  } else if (config.source.kind === 'workers-file') {
    const file = await WorkersFile.open(config.source.path, { logger });
    source = { provider: file.provider, close: async () => file.close() };
  } else {
    source = await startEngineHive(config.hiveId, config.queens, config.source, logger);
  }
  const { provider, close } = source;
  const tokenLog = logger.child({ component: 'agent', hiveId: config.hiveId });
  const agent = HeartbeatAgent.forQueen(config.queens, config.hiveId, provider, {
    logger,
    credentials: config.credentials,
    ...(config.tokenFile === undefined ? {} : { metadata: tokenFileMetadata(config.tokenFile, tokenLog) }),
    ...(source.changes === undefined ? {} : { changes: source.changes }),
    ...(source.minChangeIntervalMs === undefined ? {} : { minChangeIntervalMs: source.minChangeIntervalMs }),
  });
  if (source.onConnected !== undefined) agent.on('connected', source.onConnected);
  // The heartbeats end first (the queen stops handing the workers out), then the workers stop answering.
  onStop(async () => {
    await agent.stop();
    await close();
  });
  agent.start();
  logger.info(
    { component: 'agent', hiveId: config.hiveId, queens: config.queens, source: config.source.kind, tokenFile: config.tokenFile },
    'hive agent started',
  );
  const stopped = await agent.whenStopped();
  await close();
  if (stopped.reason === 'aborted') {
    logger.error({ component: 'agent', hiveId: config.hiveId, code: stopped.code, details: stopped.details }, 'hive agent stopped by the queen');
    return 1;
  }
  return 0;
}

/**
 * Metadata carrying the token in `path`, read afresh at every call so that rotating a token needs no restart:
 * write the new token into the file, then revoke the old one; the queen ends the stream, and the reconnect sends
 * the new token. A file that cannot be used throws (the agent backs off and tries again) and is logged at error
 * once per distinct problem; a file others can read is logged at warn once per distinct warning. Neither log
 * holds the token.
 */
export function tokenFileMetadata(path: string, log: Logger): () => Metadata {
  let lastProblem: string | undefined;
  let lastWarning: string | undefined;
  return () => {
    let token: string;
    try {
      const read = readTokenFile(path);
      token = read.token;
      if (read.warning !== undefined && read.warning !== lastWarning) log.warn({ tokenFile: path }, read.warning);
      lastWarning = read.warning;
    } catch (error) {
      const problem = error instanceof TokenFileError ? error.problem : String(error);
      const level = problem === lastProblem ? 'debug' : 'error';
      log[level]({ tokenFile: path, problem }, 'cannot use the token file: retrying with backoff');
      lastProblem = problem;
      throw error;
    }
    if (lastProblem !== undefined) {
      log.info({ tokenFile: path }, 'the token file is usable again');
      lastProblem = undefined;
    }
    return bearerMetadata(token)();
  };
}

export { WorkersFileError };
export { startSimulatedHive, type SimulatedHive } from './simulated-hive.js';
