import type { Catalog } from '../catalog/catalog.js';
import type { RegistrationMode } from '../catalog/types.js';
import type { Caller } from './callers.js';
import type { ServerTls } from './grpc-server.js';

/** Everything the queen's server needs to know; parsed and validated by the CLI, frozen. */
export interface ServerConfig {
  /** HOST:PORT to listen on ([v6]:PORT for IPv6); port 0 picks a free port. */
  readonly listen: string;
  /**
   * This queen's id, on every HiveState and WorkerEntry it answers and in ListQueens: 1-128 characters of
   * [A-Za-z0-9._:-]. Absent or '': the host name and the bound gRPC port (`gpu-queen-1:50051`).
   */
  readonly queenId?: string;
  /**
   * HOST:PORT where agents and operators reach this queen (ListQueens' `address`). Absent or '': the listen address,
   * a wildcard host replaced by the host name and port 0 by the bound port.
   */
  readonly advertise?: string;
  /**
   * HOST:PORT of the HTTP listener (/healthz, /metrics, the dashboard, the gateway), with the same TLS and auth as gRPC; absent or '' = off
   * (and then no metrics are kept at all).
   */
  readonly httpListen?: string;
  /** Most connections the HTTP listener holds at once. */
  readonly httpMaxConnections: number;
  /** How long a gateway request waits for a free slot of a worker with its model before 503. */
  readonly gatewayQueueTimeoutMs: number;
  /** Connecting to a worker from the gateway. */
  readonly gatewayConnectTimeoutMs: number;
  /** A worker's response head after the request, then each gap between chunks of its body. */
  readonly gatewayResponseTimeoutMs: number;
  /** Largest gateway request body, in bytes. */
  readonly gatewayMaxBodyBytes: number;
  /** Addresses and CIDR blocks the gateway may send requests to, comma-separated; '' allows any. */
  readonly gatewayAllowUpstream: string;
  /**
   * Prefix affinity (routing v3): a gateway request goes to the worker that served the longest prefix of its prompt,
   * within `gatewayAffinitySlack`; false: the load order alone (and no x-hive-prefix-blocks header).
   */
  readonly gatewayPrefixAffinity: boolean;
  /** Prefix affinity: bytes of prompt text per block (16-65536); only full blocks count. */
  readonly gatewayPrefixBlockBytes: number;
  /** Prefix affinity: most prefix keys remembered (LRU), 1-10,000,000. */
  readonly gatewayPrefixCacheKeys: number;
  /**
   * Prefix affinity: how much more loaded (load fraction) the worker of the longest matching prefix may be than the
   * least-loaded candidate, 0-10.
   */
  readonly gatewayAffinitySlack: number;
  /** How often hives should send heartbeats (told to them in every ack). */
  readonly heartbeatIntervalMs: number;
  /** A hive is offline once its last accepted heartbeat is this old. */
  readonly offlineAfterMs: number;
  /** A hive is evicted once its last accepted heartbeat is this old. */
  readonly evictAfterMs: number;
  /** How long shutdown waits for calls in flight before cutting them. */
  readonly drainTimeoutMs: number;
  /** Most workers one heartbeat may list. */
  readonly maxWorkersPerHive: number;
  /** Most devices one heartbeat may list. */
  readonly maxDevicesPerHive: number;
  /** Most heartbeat streams open at once. */
  readonly maxStreams: number;
  /** Most heartbeat streams open at once from one remote address. */
  readonly maxStreamsPerAddress: number;
  /** Most payloads one heartbeat stream may send per heartbeat interval; beyond it they are refused unread. */
  readonly heartbeatRateLimit: number;
  /** A heartbeat stream with no accepted payload this long after opening is ended with DEADLINE_EXCEEDED. */
  readonly unboundStreamTimeoutMs: number;
  /** Most hives known at once, in the registry and the catalog. */
  readonly maxHives: number;
  /** Largest request message accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** Registry events kept for watchers resuming from a revision. */
  readonly watchHistoryEvents: number;
  /** Events a watcher may fall behind before it is ended with RESOURCE_EXHAUSTED. */
  readonly watchQueueEvents: number;
  /**
   * The catalog's SQLite file (created with its folder), or `:memory:` to keep nothing. Unused with `etcd` (the
   * catalog then lives in etcd) and when QueenOptions.catalog gives the queen a catalog already open.
   */
  readonly db: string;
  /** `open`: hives join the catalog on their first accepted heartbeat; `required`: only registered hives may. */
  readonly registration: RegistrationMode;
  /** How often heartbeat-driven catalog changes (last_seen, last_peer, new hives) are written: one transaction each. */
  readonly catalogFlushIntervalMs: number;
  /** HTTP/2 keepalive: a connection is pinged after this long without activity... */
  readonly keepaliveTimeMs: number;
  /** ...and closed (its streams ended, its hives offline) when the ping is not answered within this. */
  readonly keepaliveTimeoutMs: number;
  /** Serve TLS (and with `clientCa`, mutual TLS); plaintext when absent. */
  readonly tls?: ServerTls;
  /**
   * Auth on: the callers (from the auth file) and their roles; hives need tokens issued by the catalog. Absent:
   * auth off, every call is let in.
   */
  readonly callers?: readonly Caller[];
  /** Join a federation of queens through etcd; absent: a single queen with its SQLite catalog (`db`). */
  readonly etcd?: EtcdSettings;
}

/** How a queen of a federation reaches etcd, and its lease there. */
export interface EtcdSettings {
  /** Client URLs, `http(s)://HOST:PORT`. */
  readonly endpoints: readonly string[];
  /** Every key of the federation starts with it; ends with '/'. */
  readonly prefix: string;
  /** The queen's lease, in ms (whole seconds). */
  readonly leaseTtlMs: number;
  /** Deadline of each call to etcd. */
  readonly timeoutMs: number;
  /** TLS to etcd: its CA, and a client certificate when it asks for one. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

/** What only embedders and tests change. */
export interface QueenOptions {
  /**
   * Measure event-loop stalls (the sweep timer firing late) and tell the registry, so a stall does not count
   * toward hives' leases. On by default; tests that drive a manual clock turn it off (their clock jumps are not
   * stalls).
   */
  readonly detectStalls?: boolean;
  /** Where the built dashboard is read from; default dist/dashboard under the package root. */
  readonly dashboardAssetsDir?: string;
  /** The host name in the default queen id and addresses; default the operating system's (`hostname`). */
  readonly hostName?: string;
  /**
   * A catalog already open (etcd, for a federation): the queen uses it instead of opening `config.db`, and closes
   * it on stop. Its registration mode and hive limit are its own (built from the same config by the caller).
   */
  readonly catalog?: Catalog;
}
