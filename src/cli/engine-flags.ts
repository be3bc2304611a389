import { isIP } from 'node:net';
import { checkDistinct, checkWorkerIds, EngineSpecError, parseEngineSpec, type EngineSpec } from '../agent/engines/engine-spec.js';
import { DEFAULT_POLL_TIMEOUT_MS } from '../agent/engines/engine-http.js';
import { GPU_STATS_MODES, type GpuStatsMode } from '../agent/engines/gpu-stats-choice.js';
import { parseDuration } from './config.js';

/** What `--gpu-stats` may say: `auto` (nvidia-smi on PATH, else AMD cards in sysfs, else none) or one source. */
export const GPU_STATS_CHOICES = GPU_STATS_MODES;

/** The environment variable standing in for --advertise-host. */
export const ADVERTISE_HOST_ENV = 'HIVE_REGISTRY_ADVERTISE_HOST';
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
export { DEFAULT_POLL_TIMEOUT_MS };
const MIN_POLL_MS = 100;
const MAX_POLL_INTERVAL_MS = 3_600_000;
const MAX_POLL_TIMEOUT_MS = 60_000;

/** `--engine` / `--engines-file` and their companions, checked. */
export interface EnginesSource {
  readonly kind: 'engines';
  /** The `--engine` SPECs, in the order given. */
  readonly specs: readonly EngineSpec[];
  /** `--engines-file`, followed; its engines are polled beside the SPECs. */
  readonly file?: string;
  /** `--advertise-host`; undefined: the local address of the agent's connection to the queen. */
  readonly advertiseHost?: string;
  readonly pollIntervalMs: number;
  readonly pollTimeoutMs: number;
  readonly gpuStats: GpuStatsMode;
}

export interface EngineFlags {
  readonly engine?: readonly string[];
  readonly enginesFile?: string;
  readonly advertiseHost?: string;
  readonly pollInterval?: string;
  readonly pollTimeout?: string;
  readonly gpuStats?: string;
}

/** The flags that only make sense with --engine or --engines-file, by EngineFlags key. */
export const ENGINE_ONLY_FLAGS: readonly (readonly [keyof EngineFlags, string])[] = [
  ['advertiseHost', '--advertise-host'],
  ['pollInterval', '--poll-interval'],
  ['pollTimeout', '--poll-timeout'],
  ['gpuStats', '--gpu-stats'],
];

/** Whether the command line asks for real engines. */
export function wantsEngines(flags: EngineFlags): boolean {
  return (flags.engine?.length ?? 0) > 0 || flags.enginesFile !== undefined;
}

/** Checks the engine flags; problems go to `problems` (each names its flag or SPEC key). */
export function engineFlags(
  flags: EngineFlags,
  env: Readonly<Record<string, string | undefined>>,
  hiveId: string,
  problems: string[],
): EnginesSource {
  const specs: EngineSpec[] = [];
  for (const [i, text] of (flags.engine ?? []).entries()) {
    try {
      specs.push(parseEngineSpec(text));
    } catch (error) {
      if (!(error instanceof EngineSpecError)) throw error;
      problems.push(`--engine ${flags.engine !== undefined && flags.engine.length > 1 ? `#${i + 1} ` : ''}${JSON.stringify(text)}: ${error.message}`);
    }
  }
  if (specs.length === (flags.engine?.length ?? 0)) {
    try {
      checkDistinct(specs);
      checkWorkerIds(specs, hiveId);
    } catch (error) {
      if (!(error instanceof EngineSpecError)) throw error;
      problems.push(`--engine: ${error.message}`);
    }
  }
  const pollIntervalMs = duration('--poll-interval', flags.pollInterval, DEFAULT_POLL_INTERVAL_MS, MAX_POLL_INTERVAL_MS, problems);
  const pollTimeoutMs = duration('--poll-timeout', flags.pollTimeout, DEFAULT_POLL_TIMEOUT_MS, MAX_POLL_TIMEOUT_MS, problems);
  const gpuStats = (flags.gpuStats ?? 'auto') as GpuStatsMode;
  if (!GPU_STATS_CHOICES.includes(gpuStats)) {
    problems.push(`--gpu-stats: must be one of ${GPU_STATS_CHOICES.join(', ')}, got ${JSON.stringify(flags.gpuStats)}`);
  }
  const advertiseText = flags.advertiseHost ?? (env[ADVERTISE_HOST_ENV] || undefined);
  const advertiseHost = advertiseText?.replace(/^\[|\]$/g, '');
  if (advertiseHost !== undefined && isIP(advertiseHost) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(advertiseHost)) {
    const flag = flags.advertiseHost === undefined ? ADVERTISE_HOST_ENV : '--advertise-host';
    problems.push(`${flag}: must be a host name or an IP address, got ${JSON.stringify(advertiseText)}`);
  }
  return {
    kind: 'engines',
    specs,
    ...(flags.enginesFile === undefined ? {} : { file: flags.enginesFile }),
    ...(advertiseHost === undefined ? {} : { advertiseHost }),
    pollIntervalMs,
    pollTimeoutMs,
    gpuStats,
  };
}

function duration(flag: string, text: string | undefined, fallback: number, maxMs: number, problems: string[]): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_POLL_MS || ms > maxMs) {
    problems.push(`${flag}: must be a duration from ${MIN_POLL_MS}ms to ${maxMs / 1000}s such as 500ms or 2s, got ${JSON.stringify(text)}`);
    return fallback;
  }
  return ms;
}
