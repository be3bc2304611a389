import type { ServerConfig } from '../server/queen-server.js';
import { ETCD_SETTINGS } from './etcd-settings.js';
import { GATEWAY_SETTINGS } from './gateway-settings.js';

// The `serve` settings as data: flag, environment variable, default and help, one entry each. config.ts reads
// and checks them; main.ts turns them into command-line options.

/** Log levels pino knows, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything `hive-registry serve` runs with. */
export interface ServeConfig extends ServerConfig {
  readonly logLevel: LogLevel;
  /** Listen beyond loopback without authentication and TLS anyway (warned at every start). */
  readonly insecure: boolean;
  /** PEM files for TLS ('' = off); read by the CLI into `tls` once the configuration is valid. */
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  readonly tlsClientCaPath: string;
  /** The auth file ('' = auth off); read by the CLI into `callers` once the configuration is valid. */
  readonly authFilePath: string;
  /** PEM files for TLS to etcd ('' = none); read by the CLI into `etcd.tls`. */
  readonly etcdCaPath: string;
  readonly etcdCertPath: string;
  readonly etcdKeyPath: string;
  /** `--etcd`, checked, as the CLI builds `etcd` from it ([] = a single queen). */
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
  readonly etcdLeaseTtlMs: number;
  readonly etcdTimeoutMs: number;
}

export type Kind =
  | 'address'
  | 'duration'
  | 'seconds'
  | 'count'
  | 'decimal'
  | 'onoff'
  | 'level'
  | 'path'
  | 'file'
  | 'registration'
  | 'switch'
  | 'networks'
  | 'id'
  | 'endpoints'
  | 'prefix';

/** One setting: its flag, its environment variable, its default (as a user would type it) and its meaning. */
export interface Setting {
  readonly key: keyof ServeConfig;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly defaultValue: string;
  /** The default for people (`--help`), where `defaultValue` ('') stands for one computed at start. */
  readonly defaultText?: string;
  readonly help: string;
  /**
   * Inclusive bounds of a 'count' (default: at least 1, no upper bound), a 'decimal' (default: at least 0) or a
   * 'seconds', in milliseconds (default: 1s to 24h).
   */
  readonly min?: number;
  readonly max?: number;
}

/** Every `serve` setting, in the order `--help` lists them. */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'listen',
    flag: 'listen',
    env: 'HIVE_REGISTRY_LISTEN',
    kind: 'address',
    defaultValue: '127.0.0.1:50051',
    help: 'address to listen on, HOST:PORT or [IPv6]:PORT (port 0 picks a free one); loopback unless told otherwise',
  },
  {
    key: 'queenId',
    flag: 'queen-id',
    env: 'HIVE_REGISTRY_QUEEN_ID',
    kind: 'id',
    defaultValue: '',
    defaultText: 'the host name and the bound gRPC port, HOST:PORT',
    help: "this queen's id, on every hive and worker it reports and in ListQueens: 1-128 characters of [A-Za-z0-9._:-]",
  },
  {
    key: 'advertise',
    flag: 'advertise',
    env: 'HIVE_REGISTRY_ADVERTISE',
    kind: 'address',
    defaultValue: '',
    defaultText: 'the listen address, a wildcard host replaced by the host name',
    help: 'where agents and operators reach this queen, HOST:PORT or [IPv6]:PORT, as ListQueens reports it',
  },
  {
    key: 'httpListen',
    flag: 'http-listen',
    env: 'HIVE_REGISTRY_HTTP_LISTEN',
    kind: 'address',
    defaultValue: '',
    help: "HTTP listener for /metrics (Prometheus), /healthz, the dashboard (/) and the inference gateway (/v1/), HOST:PORT; same TLS and auth as gRPC; '' is off",
  },
  {
    key: 'httpMaxConnections',
    flag: 'http-max-connections',
    env: 'HIVE_REGISTRY_HTTP_MAX_CONNECTIONS',
    kind: 'count',
    defaultValue: '4096',
    help: 'most connections the HTTP listener holds at once (a gateway client holds one per request in flight)',
  },
  ...GATEWAY_SETTINGS,
  {
    key: 'heartbeatIntervalMs',
    flag: 'heartbeat-interval',
    env: 'HIVE_REGISTRY_HEARTBEAT_INTERVAL',
    kind: 'duration',
    defaultValue: '5s',
    help: 'how often hives should send heartbeats (sent to them in every ack)',
  },
  {
    key: 'offlineAfterMs',
    flag: 'offline-after',
    env: 'HIVE_REGISTRY_OFFLINE_AFTER',
    kind: 'duration',
    defaultValue: '15s',
    help: 'a hive is offline once its last accepted heartbeat is this old',
  },
  {
    key: 'evictAfterMs',
    flag: 'evict-after',
    env: 'HIVE_REGISTRY_EVICT_AFTER',
    kind: 'duration',
    defaultValue: '10m',
    help: 'a hive is removed from the registry once its last accepted heartbeat is this old',
  },
  {
    key: 'drainTimeoutMs',
    flag: 'drain-timeout',
    env: 'HIVE_REGISTRY_DRAIN_TIMEOUT',
    kind: 'duration',
    defaultValue: '5s',
    help: 'on SIGTERM/SIGINT, how long calls in flight may take before they are cut',
  },
  {
    key: 'maxWorkersPerHive',
    flag: 'max-workers-per-hive',
    env: 'HIVE_REGISTRY_MAX_WORKERS_PER_HIVE',
    kind: 'count',
    defaultValue: '1024',
    help: 'most workers one heartbeat may list',
  },
  {
    key: 'maxDevicesPerHive',
    flag: 'max-devices-per-hive',
    env: 'HIVE_REGISTRY_MAX_DEVICES_PER_HIVE',
    kind: 'count',
    defaultValue: '64',
    help: 'most devices one heartbeat may list',
  },
  {
    key: 'maxStreams',
    flag: 'max-streams',
    env: 'HIVE_REGISTRY_MAX_STREAMS',
    kind: 'count',
    defaultValue: '10000',
    help: 'most heartbeat streams open at once',
  },
  {
    key: 'maxStreamsPerAddress',
    flag: 'max-streams-per-address',
    env: 'HIVE_REGISTRY_MAX_STREAMS_PER_ADDRESS',
    kind: 'count',
    defaultValue: '1000',
    help: 'most heartbeat streams open at once from one remote address (one more is RESOURCE_EXHAUSTED)',
  },
  {
    key: 'heartbeatRateLimit',
    flag: 'heartbeat-rate-limit',
    env: 'HIVE_REGISTRY_HEARTBEAT_RATE_LIMIT',
    kind: 'count',
    defaultValue: '1000',
    help: 'most payloads one heartbeat stream may send per heartbeat interval; beyond it they are refused unread (throttled, not disconnected)',
  },
  {
    key: 'unboundStreamTimeoutMs',
    flag: 'unbound-stream-timeout',
    env: 'HIVE_REGISTRY_UNBOUND_STREAM_TIMEOUT',
    kind: 'duration',
    defaultValue: '10s',
    help: 'end a heartbeat stream with DEADLINE_EXCEEDED when no payload was accepted this long after it opened',
  },
  {
    key: 'maxHives',
    flag: 'max-hives',
    env: 'HIVE_REGISTRY_MAX_HIVES',
    kind: 'count',
    defaultValue: '10000',
    help: 'most hives known at once, in the registry and in the catalog (a new one beyond it is refused)',
  },
  {
    key: 'maxMessageBytes',
    flag: 'max-message-bytes',
    env: 'HIVE_REGISTRY_MAX_MESSAGE_BYTES',
    kind: 'count',
    defaultValue: '4194304',
    help: 'largest request message accepted, in bytes',
  },
  {
    key: 'watchHistoryEvents',
    flag: 'watch-history',
    env: 'HIVE_REGISTRY_WATCH_HISTORY',
    kind: 'count',
    defaultValue: '10000',
    help: 'registry events kept for watchers resuming from a revision (older: RESYNC and a snapshot)',
  },
  {
    key: 'watchQueueEvents',
    flag: 'watch-queue',
    env: 'HIVE_REGISTRY_WATCH_QUEUE',
    kind: 'count',
    defaultValue: '10000',
    help: 'events a watcher may fall behind before it is ended with RESOURCE_EXHAUSTED (it resumes from its last revision)',
  },
  {
    key: 'db',
    flag: 'db',
    env: 'HIVE_REGISTRY_DB',
    kind: 'path',
    defaultValue: './data/hive-registry.db',
    help: 'the catalog\'s SQLite file, created with its folder; :memory: keeps nothing',
  },
  ...ETCD_SETTINGS,
  {
    key: 'registration',
    flag: 'registration',
    env: 'HIVE_REGISTRY_REGISTRATION',
    kind: 'registration',
    defaultValue: 'open',
    help: `which hives may stream heartbeats: open (any; each joins the catalog on its first accepted heartbeat) or required (only hives registered in the catalog)`,
  },
  {
    key: 'catalogFlushIntervalMs',
    flag: 'catalog-flush-interval',
    env: 'HIVE_REGISTRY_CATALOG_FLUSH_INTERVAL',
    kind: 'duration',
    defaultValue: '1s',
    help: `how often heartbeat times are written to the catalog, in one transaction (a crash loses at most this much); with --etcd, in transactions of up to 128 keys, and an online hive's last_seen and a token's last use only every 30 s at most`,
  },
  {
    key: 'keepaliveTimeMs',
    flag: 'keepalive-time',
    env: 'HIVE_REGISTRY_KEEPALIVE_TIME',
    kind: 'duration',
    defaultValue: '30s',
    help: 'ping a connection after this long without activity (HTTP/2 keepalive)',
  },
  {
    key: 'keepaliveTimeoutMs',
    flag: 'keepalive-timeout',
    env: 'HIVE_REGISTRY_KEEPALIVE_TIMEOUT',
    kind: 'duration',
    defaultValue: '10s',
    help: 'close a connection whose keepalive ping is not answered within this (its hives go offline at once)',
  },
  {
    key: 'authFilePath',
    flag: 'auth-file',
    env: 'HIVE_REGISTRY_AUTH_FILE',
    kind: 'file',
    defaultValue: '',
    help: "turn authentication on: a JSON file of callers' token SHA-256s and roles (re-read on SIGHUP); '' is off",
  },
  {
    key: 'insecure',
    flag: 'insecure',
    env: 'HIVE_REGISTRY_INSECURE',
    kind: 'switch',
    defaultValue: 'false',
    help: 'allow a --listen address beyond loopback without both authentication and TLS (warned at every start)',
  },
  {
    key: 'tlsCertPath',
    flag: 'tls-cert',
    env: 'HIVE_REGISTRY_TLS_CERT',
    kind: 'file',
    defaultValue: '',
    help: "serve TLS with this PEM certificate chain (with --tls-key); '' is plaintext",
  },
  {
    key: 'tlsKeyPath',
    flag: 'tls-key',
    env: 'HIVE_REGISTRY_TLS_KEY',
    kind: 'file',
    defaultValue: '',
    help: 'the PEM private key of --tls-cert',
  },
  {
    key: 'tlsClientCaPath',
    flag: 'tls-client-ca',
    env: 'HIVE_REGISTRY_TLS_CLIENT_CA',
    kind: 'file',
    defaultValue: '',
    help: 'require client certificates signed by this PEM CA (mutual TLS; needs --tls-cert)',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'HIVE_REGISTRY_LOG_LEVEL',
    kind: 'level',
    defaultValue: 'info',
    help: `log level: ${LOG_LEVELS.join(', ')}`,
  },
];
