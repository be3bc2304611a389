import { isIP } from 'node:net';
import { REGISTRATION_MODES } from '../catalog/types.js';
import { UpstreamAllowList } from '../gateway/upstream-allow.js';
import { checkId } from '../registry/ids.js';
import { isLoopbackHost, isWildcardHost } from '../common/hosts.js';
import { checkEtcdClientCert, checkEtcdPrefix, ETCD_SETTINGS, parseEtcdEndpoints } from './etcd-settings.js';
import { LOG_LEVELS, SETTINGS, type ServeConfig } from './serve-settings.js';

export { LOG_LEVELS, SETTINGS, type Kind, type LogLevel, type ServeConfig, type Setting } from './serve-settings.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
/** Longest duration setting: a day (longer is a typo, and would overflow Node timers anyway). */
const MAX_DURATION_MS = 86_400_000;

/** Parses "500ms", "5s", "1.5m", "1h" to milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (match === null) return undefined;
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  return Number.isFinite(ms) ? ms : undefined;
}

/** `ms` in the largest unit that holds it whole, as a flag would take it: 2000 is "2s", 3600000 "1h". */
function durationText(ms: number): string {
  const unit = (['h', 'm', 's'] as const).find((name) => ms % (UNIT_MS[name] ?? 1) === 0);
  return unit === undefined ? `${ms}ms` : `${ms / (UNIT_MS[unit] ?? 1)}${unit}`;
}

/** Checks HOST:PORT / [IPv6]:PORT; returns a problem or undefined. */
export function checkListen(text: string): string | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (match === null) return `must be HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(text)}`;
  const [, v6, host, port] = match;
  if (v6 !== undefined && isIP(v6) !== 6) return `${JSON.stringify(v6)} is not an IPv6 address`;
  if (host !== undefined && !/^[A-Za-z0-9.-]+$/.test(host)) return `${JSON.stringify(host)} is not a host name`;
  if (Number(port) > 65_535) return `port must be 0 to 65535, got ${port}`;
  return undefined;
}

/** Checks that a valid HOST:PORT can be connected to (not a wildcard host, not port 0); returns a problem or undefined. */
export function checkReachable(text: string): string | undefined {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (isWildcardHost(host)) return `${JSON.stringify(host)} is a wildcard, not an address to connect to`;
  if (Number(text.slice(colon + 1)) === 0) return 'port 0 is not a port to connect to';
  return undefined;
}

/** Whether a listen address only accepts connections from this machine. */
export function isLoopback(listen: string): boolean {
  return isLoopbackHost(listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, ''));
}

/** The listeners (flag and address) bound beyond loopback: gRPC's, and the HTTP listener's when it is on. */
export function exposedListeners(config: Pick<ServeConfig, 'listen' | 'httpListen'>): { flag: string; address: string }[] {
  const listeners = [{ flag: '--listen', address: config.listen }];
  if (config.httpListen !== undefined && config.httpListen !== '') {
    listeners.push({ flag: '--http-listen', address: config.httpListen });
  }
  return listeners.filter((listener) => !isLoopback(listener.address));
}

/** What a listener beyond loopback lacks: the flags naming authentication and TLS, when missing. */
export function exposureGaps(config: Pick<ServeConfig, 'authFilePath' | 'tlsCertPath'>): string[] {
  const missing: string[] = [];
  if (config.authFilePath === '') missing.push('--auth-file');
  if (config.tlsCertPath === '') missing.push('--tls-cert');
  return missing;
}

/** What an exposed listener without `missing` lets anyone who reaches it do. */
export function exposureRisk(flag: string, missing: readonly string[]): string {
  if (flag === '--http-listen') {
    return missing.includes('--auth-file')
      ? "read the fleet's metrics and dashboard, and send inference requests through the gateway"
      : 'read the tokens, prompts and answers of HTTP requests on the wire';
  }
  return missing.includes('--auth-file')
    ? 'send heartbeats and call every RPC'
    : 'read and alter tokens and heartbeats on the wire';
}

export type ParseResult =
  | { readonly ok: true; readonly config: Readonly<ServeConfig> }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Builds the `serve` configuration: for each setting the flag if given, else its environment variable, else its
 * default. Returns every problem at once, so one run of a bad command line shows all that is wrong.
 */
export function buildServeConfig(
  flags: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): ParseResult {
  const problems: string[] = [];
  const values: Record<string, string | number | boolean> = {};
  for (const setting of SETTINGS) {
    const fromFlag = flags[setting.key];
    const fromEnv = env[setting.env];
    const raw = fromFlag ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : setting.defaultValue);
    const source = fromFlag !== undefined ? `--${setting.flag}` : fromEnv ? setting.env : `default of --${setting.flag}`;
    const problem = (text: string): void => {
      problems.push(`${source}: ${text}`);
    };
    switch (setting.kind) {
      case 'address': {
        // A setting that is off by default ('') may be turned off explicitly.
        const bad =
          raw === '' && setting.defaultValue === ''
            ? undefined
            : (checkListen(raw) ?? (setting.key === 'advertise' ? checkReachable(raw) : undefined));
        if (bad !== undefined) problem(bad);
        values[setting.key] = raw;
        break;
      }
      case 'duration': {
        const ms = parseDuration(raw);
        if (ms === undefined) problem(`must be a duration such as 500ms, 5s, 2m or 1h, got ${JSON.stringify(raw)}`);
        else if (ms <= 0 || ms > MAX_DURATION_MS) problem(`must be more than 0 and at most 24h, got ${raw}`);
        values[setting.key] = ms ?? 0;
        break;
      }
      case 'seconds': {
        const ms = parseDuration(raw);
        if (ms === undefined || !Number.isInteger(ms / 1000)) {
          problem(`must be a whole number of seconds such as 10s, got ${JSON.stringify(raw)}`);
        } else {
          const min = setting.min ?? 1_000;
          const max = setting.max ?? MAX_DURATION_MS;
          if (ms < min || ms > max) problem(`must be ${durationText(min)} to ${durationText(max)}, got ${raw}`);
        }
        values[setting.key] = ms ?? 0;
        break;
      }
      case 'endpoints': {
        const { endpoints, problems: bad } = parseEtcdEndpoints(raw);
        for (const text of bad) problem(text);
        values[setting.key] = endpoints as unknown as string;
        break;
      }
      case 'prefix': {
        const bad = checkEtcdPrefix(raw);
        if (bad !== undefined) problem(bad);
        values[setting.key] = raw;
        break;
      }
      case 'count': {
        const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
        const min = setting.min ?? 1;
        if (!Number.isSafeInteger(n) || n < min || (setting.max !== undefined && n > setting.max)) {
          problem(
            setting.max === undefined
              ? `must be a whole number of at least ${min}, got ${JSON.stringify(raw)}`
              : `must be a whole number from ${min} to ${setting.max}, got ${JSON.stringify(raw)}`,
          );
        }
        values[setting.key] = n;
        break;
      }
      case 'decimal': {
        const n = /^(?:\d+(?:\.\d+)?|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
        const min = setting.min ?? 0;
        if (!Number.isFinite(n) || n < min || (setting.max !== undefined && n > setting.max)) {
          problem(
            setting.max === undefined
              ? `must be a number of at least ${min}, got ${JSON.stringify(raw)}`
              : `must be a number from ${min} to ${setting.max}, got ${JSON.stringify(raw)}`,
          );
        }
        values[setting.key] = n;
        break;
      }
      case 'onoff':
        if (raw !== 'on' && raw !== 'off') problem(`must be on or off, got ${JSON.stringify(raw)}`);
        values[setting.key] = raw === 'on';
        break;
      case 'path':
        if (raw.length === 0 || raw.includes('\0')) problem(`must be a file path or :memory:, got ${JSON.stringify(raw)}`);
        values[setting.key] = raw;
        break;
      case 'file':
        if (raw.includes('\0')) problem(`must be a file path, got ${JSON.stringify(raw)}`);
        values[setting.key] = raw;
        break;
      case 'switch':
        if (raw !== 'true' && raw !== 'false') problem(`must be true or false, got ${JSON.stringify(raw)}`);
        values[setting.key] = raw === 'true';
        break;
      case 'registration':
        if (!(REGISTRATION_MODES as readonly string[]).includes(raw)) {
          problem(`must be one of ${REGISTRATION_MODES.join(', ')}, got ${JSON.stringify(raw)}`);
        }
        values[setting.key] = raw;
        break;
      case 'networks':
        try {
          UpstreamAllowList.parse(raw);
        } catch (error) {
          problem((error as Error).message);
        }
        values[setting.key] = raw.trim();
        break;
      case 'id':
        // '' stands for the default, which needs the bound port: computed at start.
        if (raw !== '') {
          const bad = checkId(source, raw);
          if (bad !== undefined) problems.push(bad);
        }
        values[setting.key] = raw;
        break;
      case 'level':
        if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
          problem(`must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
        }
        values[setting.key] = raw;
        break;
    }
  }
  const config = values as unknown as ServeConfig;
  if (problems.length === 0) {
    const missing = exposureGaps(config);
    for (const { flag, address } of missing.length > 0 && !config.insecure ? exposedListeners(config) : []) {
      problems.push(
        `${flag} ${address} is beyond loopback, which needs both authentication and TLS, and this configuration has no ${missing.join(' and no ')}: anyone who reaches the address could ${exposureRisk(flag, missing)}; add them, listen on loopback, or pass --insecure to accept the risk`,
      );
    }
    if ((config.tlsCertPath === '') !== (config.tlsKeyPath === '')) {
      problems.push('--tls-cert and --tls-key go together: give both, or neither for plaintext');
    }
    if (config.tlsClientCaPath !== '' && config.tlsCertPath === '') {
      problems.push('--tls-client-ca needs --tls-cert and --tls-key: client certificates are only asked for over TLS');
    }
    if (config.offlineAfterMs <= config.heartbeatIntervalMs) {
      problems.push(
        `--offline-after (${config.offlineAfterMs} ms) must be longer than --heartbeat-interval (${config.heartbeatIntervalMs} ms), or every hive flaps offline between heartbeats`,
      );
    }
    if (config.etcdEndpoints.length > 0) {
      const dbFrom = flags.db !== undefined ? '--db' : env.HIVE_REGISTRY_DB ? 'HIVE_REGISTRY_DB' : undefined;
      if (dbFrom !== undefined) {
        problems.push(
          `--etcd and ${dbFrom} exclude each other: in a federation the catalog lives in etcd (move a SQLite catalog there with \`hive-registry catalog export\` and \`catalog import --etcd\`)`,
        );
      }
    } else {
      // A single queen would silently ignore them: every federation setting given is named.
      for (const setting of ETCD_SETTINGS) {
        if (setting.key === 'etcdEndpoints') continue;
        const fromFlag = flags[setting.key] ?? '';
        const from = fromFlag !== '' ? `--${setting.flag}` : (env[setting.env] ?? '') !== '' ? setting.env : undefined;
        if (from === undefined) continue;
        problems.push(
          `${from} needs --etcd: ${setting.kind === 'file' ? 'it is for TLS to etcd' : 'it only applies to a federation of queens'}`,
        );
      }
    }
    const unpaired = checkEtcdClientCert(config.etcdCertPath, config.etcdKeyPath);
    if (unpaired !== undefined) problems.push(unpaired);
    if (config.evictAfterMs < config.offlineAfterMs) {
      problems.push(
        `--evict-after (${config.evictAfterMs} ms) must be at least --offline-after (${config.offlineAfterMs} ms)`,
      );
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: Object.freeze(config) };
}
