// The real CLI as an operator runs it: configuration errors, life cycle and signals.
import { BufCurlStream, bufCurl } from '../helpers/buf-curl';
import { CLI, startServer, stopServer } from '../helpers/cli-process';
import { run } from '../helpers/run';

const REGISTRY = 'hive.v1.HiveRegistry';

describe('hive-registry serve', () => {
  test('a bad command line exits 2 and lists every problem, from flags and environment alike', async () => {
    const result = await run(
      process.execPath,
      [CLI, 'serve', '--listen', 'localhost', '--offline-after', '3x', '--log-level', 'loud'],
      { env: { HIVE_REGISTRY_MAX_STREAMS: '0' } },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--listen: must be HOST:PORT or [IPv6]:PORT, got "localhost"');
    expect(result.stderr).toContain('--offline-after: must be a duration such as 500ms, 5s, 2m or 1h, got "3x"');
    expect(result.stderr).toContain('--log-level: must be one of');
    expect(result.stderr).toContain('HIVE_REGISTRY_MAX_STREAMS: must be a whole number of at least 1, got "0"');
  });

  test('--queen-id and --advertise are checked with the rest: exit 2 naming each', async () => {
    const result = await run(process.execPath, [CLI, 'serve', '--queen-id', 'queen 1', '--db', ':memory:'], {
      env: { HIVE_REGISTRY_ADVERTISE: '0.0.0.0:50051' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--queen-id: must contain only the characters [A-Za-z0-9._:-], got "queen 1"');
    expect(result.stderr).toContain('HIVE_REGISTRY_ADVERTISE: "0.0.0.0" is a wildcard, not an address to connect to');
  });

  test('prefix affinity settings out of range exit 2 naming the flag or variable and the limit', async () => {
    const result = await run(process.execPath, [CLI, 'serve', '--db', ':memory:', '--gateway-prefix-block', '8', '--gateway-prefix-affinity', 'maybe'], {
      env: { HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: '-1' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--gateway-prefix-affinity: must be on or off, got "maybe"');
    expect(result.stderr).toContain('--gateway-prefix-block: must be a whole number from 16 to 65536, got "8"');
    expect(result.stderr).toContain('HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK: must be a number from 0 to 10, got "-1"');
  });

  test('thresholds that contradict each other are refused', async () => {
    const result = await run(process.execPath, [CLI, 'serve', '--heartbeat-interval', '20s', '--offline-after', '15s']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--offline-after (15000 ms) must be longer than --heartbeat-interval (20000 ms)');
  });

  test('a listen address beyond loopback is refused without --insecure (tests never bind beyond loopback)', async () => {
    const refused = await run(process.execPath, [CLI, 'serve', '--listen', '0.0.0.0:0', '--db', ':memory:']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--listen 0.0.0.0:0 is beyond loopback');
    expect(refused.stderr).toContain('needs both authentication and TLS, and this configuration has no --auth-file and no --tls-cert');
    expect(refused.stderr).toContain('pass --insecure to accept the risk');
  });

  test('an unknown flag exits 2', async () => {
    const result = await run(process.execPath, [CLI, 'serve', '--no-such-flag']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--no-such-flag'");
  });

  test('--version prints the package version; no command prints usage and exits 2', async () => {
    const version = await run(process.execPath, [CLI, '--version']);
    expect({ code: version.code, out: version.stdout.trim() }).toEqual({ code: 0, out: require('../../package.json').version });
    const bare = await run(process.execPath, [CLI]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('serve [options]');
  });

  test('--help names every setting with its environment variable and default', async () => {
    const result = await run(process.execPath, [CLI, 'serve', '--help']);
    expect(result.code).toBe(0);
    const help = result.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('(env HIVE_REGISTRY_LISTEN; default 127.0.0.1:50051)');
    expect(help).toContain('(env HIVE_REGISTRY_OFFLINE_AFTER; default 15s)');
    expect(help).toContain('(env HIVE_REGISTRY_EVICT_AFTER; default 10m)');
    expect(help).toContain('(env HIVE_REGISTRY_QUEEN_ID; default the host name and the bound gRPC port, HOST:PORT)');
    expect(help).toContain('--gateway-prefix-affinity <on|off>');
    expect(help).toContain('(env HIVE_REGISTRY_GATEWAY_AFFINITY_SLACK; default 0.25)');
  });

  test('settings come from the environment when no flag is given', async () => {
    const server = await startServer([], { HIVE_REGISTRY_HEARTBEAT_INTERVAL: '2s', HIVE_REGISTRY_LOG_LEVEL: 'debug' });
    try {
      const stream = new BufCurlStream(server.address, `${REGISTRY}/Heartbeat`);
      stream.send({ hiveId: 'env-hive', sequence: '1' });
      const [ack] = await stream.messages(1);
      expect(ack).toMatchObject({ accepted: true, heartbeatInterval: '2s' });
      expect((await stream.close()).grpcCode).toBe(0);
      expect(server.logs.some((l) => l.level === 'debug')).toBe(true);
    } finally {
      await stopServer(server);
    }
  });

  test('SIGTERM: health goes NOT_SERVING, open streams end with UNAVAILABLE, the process exits 0', async () => {
    const server = await startServer(['--drain-timeout', '3s']);
    const stream = new BufCurlStream(server.address, `${REGISTRY}/Heartbeat`);
    try {
      stream.send({ hiveId: 'hive-term', sequence: '1' });
      expect(await stream.messages(1)).toMatchObject([{ accepted: true }]);
      const health = await bufCurl(server.address, 'grpc.health.v1.Health/Check', { service: '' });
      expect(health.body).toEqual({ status: 'SERVING' });

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      // buf curl keeps a bidi call's process alive while its stdin is open, even after the server ended the
      // call: close stdin, then read the status the server had sent.
      const ended = await stream.close();
      expect(ended.grpcCode).toBe(14); // UNAVAILABLE
      expect(ended.stderr).toContain('shutting down');
      const messages = server.logs.map((l) => l.msg);
      expect(messages).toEqual(expect.arrayContaining(['shutting down', 'draining', 'stopped']));
    } finally {
      stream.kill();
      await stopServer(server);
    }
  });

  test('SIGINT also stops the server cleanly', async () => {
    const server = await startServer();
    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);
  });

  test('a second server on the same port fails to start with a clear log line and exit code 1', async () => {
    const first = await startServer();
    try {
      const second = await run(process.execPath, [CLI, 'serve', '--listen', first.address, '--db', ':memory:']);
      expect(second.code).toBe(1);
      expect(second.stdout).toContain('cannot start');
    } finally {
      await stopServer(first);
    }
  });
});
