import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServeConfig, checkListen, isLoopback, parseDuration } from '../../src/cli/config';
import { etcdTls } from '../../src/cli/tls-files';
import { reachableAddress, resolveQueenIdentity } from '../../src/server/queen-identity';

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [' 10m ', 600_000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '5', 's', '5 s', '-5s', '5d', '1e3ms', 'abc'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('checkListen', () => {
  test.each(['127.0.0.1:50051', 'localhost:0', '[::1]:6000', '0.0.0.0:65535', 'queen.internal:443'])(
    'accepts %s',
    (address) => {
      expect(checkListen(address)).toBeUndefined();
    },
  );

  test.each([
    ['localhost', 'must be HOST:PORT or [IPv6]:PORT, got "localhost"'],
    ['127.0.0.1:65536', 'port must be 0 to 65535, got 65536'],
    ['[not-v6]:80', '"not-v6" is not an IPv6 address'],
    ['::1:80', 'must be HOST:PORT or [IPv6]:PORT, got "::1:80"'],
    ['bad_host:80', '"bad_host" is not a host name'],
  ])('refuses %s', (address, problem) => {
    expect(checkListen(address)).toBe(problem);
  });
});

describe('isLoopback', () => {
  test.each([
    ['127.0.0.1:50051', true],
    ['127.8.9.10:1', true],
    ['localhost:1', true],
    ['[::1]:1', true],
    ['0.0.0.0:50051', false],
    ['[::]:50051', false],
    ['10.0.0.1:50051', false],
  ])('%s -> %s', (address, loopback) => {
    expect(isLoopback(address)).toBe(loopback);
  });
});

describe('buildServeConfig', () => {
  test('defaults: loopback, 5 s heartbeats, offline after 15 s, evicted after 10 min', () => {
    const result = buildServeConfig({}, {});
    expect(result).toEqual({
      ok: true,
      config: {
        listen: '127.0.0.1:50051',
        queenId: '',
        advertise: '',
        httpListen: '',
        httpMaxConnections: 4_096,
        gatewayQueueTimeoutMs: 30_000,
        gatewayConnectTimeoutMs: 5_000,
        gatewayResponseTimeoutMs: 600_000,
        gatewayMaxBodyBytes: 16_777_216,
        gatewayAllowUpstream: '',
        gatewayPrefixAffinity: true,
        gatewayPrefixBlockBytes: 256,
        gatewayPrefixCacheKeys: 100_000,
        gatewayAffinitySlack: 0.25,
        heartbeatIntervalMs: 5_000,
        offlineAfterMs: 15_000,
        evictAfterMs: 600_000,
        drainTimeoutMs: 5_000,
        maxWorkersPerHive: 1024,
        maxDevicesPerHive: 64,
        maxStreams: 10_000,
        maxStreamsPerAddress: 1_000,
        heartbeatRateLimit: 1_000,
        unboundStreamTimeoutMs: 10_000,
        maxHives: 10_000,
        maxMessageBytes: 4_194_304,
        watchHistoryEvents: 10_000,
        watchQueueEvents: 10_000,
        db: './data/hive-registry.db',
        etcdEndpoints: [],
        etcdPrefix: '/hive-registry/',
        etcdLeaseTtlMs: 10_000,
        etcdTimeoutMs: 2_000,
        etcdCaPath: '',
        etcdCertPath: '',
        etcdKeyPath: '',
        registration: 'open',
        catalogFlushIntervalMs: 1_000,
        keepaliveTimeMs: 30_000,
        keepaliveTimeoutMs: 10_000,
        insecure: false,
        tlsCertPath: '',
        tlsKeyPath: '',
        tlsClientCaPath: '',
        authFilePath: '',
        logLevel: 'info',
      },
    });
    if (result.ok) expect(Object.isFrozen(result.config)).toBe(true);
  });

  test('a flag beats its environment variable, which beats the default; an empty variable counts as unset', () => {
    const result = buildServeConfig(
      { listen: '127.0.0.1:7000' },
      { HIVE_REGISTRY_LISTEN: '127.0.0.1:8000', HIVE_REGISTRY_OFFLINE_AFTER: '30s', HIVE_REGISTRY_LOG_LEVEL: '' },
    );
    expect(result).toMatchObject({ ok: true, config: { listen: '127.0.0.1:7000', offlineAfterMs: 30_000, logLevel: 'info' } });
  });

  test('every problem is listed at once, each naming where the value came from', () => {
    const result = buildServeConfig(
      { listen: 'nowhere', maxStreams: '0' },
      { HIVE_REGISTRY_EVICT_AFTER: 'soon', HIVE_REGISTRY_DRAIN_TIMEOUT: '25h' },
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        '--listen: must be HOST:PORT or [IPv6]:PORT, got "nowhere"',
        'HIVE_REGISTRY_EVICT_AFTER: must be a duration such as 500ms, 5s, 2m or 1h, got "soon"',
        'HIVE_REGISTRY_DRAIN_TIMEOUT: must be more than 0 and at most 24h, got 25h',
        '--max-streams: must be a whole number of at least 1, got "0"',
      ],
    });
  });

  test('catalog settings: --db, --registration and --catalog-flush-interval, from flags or the environment', () => {
    expect(
      buildServeConfig(
        { registration: 'required' },
        { HIVE_REGISTRY_DB: ':memory:', HIVE_REGISTRY_CATALOG_FLUSH_INTERVAL: '250ms' },
      ),
    ).toMatchObject({ ok: true, config: { db: ':memory:', registration: 'required', catalogFlushIntervalMs: 250 } });
    expect(buildServeConfig({ registration: 'closed', db: '', catalogFlushIntervalMs: '0s' }, {})).toEqual({
      ok: false,
      problems: [
        '--db: must be a file path or :memory:, got ""',
        '--registration: must be one of open, required, got "closed"',
        '--catalog-flush-interval: must be more than 0 and at most 24h, got 0s',
      ],
    });
  });

  test('beyond loopback needs auth and TLS, or --insecure; loopback needs neither', () => {
    const refused = buildServeConfig({ listen: '0.0.0.0:50051' }, {});
    expect(refused).toMatchObject({
      ok: false,
      problems: [expect.stringContaining('--listen 0.0.0.0:50051 is beyond loopback, which needs both authentication and TLS, and this configuration has no --auth-file and no --tls-cert')],
    });
    const tlsOnly = { listen: '10.0.0.1:50051', tlsCertPath: 'c.pem', tlsKeyPath: 'k.pem' };
    expect(buildServeConfig(tlsOnly, {})).toMatchObject({
      ok: false,
      problems: [expect.stringContaining('has no --auth-file: anyone who reaches the address could send heartbeats')],
    });
    const authOnly = { listen: '10.0.0.1:50051', authFilePath: 'auth.json' };
    expect(buildServeConfig(authOnly, {})).toMatchObject({
      ok: false,
      problems: [expect.stringContaining('has no --tls-cert: anyone who reaches the address could read and alter tokens')],
    });
    expect(buildServeConfig({ ...tlsOnly, authFilePath: 'auth.json' }, {})).toMatchObject({ ok: true, config: { insecure: false } });
    expect(buildServeConfig({ ...tlsOnly }, { HIVE_REGISTRY_AUTH_FILE: 'auth.json' })).toMatchObject({ ok: true });
    expect(buildServeConfig({ listen: '0.0.0.0:50051', insecure: 'true' }, {})).toMatchObject({ ok: true, config: { insecure: true } });
    expect(buildServeConfig({ listen: '[::]:50051' }, { HIVE_REGISTRY_INSECURE: 'true' })).toMatchObject({ ok: true });
    expect(buildServeConfig({}, { HIVE_REGISTRY_INSECURE: 'yes' })).toEqual({
      ok: false,
      problems: ['HIVE_REGISTRY_INSECURE: must be true or false, got "yes"'],
    });
    expect(buildServeConfig({ listen: 'localhost:0' }, {})).toMatchObject({ ok: true, config: { insecure: false } });
  });

  test('--http-listen: off by default and when empty; an address is checked like --listen', () => {
    expect(buildServeConfig({ httpListen: '' }, {})).toMatchObject({ ok: true, config: { httpListen: '' } });
    expect(buildServeConfig({}, { HIVE_REGISTRY_HTTP_LISTEN: '127.0.0.1:9090' })).toMatchObject({
      ok: true,
      config: { httpListen: '127.0.0.1:9090' },
    });
    expect(buildServeConfig({ httpListen: '[::1]:0' }, {})).toMatchObject({ ok: true, config: { httpListen: '[::1]:0' } });
    expect(buildServeConfig({ httpListen: 'metrics' }, {})).toEqual({
      ok: false,
      problems: ['--http-listen: must be HOST:PORT or [IPv6]:PORT, got "metrics"'],
    });
    // '' is only "off" for a setting that is off by default: --listen must name an address.
    expect(buildServeConfig({ listen: '' }, {})).toMatchObject({ ok: false, problems: [expect.stringContaining('--listen: must be HOST:PORT')] });
  });

  test('--http-listen beyond loopback needs auth and TLS too, or --insecure; each exposed listener is named', () => {
    expect(buildServeConfig({ httpListen: '0.0.0.0:9090' }, {})).toEqual({
      ok: false,
      problems: [
        expect.stringContaining(
          "--http-listen 0.0.0.0:9090 is beyond loopback, which needs both authentication and TLS, and this configuration has no --auth-file and no --tls-cert: anyone who reaches the address could read the fleet's metrics and dashboard, and send inference requests through the gateway",
        ),
      ],
    });
    const both = buildServeConfig({ listen: '0.0.0.0:50051', httpListen: '0.0.0.0:9090', authFilePath: 'auth.json' }, {});
    expect(both).toMatchObject({ ok: false });
    expect(both.ok ? [] : both.problems.map((p) => p.split(' is beyond')[0])).toEqual([
      '--listen 0.0.0.0:50051',
      '--http-listen 0.0.0.0:9090',
    ]);
    expect(both.ok ? '' : both.problems[1]).toContain('has no --tls-cert: anyone who reaches the address could read the tokens');
    const secured = { httpListen: '0.0.0.0:9090', authFilePath: 'auth.json', tlsCertPath: 'c.pem', tlsKeyPath: 'k.pem' };
    expect(buildServeConfig(secured, {})).toMatchObject({ ok: true });
    expect(buildServeConfig({ httpListen: '0.0.0.0:9090', insecure: 'true' }, {})).toMatchObject({ ok: true });
  });

  test('TLS flags: cert and key go together, a client CA needs them', () => {
    expect(buildServeConfig({ tlsCertPath: 'c.pem' }, {})).toEqual({
      ok: false,
      problems: ['--tls-cert and --tls-key go together: give both, or neither for plaintext'],
    });
    expect(buildServeConfig({}, { HIVE_REGISTRY_TLS_CLIENT_CA: 'ca.pem' })).toEqual({
      ok: false,
      problems: ['--tls-client-ca needs --tls-cert and --tls-key: client certificates are only asked for over TLS'],
    });
    expect(buildServeConfig({ tlsCertPath: 'c.pem', tlsKeyPath: 'k.pem' }, {})).toMatchObject({
      ok: true,
      config: { tlsCertPath: 'c.pem', tlsKeyPath: 'k.pem', tlsClientCaPath: '' },
    });
  });

  test('thresholds must be ordered: interval < offline <= evict', () => {
    expect(buildServeConfig({ heartbeatIntervalMs: '15s' }, {})).toEqual({
      ok: false,
      problems: [
        '--offline-after (15000 ms) must be longer than --heartbeat-interval (15000 ms), or every hive flaps offline between heartbeats',
      ],
    });
    expect(buildServeConfig({ evictAfterMs: '10s' }, {})).toEqual({
      ok: false,
      problems: ['--evict-after (10000 ms) must be at least --offline-after (15000 ms)'],
    });
  });

  test('--etcd: endpoints checked one by one; the prefix, lease TTL and timeout; exclusive with any catalog file', () => {
    const good = buildServeConfig(
      { etcdEndpoints: 'http://127.0.0.1:2379, http://10.0.0.2:2379/', etcdLeaseTtlMs: '5s', etcdPrefix: '/fleet-a/' },
      {},
    );
    expect(good).toMatchObject({
      ok: true,
      config: { etcdEndpoints: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'], etcdLeaseTtlMs: 5_000, etcdPrefix: '/fleet-a/' },
    });
    const fromEnv = buildServeConfig({}, { HIVE_REGISTRY_ETCD: 'https://etcd.internal:2379' });
    expect(fromEnv).toMatchObject({ ok: true, config: { etcdEndpoints: ['https://etcd.internal:2379'] } });

    const bad = buildServeConfig(
      { etcdEndpoints: 'http://127.0.0.1:2379,127.0.0.1:2380,,ftp://x:1', etcdLeaseTtlMs: '1500ms', etcdPrefix: 'fleet' },
      {},
    );
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems).toEqual([
      expect.stringMatching(/^--etcd: entry 2 must be an etcd client URL such as http:\/\/127.0.0.1:2379, got "127.0.0.1:2380"/),
      expect.stringMatching(/^--etcd: entry 3 is empty/),
      expect.stringMatching(/^--etcd: entry 4 must be an http:\/\/ or https:\/\/ URL/),
      expect.stringMatching(/^--etcd-prefix: must start and end with '\/'/),
      expect.stringMatching(/^--etcd-lease-ttl: must be a whole number of seconds such as 10s, got "1500ms"/),
    ]);
    expect(buildServeConfig({ etcdLeaseTtlMs: '1s' }, {})).toMatchObject({ ok: false, problems: ['--etcd-lease-ttl: must be 2s to 1h, got 1s'] });

    for (const [flags, env, named] of [
      [{ etcdEndpoints: 'http://127.0.0.1:2379', db: 'x.db' }, {}, '--db'],
      [{ etcdEndpoints: 'http://127.0.0.1:2379' }, { HIVE_REGISTRY_DB: 'x.db' }, 'HIVE_REGISTRY_DB'],
      [{}, { HIVE_REGISTRY_ETCD: 'http://127.0.0.1:2379', HIVE_REGISTRY_DB: ':memory:' }, 'HIVE_REGISTRY_DB'],
    ] as const) {
      const result = buildServeConfig(flags, env);
      expect(result).toMatchObject({ ok: false, problems: [expect.stringContaining(`--etcd and ${named} exclude each other`)] });
    }
    expect(buildServeConfig({ etcdCaPath: 'ca.pem' }, {})).toMatchObject({
      ok: false,
      problems: ['--etcd-ca needs --etcd: it is for TLS to etcd'],
    });
    expect(buildServeConfig({ etcdEndpoints: 'https://e:2379', etcdCertPath: 'c.pem' }, {})).toMatchObject({
      ok: false,
      problems: ['--etcd-cert and --etcd-key go together: give both, or neither'],
    });
  });

  test('--etcd-lease-ttl: whole seconds within its bounds, 2s to 1h, both ends included', () => {
    const ttl = (text: string) => {
      const result = buildServeConfig({ etcdEndpoints: 'http://127.0.0.1:2379', etcdLeaseTtlMs: text }, {});
      return result.ok ? result.config.etcdLeaseTtlMs : result.problems;
    };
    expect([ttl('2s'), ttl('1h'), ttl('60m'), ttl('3600s')]).toEqual([2_000, 3_600_000, 3_600_000, 3_600_000]);
    expect([ttl('0s'), ttl('3601s'), ttl('2h')]).toEqual([
      ['--etcd-lease-ttl: must be 2s to 1h, got 0s'],
      ['--etcd-lease-ttl: must be 2s to 1h, got 3601s'],
      ['--etcd-lease-ttl: must be 2s to 1h, got 2h'],
    ]);
  });

  test('federation settings without --etcd: every one given is named, from its flag or its variable', () => {
    expect(
      buildServeConfig({ etcdPrefix: '/fleet-a/', etcdLeaseTtlMs: '5s', etcdTimeoutMs: '1s', etcdKeyPath: 'k.pem' }, {}),
    ).toEqual({
      ok: false,
      problems: [
        '--etcd-prefix needs --etcd: it only applies to a federation of queens',
        '--etcd-lease-ttl needs --etcd: it only applies to a federation of queens',
        '--etcd-timeout needs --etcd: it only applies to a federation of queens',
        '--etcd-key needs --etcd: it is for TLS to etcd',
        '--etcd-cert and --etcd-key go together: give both, or neither',
      ],
    });
    expect(buildServeConfig({}, { HIVE_REGISTRY_ETCD_LEASE_TTL: '5s', HIVE_REGISTRY_ETCD_PREFIX: '' })).toEqual({
      ok: false,
      problems: ['HIVE_REGISTRY_ETCD_LEASE_TTL needs --etcd: it only applies to a federation of queens'],
    });
    expect(
      buildServeConfig({ etcdEndpoints: 'http://127.0.0.1:2379', etcdPrefix: '/fleet-a/', etcdLeaseTtlMs: '5s', etcdTimeoutMs: '1s' }, {}),
    ).toMatchObject({ ok: true });
  });

  test('prefix affinity: each setting from its flag or its environment variable, the flag first', () => {
    const affinity = (result: ReturnType<typeof buildServeConfig>) =>
      result.ok
        ? {
            on: result.config.gatewayPrefixAffinity,
            blockBytes: result.config.gatewayPrefixBlockBytes,
            cacheKeys: result.config.gatewayPrefixCacheKeys,
            slack: result.config.gatewayAffinitySlack,
          }
        : result.problems;
    expect(
      affinity(buildServeConfig({ gatewayPrefixAffinity: 'off', gatewayPrefixBlockBytes: '16', gatewayPrefixCacheKeys: '1', gatewayAffinitySlack: '0' }, {})),
    ).toEqual({ on: false, blockBytes: 16, cacheKeys: 1, slack: 0 });
    expect(
      affinity(
        buildServeConfig(
          {},
          {
            HIVE_REGISTRY_GATEWAY_PREFIX_AFFINITY: 'off',
            HIVE_REGISTRY_GATEWAY_PREFIX_BLOCK: '65536',
            HIVE_REGISTRY_GATEWAY_PREFIX_CACHE: '10000000',
            HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: '10',
          },
        ),
      ),
    ).toEqual({ on: false, blockBytes: 65_536, cacheKeys: 10_000_000, slack: 10 });
    expect(
      affinity(
        buildServeConfig(
          { gatewayPrefixAffinity: 'on', gatewayPrefixBlockBytes: '512', gatewayPrefixCacheKeys: '2000', gatewayAffinitySlack: '1.5' },
          {
            HIVE_REGISTRY_GATEWAY_PREFIX_AFFINITY: 'off',
            HIVE_REGISTRY_GATEWAY_PREFIX_BLOCK: '1024',
            HIVE_REGISTRY_GATEWAY_PREFIX_CACHE: '5',
            HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: '0.5',
          },
        ),
      ),
    ).toEqual({ on: true, blockBytes: 512, cacheKeys: 2_000, slack: 1.5 });
    expect(affinity(buildServeConfig({ gatewayAffinitySlack: '.5' }, {}))).toMatchObject({ slack: 0.5 });
    expect(affinity(buildServeConfig({}, { HIVE_REGISTRY_GATEWAY_PREFIX_AFFINITY: 'on', HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: '' }))).toEqual({
      on: true,
      blockBytes: 256,
      cacheKeys: 100_000,
      slack: 0.25,
    });
  });

  test.each<[string, Record<string, string>, Record<string, string>]>([
    ['--gateway-prefix-affinity: must be on or off, got "maybe"', { gatewayPrefixAffinity: 'maybe' }, {}],
    ['--gateway-prefix-affinity: must be on or off, got "true"', { gatewayPrefixAffinity: 'true' }, {}],
    ['HIVE_REGISTRY_GATEWAY_PREFIX_AFFINITY: must be on or off, got "OFF"', {}, { HIVE_REGISTRY_GATEWAY_PREFIX_AFFINITY: 'OFF' }],
    ['--gateway-prefix-block: must be a whole number from 16 to 65536, got "8"', { gatewayPrefixBlockBytes: '8' }, {}],
    ['--gateway-prefix-block: must be a whole number from 16 to 65536, got "65537"', { gatewayPrefixBlockBytes: '65537' }, {}],
    ['--gateway-prefix-block: must be a whole number from 16 to 65536, got "256.5"', { gatewayPrefixBlockBytes: '256.5' }, {}],
    ['HIVE_REGISTRY_GATEWAY_PREFIX_BLOCK: must be a whole number from 16 to 65536, got "1k"', {}, { HIVE_REGISTRY_GATEWAY_PREFIX_BLOCK: '1k' }],
    ['--gateway-prefix-cache: must be a whole number from 1 to 10000000, got "0"', { gatewayPrefixCacheKeys: '0' }, {}],
    ['HIVE_REGISTRY_GATEWAY_PREFIX_CACHE: must be a whole number from 1 to 10000000, got "10000001"', {}, { HIVE_REGISTRY_GATEWAY_PREFIX_CACHE: '10000001' }],
    ['--gateway-affinity-slack: must be a number from 0 to 10, got "-1"', { gatewayAffinitySlack: '-1' }, {}],
    ['--gateway-affinity-slack: must be a number from 0 to 10, got "abc"', { gatewayAffinitySlack: 'abc' }, {}],
    ['--gateway-affinity-slack: must be a number from 0 to 10, got "10.5"', { gatewayAffinitySlack: '10.5' }, {}],
    ['--gateway-affinity-slack: must be a number from 0 to 10, got "1e-1"', { gatewayAffinitySlack: '1e-1' }, {}],
    ['HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: must be a number from 0 to 10, got "NaN"', {}, { HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: 'NaN' }],
  ])('prefix affinity, refused: %s', (problem, flags, env) => {
    expect(buildServeConfig(flags, env)).toEqual({ ok: false, problems: [problem] });
  });

  test('--queen-id: default empty (computed at start); checked like a hive id, naming the flag or variable', () => {
    expect(buildServeConfig({ queenId: 'gpu-queen-1:50051' }, {})).toMatchObject({ ok: true, config: { queenId: 'gpu-queen-1:50051' } });
    expect(buildServeConfig({}, { HIVE_REGISTRY_QUEEN_ID: 'eu.queen_1' })).toMatchObject({ ok: true, config: { queenId: 'eu.queen_1' } });
    expect(buildServeConfig({ queenId: 'queen 1' }, {})).toEqual({
      ok: false,
      problems: ['--queen-id: must contain only the characters [A-Za-z0-9._:-], got "queen 1"'],
    });
    expect(buildServeConfig({}, { HIVE_REGISTRY_QUEEN_ID: 'q'.repeat(129) })).toEqual({
      ok: false,
      problems: ['HIVE_REGISTRY_QUEEN_ID: must be at most 128 characters, got 129'],
    });
    expect(buildServeConfig({ queenId: 'q'.repeat(128) }, {})).toMatchObject({ ok: true });
  });

  test('--advertise: default empty (computed at start); checked like --listen, and must be an address to connect to', () => {
    expect(buildServeConfig({ advertise: 'queen.example:443' }, {})).toMatchObject({ ok: true, config: { advertise: 'queen.example:443' } });
    expect(buildServeConfig({}, { HIVE_REGISTRY_ADVERTISE: '[fd00::1]:50051' })).toMatchObject({
      ok: true,
      config: { advertise: '[fd00::1]:50051' },
    });
    expect(buildServeConfig({ advertise: 'queen.example' }, {})).toEqual({
      ok: false,
      problems: ['--advertise: must be HOST:PORT or [IPv6]:PORT, got "queen.example"'],
    });
    expect(buildServeConfig({ advertise: '0.0.0.0:50051' }, {})).toEqual({
      ok: false,
      problems: ['--advertise: "0.0.0.0" is a wildcard, not an address to connect to'],
    });
    expect(buildServeConfig({}, { HIVE_REGISTRY_ADVERTISE: '[::]:50051' })).toEqual({
      ok: false,
      problems: ['HIVE_REGISTRY_ADVERTISE: "::" is a wildcard, not an address to connect to'],
    });
    expect(buildServeConfig({ advertise: 'queen.example:0' }, {})).toEqual({
      ok: false,
      problems: ['--advertise: port 0 is not a port to connect to'],
    });
  });
});

describe('the queen identity computed at start', () => {
  test.each([
    ['127.0.0.1:0', 41_000, '127.0.0.1:41000'],
    ['127.0.0.1:50051', 50_051, '127.0.0.1:50051'],
    ['0.0.0.0:50051', 50_051, 'gpu-queen-1:50051'],
    ['0.0.0.0:0', 41_000, 'gpu-queen-1:41000'],
    ['[::]:50051', 50_051, 'gpu-queen-1:50051'],
    ['[::1]:0', 41_000, '[::1]:41000'],
    ['queen.internal:50051', 50_051, 'queen.internal:50051'],
  ])('listening on %s (bound port %d), others reach it at %s', (listen, port, address) => {
    expect(reachableAddress(listen, port, 'gpu-queen-1')).toBe(address);
  });

  test('defaults: the id is the host name and the bound port; the address the listen address as reachable', () => {
    expect(resolveQueenIdentity({ listen: '0.0.0.0:0', queenId: '', advertise: '' }, 41_000, 'gpu-queen-1', 1_000)).toEqual({
      queenId: 'gpu-queen-1:41000',
      address: 'gpu-queen-1:41000',
      httpAddress: '',
      startedAtWallMs: 1_000,
    });
    expect(resolveQueenIdentity({ listen: '127.0.0.1:50051' }, 50_051, 'gpu-queen-1', 1_000)).toMatchObject({
      queenId: 'gpu-queen-1:50051',
      address: '127.0.0.1:50051',
    });
  });

  test('given values win over the defaults', () => {
    expect(
      resolveQueenIdentity({ listen: '0.0.0.0:0', queenId: 'queen-eu-1', advertise: 'queen.example:443' }, 41_000, 'h', 5),
    ).toEqual({ queenId: 'queen-eu-1', address: 'queen.example:443', httpAddress: '', startedAtWallMs: 5 });
  });

  test('a host name that makes no valid id: QueenIdentityError asking for --queen-id', () => {
    expect(() => resolveQueenIdentity({ listen: '127.0.0.1:0' }, 41_000, 'my host', 0)).toThrow(
      'the default queen id (the host name and gRPC port): must contain only the characters [A-Za-z0-9._:-], got "my host:41000"; set one with --queen-id',
    );
  });
});

describe('etcdTls', () => {
  let dir: string;
  let pem: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'etcd-tls-'));
    pem = join(dir, 'file.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('none given: no TLS, no problem', () => {
    const problems: string[] = [];
    expect(etcdTls({ etcdCaPath: '', etcdCertPath: '', etcdKeyPath: '' }, problems)).toBeUndefined();
    expect(problems).toEqual([]);
  });

  test('a certificate and its key go together: either alone is a problem naming both flags', () => {
    for (const paths of [
      { etcdCaPath: '', etcdCertPath: pem, etcdKeyPath: '' },
      { etcdCaPath: '', etcdCertPath: '', etcdKeyPath: pem },
      { etcdCaPath: pem, etcdCertPath: '', etcdKeyPath: pem },
    ]) {
      const problems: string[] = [];
      etcdTls(paths, problems);
      expect(problems).toEqual(['--etcd-cert and --etcd-key go together: give both, or neither']);
    }
  });

  test('the files are read, each problem naming its flag', () => {
    const problems: string[] = [];
    const tls = etcdTls({ etcdCaPath: pem, etcdCertPath: pem, etcdKeyPath: join(dir, 'missing.pem') }, problems);
    expect(tls?.ca?.toString()).toContain('-----BEGIN CERTIFICATE-----');
    expect(problems).toEqual([expect.stringMatching(/^--etcd-key: cannot read ".*missing\.pem"/)]);
  });
});
