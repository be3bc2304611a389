// Authentication through the real CLI: a queen with --auth-file, operator commands and an agent with
// --token-file, token rotation, SIGHUP reloading, and buf curl (a Go client, like grpcurl) over mutual TLS.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates, type TestCertificates } from '../helpers/certificates';
import { BUF, CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { run, type RunResult } from '../helpers/run';

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

let dir: string;
let server: ServerProcess | undefined;
const agents: ChildProcess[] = [];

/** Writes a secret file readable by its owner only, as an operator would. */
function secretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

function authFile(callers: { name: string; role: string; token: string }[]): string {
  return secretFile(
    'auth.json',
    JSON.stringify({ callers: callers.map((c) => ({ name: c.name, role: c.role, token_sha256: sha256(c.token) })) }),
  );
}

/** An operator command against the running queen. */
function cli(args: string[], tokenFile?: string): Promise<RunResult> {
  const auth = tokenFile === undefined ? [] : ['--token-file', tokenFile];
  const [command = '', ...rest] = args;
  const sub = command === 'catalog' ? [command, rest.shift() ?? ''] : [command];
  return run(process.execPath, [CLI, ...sub, ...rest, '--queen', server!.address, '--timeout', '3s', ...auth]);
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hive-auth-'));
});

afterEach(async () => {
  for (const agent of agents.splice(0)) if (agent.exitCode === null) agent.kill('SIGKILL');
  if (server !== undefined) await stopServer(server);
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('auth (real CLI)', () => {
  test('operator commands: no token is UNAUTHENTICATED, read cannot write, admin can; no token in the logs', async () => {
    const admin = secretFile('admin.token', 'admin-secret-1\n');
    const reader = secretFile('read.token', 'read-secret-1\n');
    server = await startServer(['--auth-file', authFile([
      { name: 'ops', role: 'admin', token: 'admin-secret-1' },
      { name: 'router', role: 'read', token: 'read-secret-1' },
    ])]);
    expect(server.logs.find((l) => l.msg === 'hive-registry serving')).toMatchObject({ auth: '2 callers' });

    const anonymous = await cli(['hives']);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/UNAUTHENTICATED/);

    expect(await cli(['hives', '--json'], reader)).toMatchObject({ code: 0, stdout: '{\n  "hives": []\n}\n' });
    const denied = await cli(['catalog', 'register', 'hive-a'], reader);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/PERMISSION_DENIED.*caller "router" has role read; this method needs admin/);
    expect((await cli(['catalog', 'register', 'hive-a'], admin)).code).toBe(0);

    const logs = JSON.stringify(server.logs);
    expect(logs).toContain('call refused');
    expect(logs).not.toContain('admin-secret-1');
    expect(logs).not.toContain('read-secret-1');
  });

  test('a hive joins with an issued token, keeps streaming through a rotation, and a revoked token is refused', async () => {
    const admin = secretFile('admin.token', 'admin-secret-2');
    server = await startServer(['--auth-file', authFile([{ name: 'ops', role: 'admin', token: 'admin-secret-2' }])]);
    expect((await cli(['catalog', 'register', 'hive-a'], admin)).code).toBe(0);
    const issued = await cli(['catalog', 'issue-token', 'hive-a'], admin);
    expect(issued.code).toBe(0);
    const firstToken = issued.stdout.trim();
    expect(firstToken).toMatch(/^hvt_/);
    const hiveTokenFile = secretFile('hive-a.token', issued.stdout);

    const agent = spawn(
      process.execPath,
      [CLI, 'agent', '--queen', server.address, '--hive-id', 'hive-a', '--simulate', '2', '--token-file', hiveTokenFile, '--log-level', 'warn'],
      { stdio: 'ignore' },
    );
    agents.push(agent);
    const online = async (): Promise<true | undefined> => {
      const result = await cli(['hive', 'hive-a', '--json'], admin);
      return result.code === 0 && /"online": true/.test(result.stdout) ? true : undefined;
    };
    await eventually('hive-a online', online);

    const tokensOf = async (): Promise<{ tokenId: string; lastUsedAt?: string }[]> => {
      const result = await cli(['catalog', 'tokens', 'hive-a', '--json'], admin);
      expect(result.code).toBe(0);
      return (JSON.parse(result.stdout) as { tokens?: { tokenId: string; lastUsedAt?: string }[] }).tokens ?? [];
    };
    const [first] = await tokensOf();
    expect(first?.lastUsedAt).toBeDefined();

    // Rotation: a second token into the agent's file, then the first revoked; the agent reconnects with the new one.
    const second = await cli(['catalog', 'issue-token', 'hive-a', '--json'], admin);
    const secondId = (JSON.parse(second.stdout) as { tokenId: string }).tokenId;
    secretFile('hive-a.token', (JSON.parse(second.stdout) as { token: string }).token);
    const revoke = await cli(['catalog', 'revoke-token', 'hive-a', first?.tokenId ?? ''], admin);
    expect(revoke.code).toBe(0);
    await eventually('the agent back on the second token', async () => {
      const tokens = await tokensOf();
      return tokens.length === 1 && tokens[0]?.tokenId === secondId && tokens[0].lastUsedAt !== undefined ? true : undefined;
    });
    await eventually('hive-a online again', online);

    // The revoked token opens nothing.
    const stale = spawn(
      process.execPath,
      [CLI, 'agent', '--queen', server.address, '--hive-id', 'hive-a', '--simulate', '1', '--token-file', secretFile('stale.token', firstToken), '--log-level', 'error'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    agents.push(stale);
    let staleLog = '';
    stale.stdout?.on('data', (chunk: Buffer) => (staleLog += chunk.toString()));
    await eventually('the stale agent refused', async () => (/UNAUTHENTICATED/.test(staleLog) ? true : undefined));
    expect(staleLog).toContain('unknown or revoked token');
    expect(staleLog).not.toContain(firstToken);
    stale.kill('SIGTERM');

    agent.kill('SIGTERM');
    expect(await new Promise((resolve) => agent.on('exit', resolve))).toBe(0);
  });

  test('SIGHUP re-reads the auth file; a broken file keeps the callers in force', async () => {
    const oldToken = secretFile('old.token', 'old-secret');
    const newToken = secretFile('new.token', 'new-secret');
    const path = authFile([{ name: 'ops', role: 'read', token: 'old-secret' }]);
    server = await startServer(['--auth-file', path]);
    expect((await cli(['hives'], oldToken)).code).toBe(0);

    authFile([{ name: 'ops', role: 'read', token: 'new-secret' }]);
    server.child.kill('SIGHUP');
    await eventually('the reload', async () => (server!.logs.some((l) => l.msg === 'auth file reloaded') ? true : undefined));
    expect((await cli(['hives'], newToken)).code).toBe(0);
    expect((await cli(['hives'], oldToken)).stderr).toMatch(/UNAUTHENTICATED/);

    writeFileSync(path, '{"callers": [');
    server.child.kill('SIGHUP');
    await eventually('the refused reload', async () =>
      server!.logs.some((l) => l.msg === 'auth file not reloaded: the previous callers stay in force') ? true : undefined,
    );
    expect((await cli(['hives'], newToken)).code).toBe(0);
  });

  test.each([
    ['a malformed file', '{"callers":[{"name":"ops","role":"root","token_sha256":"00"}]}', /callers\[0\]\.role: must be "read" or "admin"/],
    ['a missing file', undefined, /--auth-file .*: cannot be read \(ENOENT\)/],
  ])('serve exits 2 for %s, saying why', async (_what, content, message) => {
    const path = content === undefined ? join(dir, 'absent.json') : secretFile('auth.json', content);
    const result = await run(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', ':memory:', '--auth-file', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  test('beyond loopback with only auth, or only TLS, exits 2 naming what is missing', async () => {
    const auth = authFile([{ name: 'ops', role: 'admin', token: 'x' }]);
    const onlyAuth = await run(process.execPath, [CLI, 'serve', '--listen', '0.0.0.0:0', '--db', ':memory:', '--auth-file', auth]);
    expect(onlyAuth.code).toBe(2);
    expect(onlyAuth.stderr).toContain('this configuration has no --tls-cert');
    const onlyTls = await run(process.execPath, [CLI, 'serve', '--listen', '0.0.0.0:0', '--db', ':memory:', '--tls-cert', 'c.pem', '--tls-key', 'k.pem']);
    expect(onlyTls.code).toBe(2);
    expect(onlyTls.stderr).toContain('this configuration has no --auth-file');
  });
});

describe('auth over mutual TLS with buf curl (-cacert, -cert, -key, an authorization header)', () => {
  let certs: TestCertificates;

  beforeAll(() => {
    certs = makeCertificates();
  });
  afterAll(() => {
    rmSync(certs.dir, { recursive: true, force: true });
  });

  const curl = (method: string, body: unknown, extra: string[]): Promise<RunResult> =>
    run(BUF, ['curl', '--protocol', 'grpc', '--cacert', certs.ca, ...extra, '-d', JSON.stringify(body), `https://${server!.address}/${method}`]);

  test('reflection works without a token; calls need the client certificate and the right token', async () => {
    server = await startServer([
      '--auth-file', authFile([{ name: 'ops', role: 'admin', token: 'curl-admin' }, { name: 'router', role: 'read', token: 'curl-read' }]),
      '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-ca', certs.ca,
    ]);
    const cert = ['--cert', certs.clientCert, '--key', certs.clientKey];
    const admin = ['-H', 'authorization: Bearer curl-admin'];
    const reader = ['-H', 'authorization: Bearer curl-read'];

    const registered = await curl('hive.v1.HiveCatalog/RegisterHive', { hiveId: 'hive-a' }, [...cert, ...admin]);
    expect(registered.code).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ hive: { hiveId: 'hive-a' } });
    const count = await curl('hive.v1.HiveRegistry/HiveCount', {}, [...cert, ...reader]);
    expect({ code: count.code, body: JSON.parse(count.stdout) as unknown }).toEqual({ code: 0, body: {} });

    const anonymous = await curl('hive.v1.HiveRegistry/HiveCount', {}, cert);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/unauthenticated/i);
    const readOnly = await curl('hive.v1.HiveCatalog/IssueHiveToken', { hiveId: 'hive-a' }, [...cert, ...reader]);
    expect(readOnly.stderr).toMatch(/permission_denied/i);
    const noCertificate = await curl('hive.v1.HiveRegistry/HiveCount', {}, reader);
    expect(noCertificate.code).not.toBe(0);

    const issued = await curl('hive.v1.HiveCatalog/IssueHiveToken', { hiveId: 'hive-a' }, [...cert, ...admin]);
    expect(JSON.parse(issued.stdout)).toMatchObject({ token: expect.stringMatching(/^hvt_/), tokenId: expect.any(String) });
  });
});
