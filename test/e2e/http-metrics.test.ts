// The built CLI with --http-listen: the serving line names the HTTP port, /healthz and /metrics answer over it
// (with and without auth), and --http-listen beyond loopback is held to the same rule as --listen.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { httpFetch } from '../helpers/http';
import { parsePrometheusText } from '../helpers/prometheus-text';
import { run } from '../helpers/run';

let server: ServerProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (server !== undefined) await stopServer(server);
  server = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function httpPortOf(started: ServerProcess): number {
  expect(started.httpPort).toEqual(expect.any(Number));
  return started.httpPort ?? 0;
}

describe('hive-registry serve --http-listen', () => {
  test('the serving line names the HTTP port; /healthz and /metrics answer; without the flag nothing listens', async () => {
    server = await startServer(['--http-listen', '127.0.0.1:0']);
    const serving = server.logs.find((line) => line.msg === 'hive-registry serving');
    expect(serving).toMatchObject({ httpListen: '127.0.0.1:0', httpPort: server.httpPort });
    const port = httpPortOf(server);
    const health = await httpFetch(port, '/healthz');
    expect({ status: health.status, body: health.body }).toEqual({ status: 200, body: 'ok\n' });
    const metrics = await httpFetch(port, '/metrics');
    expect(metrics.status).toBe(200);
    const parsed = parsePrometheusText(metrics.body);
    expect(parsed.value('hive_registry_hives', { state: 'online' })).toBe(0);
    expect(parsed.value('hive_registry_heartbeats_total', { result: 'accepted' })).toBe(0);
    expect(parsed.families.has('process_resident_memory_bytes')).toBe(true);
    expect(await stopServer(server)).toBe(0);
    server = undefined;

    server = await startServer([]);
    const plain = server.logs.find((line) => line.msg === 'hive-registry serving');
    expect(plain).not.toHaveProperty('httpPort');
  });

  test('with --auth-file: /metrics needs a read token, /healthz stays open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-http-'));
    const token = 'prometheus-scrape-token';
    const authFile = join(dir, 'auth.json');
    const sha = createHash('sha256').update(token).digest('hex');
    writeFileSync(authFile, JSON.stringify({ callers: [{ name: 'prometheus', role: 'read', token_sha256: sha }] }));
    server = await startServer(['--http-listen', '127.0.0.1:0', '--auth-file', authFile]);
    const port = httpPortOf(server);
    expect((await httpFetch(port, '/healthz')).status).toBe(200);
    const refused = await httpFetch(port, '/metrics');
    expect({ status: refused.status, challenge: refused.headers['www-authenticate'] }).toEqual({
      status: 401,
      challenge: 'Bearer realm="hive-registry", Basic realm="hive-registry", charset="UTF-8"',
    });
    const scraped = await httpFetch(port, '/metrics', { token });
    expect(scraped.status).toBe(200);
    expect(parsePrometheusText(scraped.body).families.has('hive_registry_rpc_duration_seconds')).toBe(true);
    // The refusal is logged without the token.
    expect(server.logs.some((line) => line.msg === 'http request refused')).toBe(true);
    expect(JSON.stringify(server.logs)).not.toContain(token);
  });

  test('--http-listen beyond loopback is refused without auth and TLS (exit 2 naming the flag)', async () => {
    const refused = await run(process.execPath, [CLI, 'serve', '--http-listen', '0.0.0.0:0', '--db', ':memory:']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--http-listen 0.0.0.0:0 is beyond loopback');
    expect(refused.stderr).not.toContain('--listen 127.0.0.1');
  });
});
