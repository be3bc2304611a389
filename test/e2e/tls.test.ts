// TLS and mutual TLS through the real CLI: the queen, the operator commands and the agent, with throwaway
// certificates made by openssl at run time.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { makeCertificates, type TestCertificates } from '../helpers/certificates';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { run } from '../helpers/run';

describe('TLS (real CLI)', () => {
  let certs: TestCertificates;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    certs = makeCertificates();
  });

  afterAll(() => {
    rmSync(certs.dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    if (server !== undefined) expect(await stopServer(server)).toBe(0);
    server = undefined;
  });

  const hives = (...args: string[]) =>
    run(process.execPath, [CLI, 'hives', '--json', '--timeout', '3s', '--queen', server!.address, ...args]);

  test('a TLS queen answers clients that verify it, and refuses plaintext', async () => {
    server = await startServer(['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
    expect(server.logs.find((l) => l.msg === 'hive-registry serving')).toMatchObject({ tls: 'on' });
    expect(await hives('--tls-ca', certs.ca)).toMatchObject({ code: 0, stdout: '{\n  "hives": []\n}\n' });

    const plaintext = await hives();
    expect(plaintext.code).toBe(1);
    expect(plaintext.stderr).toMatch(/^hive-registry hives: (UNAVAILABLE|DEADLINE_EXCEEDED): /);
    const wrongCa = await hives('--tls-ca', certs.otherCa);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toMatch(/^hive-registry hives: (UNAVAILABLE|DEADLINE_EXCEEDED): /);
  });

  test('mutual TLS: a client without a certificate from the CA is refused; an agent with one joins', async () => {
    server = await startServer([
      '--tls-cert',
      certs.serverCert,
      '--tls-key',
      certs.serverKey,
      '--tls-client-ca',
      certs.ca,
    ]);
    expect(server.logs.find((l) => l.msg === 'hive-registry serving')).toMatchObject({ tls: 'mutual' });
    expect((await hives('--tls-ca', certs.ca)).code).toBe(1);
    const agent = spawn(
      process.execPath,
      [CLI, 'agent', '--queen', server.address, '--hive-id', 'tls-hive', '--simulate', '2', '--log-level', 'warn',
        '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey],
      { stdio: 'ignore' },
    );
    try {
      const deadline = Date.now() + 10_000;
      let listed: string[] = [];
      while (Date.now() < deadline) {
        const result = await hives('--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey);
        expect(result.code).toBe(0);
        listed = (JSON.parse(result.stdout) as { hives: { hiveId: string }[] }).hives.map((h) => h.hiveId);
        if (listed.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(listed).toEqual(['tls-hive']);
    } finally {
      agent.kill('SIGTERM');
    }
  });

  test.each([
    [['--tls-cert', 'x.pem'], '--tls-cert and --tls-key go together'],
    [['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], '--tls-cert: cannot read "/nonexistent/cert.pem"'],
    [['--tls-cert', CLI, '--tls-key', CLI], 'is not a PEM file'],
  ])('serve %j exits 2 naming the problem', async (args, message) => {
    const result = await run(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', ':memory:', ...args]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringContaining(message) });
  });

  test('client TLS flags are checked: cert without key is a usage error', async () => {
    const result = await run(process.execPath, [CLI, 'hives', '--tls-cert', 'c.pem']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining('--tls-cert and --tls-key go together'),
    });
  });
});
