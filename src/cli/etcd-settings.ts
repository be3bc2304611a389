import type { Setting } from './serve-settings.js';

// The `serve` settings of a federation (several queens over one etcd), kept beside the others in SETTINGS.

/** Every federation setting, in the order `--help` lists them. */
export const ETCD_SETTINGS: readonly Setting[] = [
  {
    key: 'etcdEndpoints',
    flag: 'etcd',
    env: 'HIVE_REGISTRY_ETCD',
    kind: 'endpoints',
    defaultValue: '',
    help: "join a federation of queens through etcd (v3 API, 3.4 or later): its client URLs, comma-separated, http://HOST:PORT or https://HOST:PORT; the catalog then lives in etcd (no --db); '' is a single queen",
  },
  {
    key: 'etcdPrefix',
    flag: 'etcd-prefix',
    env: 'HIVE_REGISTRY_ETCD_PREFIX',
    kind: 'prefix',
    defaultValue: '/hive-registry/',
    help: "every key of the federation starts with it (one etcd can hold several federations); ends with '/'",
  },
  {
    key: 'etcdLeaseTtlMs',
    flag: 'etcd-lease-ttl',
    env: 'HIVE_REGISTRY_ETCD_LEASE_TTL',
    kind: 'seconds',
    defaultValue: '10s',
    min: 2_000,
    max: 3_600_000,
    help: "this queen's etcd lease, in whole seconds (2s to 1h): a queen killed without warning loses its hives this long after, and one cut off from etcd this long reports NOT_SERVING",
  },
  {
    key: 'etcdTimeoutMs',
    flag: 'etcd-timeout',
    env: 'HIVE_REGISTRY_ETCD_TIMEOUT',
    kind: 'duration',
    defaultValue: '2s',
    help: 'deadline of each call to etcd: a catalog write etcd has not answered within it answers UNAVAILABLE',
  },
  {
    key: 'etcdCaPath',
    flag: 'etcd-ca',
    env: 'HIVE_REGISTRY_ETCD_CA',
    kind: 'file',
    defaultValue: '',
    help: "TLS to etcd: the PEM CA that signed etcd's certificate ('' with https:// endpoints: the system's CAs)",
  },
  {
    key: 'etcdCertPath',
    flag: 'etcd-cert',
    env: 'HIVE_REGISTRY_ETCD_CERT',
    kind: 'file',
    defaultValue: '',
    help: 'TLS to etcd: this queen\'s PEM client certificate, when etcd asks for one (with --etcd-key)',
  },
  {
    key: 'etcdKeyPath',
    flag: 'etcd-key',
    env: 'HIVE_REGISTRY_ETCD_KEY',
    kind: 'file',
    defaultValue: '',
    help: 'the PEM private key of --etcd-cert',
  },
];

/** The federation setting named `key`. */
export function etcdSetting(key: Setting['key']): Setting {
  const setting = ETCD_SETTINGS.find((candidate) => candidate.key === key);
  if (setting === undefined) throw new Error(`no etcd setting ${key}`);
  return setting;
}

/** Checks that --etcd-cert and --etcd-key ('' = not given) come together; returns a problem or undefined. */
export function checkEtcdClientCert(certPath: string, keyPath: string): string | undefined {
  if ((certPath === '') === (keyPath === '')) return undefined;
  return '--etcd-cert and --etcd-key go together: give both, or neither';
}

/** Checks an etcd key prefix (`--etcd-prefix`); returns a problem or undefined. */
export function checkEtcdPrefix(prefix: string): string | undefined {
  if (/^\/[\x21-\x7e]*\/$/.test(prefix) && prefix.length <= 256) return undefined;
  return `must start and end with '/' and hold only printable ASCII without spaces (at most 256), got ${JSON.stringify(prefix)}`;
}

/** Checks one etcd client URL; returns a problem or undefined. */
function checkEtcdEndpoint(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be an etcd client URL such as http://127.0.0.1:2379, got ${JSON.stringify(text)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `must be an http:// or https:// URL, got ${JSON.stringify(text)}`;
  }
  if (url.port === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
    return `must be SCHEME://HOST:PORT with nothing after the port, got ${JSON.stringify(text)}`;
  }
  return undefined;
}

/** The endpoints of a comma-separated list, each checked; problems name the entry. */
export function parseEtcdEndpoints(raw: string): { endpoints: string[]; problems: string[] } {
  if (raw.trim() === '') return { endpoints: [], problems: [] };
  const endpoints = raw.split(',').map((entry) => entry.trim());
  const problems: string[] = [];
  endpoints.forEach((endpoint, i) => {
    const bad = endpoint === '' ? 'is empty' : checkEtcdEndpoint(endpoint);
    if (bad !== undefined) problems.push(`entry ${i + 1} ${bad}`);
  });
  if (problems.length === 0 && new Set(endpoints.map((endpoint) => new URL(endpoint).protocol)).size > 1) {
    problems.push('mixes http:// and https:// endpoints: use one scheme for all');
  }
  return { endpoints: endpoints.map((e) => e.replace(/\/$/, '')), problems };
}
