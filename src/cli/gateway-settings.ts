import type { Setting } from './serve-settings.js';

// The `serve` settings of the inference gateway (on the HTTP listener), kept beside the others in SETTINGS.

/** Every gateway setting, in the order `--help` lists them. */
export const GATEWAY_SETTINGS: readonly Setting[] = [
  {
    key: 'gatewayQueueTimeoutMs',
    flag: 'gateway-queue-timeout',
    env: 'HIVE_REGISTRY_GATEWAY_QUEUE_TIMEOUT',
    kind: 'duration',
    defaultValue: '30s',
    help: 'how long a gateway request waits for a free slot of a worker with its model, then 503 with Retry-After',
  },
  {
    key: 'gatewayConnectTimeoutMs',
    flag: 'gateway-connect-timeout',
    env: 'HIVE_REGISTRY_GATEWAY_CONNECT_TIMEOUT',
    kind: 'duration',
    defaultValue: '5s',
    help: 'connecting to a worker; past it the worker counts as failed and the request goes to another',
  },
  {
    key: 'gatewayResponseTimeoutMs',
    flag: 'gateway-response-timeout',
    env: 'HIVE_REGISTRY_GATEWAY_RESPONSE_TIMEOUT',
    kind: 'duration',
    defaultValue: '10m',
    help: "a worker's response head after the request was sent (a whole answer when not streaming), and then each gap between chunks",
  },
  {
    key: 'gatewayAllowUpstream',
    flag: 'gateway-allow-upstream',
    env: 'HIVE_REGISTRY_GATEWAY_ALLOW_UPSTREAM',
    kind: 'networks',
    defaultValue: '',
    help: "addresses and CIDR blocks the gateway may send requests to, comma-separated (worker URLs are what hives report); '' allows any",
  },
  {
    key: 'gatewayMaxBodyBytes',
    flag: 'gateway-max-body',
    env: 'HIVE_REGISTRY_GATEWAY_MAX_BODY',
    kind: 'count',
    defaultValue: '16777216',
    help: 'largest gateway request body, in bytes (413 beyond it)',
  },
];
