// The queen's HTTP listener: /healthz through the life cycle, what it answers to other paths and methods, bearer
// tokens with auth on (and refused gRPC calls measured with their code), and HTTPS with the gRPC certificate.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, status, type ClientReadableStream } from '@grpc/grpc-js';
import { Health, HealthCheckRequestSchema, type HealthCheckResponse } from '../../gen/grpc/health/v1/health_pb';
import type { Caller } from '../../src/server/callers';
import { grpcServiceDefinition } from '../../src/server/grpc-service';
import { makeCertificates, type TestCertificates } from '../helpers/certificates';
import { expectRpcError } from '../helpers/client';
import { deadPort } from '../helpers/client-fixtures';
import { httpFetch } from '../helpers/http';
import { parsePrometheusText } from '../helpers/prometheus-text';
import { TestQueen } from '../helpers/queen';

const HTTP = { httpListen: '127.0.0.1:0' } as const;
const ADMIN_TOKEN = 'admin-token-for-http-tests';
const READ_TOKEN = 'read-token-for-http-tests';

function caller(name: string, role: Caller['role'], token: string): Caller {
  return { name, role, tokenSha256: createHash('sha256').update(token).digest() };
}

let q: TestQueen | undefined;
afterEach(async () => {
  await q?.stop();
  q = undefined;
});

describe('auth off', () => {
  beforeEach(async () => {
    q = await TestQueen.start(HTTP);
  });

  test('/healthz answers 200 ok (GET and HEAD, a query string ignored), and nothing is cached', async () => {
    const port = q!.httpPort;
    const get = await httpFetch(port, '/healthz?probe=1');
    expect({ status: get.status, body: get.body, cache: get.headers['cache-control'] }).toEqual({
      status: 200,
      body: 'ok\n',
      cache: 'no-store',
    });
    const head = await httpFetch(port, '/healthz', { method: 'HEAD' });
    expect({ status: head.status, body: head.body }).toEqual({ status: 200, body: '' });
  });

  test('unknown paths: 404 naming what is served', async () => {
    for (const path of ['/dashboard', '/metrics/extra', '/api', '/api/unknown', '/index.htm']) {
      const answer = await httpFetch(q!.httpPort, path);
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
      expect(answer.body).toMatch(/GET \/ \(the dashboard\), \/api\/events, \/api\/best\?model=NAME, \/metrics .*\/healthz, and the inference gateway under \/v1\//);
    }
  });

  test.each(['POST', 'PUT', 'DELETE', 'OPTIONS'])('%s: 405 with Allow: GET, HEAD; a body is not read, the connection closes', async (method) => {
    const answer = await httpFetch(q!.httpPort, '/metrics', { method, body: 'x'.repeat(100_000) });
    expect({ status: answer.status, allow: answer.headers['allow'], connection: answer.headers['connection'] }).toEqual({
      status: 405,
      allow: 'GET, HEAD',
      connection: 'close',
    });
  });

  test('/healthz answers 503 once the drain begins, and the listener is closed when the queen has stopped', async () => {
    const queen = q!;
    // A health Watch keeps the gRPC drain waiting (up to the drain timeout): the window in which probes ask.
    const Ctor = makeGenericClientConstructor(grpcServiceDefinition(Health), 'Health');
    const raw = new Ctor(queen.address, credentials.createInsecure());
    type Watch = (request: unknown) => ClientReadableStream<HealthCheckResponse>;
    const watch = (raw as unknown as Record<string, Watch>)['watch']!.call(raw, create(HealthCheckRequestSchema, {}));
    watch.on('error', () => undefined);
    await new Promise((resolve) => watch.once('data', resolve));
    const port = queen.httpPort;

    const stopping = queen.queen.stop();
    const during = await httpFetch(port, '/healthz');
    expect({ status: during.status, body: during.body }).toEqual({ status: 503, body: 'draining\n' });
    watch.cancel();
    raw.close();
    await stopping;
    await expect(httpFetch(port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });
});

test('an HTTP address that cannot be bound fails the start, and the gRPC port is released', async () => {
  q = await TestQueen.start(HTTP);
  const taken = `127.0.0.1:${q.httpPort}`;
  const port = await deadPort();
  await expect(TestQueen.start({ httpListen: taken, listen: `127.0.0.1:${port}` })).rejects.toThrow(/EADDRINUSE/);
  // The failed start let its gRPC port go: it can be bound again at once.
  const again = await TestQueen.start({ listen: `127.0.0.1:${port}` });
  expect(again.queen.port).toBe(port);
  await again.stop();
});

test('without httpListen there is no HTTP listener', async () => {
  q = await TestQueen.start();
  expect(q.queen.httpPort).toBeUndefined();
  expect(() => q!.httpPort).toThrow(/no HTTP listener/);
});

describe('auth on', () => {
  beforeEach(async () => {
    q = await TestQueen.start({ ...HTTP, callers: [caller('ops', 'admin', ADMIN_TOKEN), caller('prometheus', 'read', READ_TOKEN)] });
  });

  test('/metrics: no token, a malformed header or an unknown token is 401 with WWW-Authenticate: Bearer (and Basic, for browsers)', async () => {
    const port = q!.httpPort;
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer not-a-known-token' },
    ];
    for (const headers of cases) {
      const answer = await httpFetch(port, '/metrics', { headers });
      expect({ headers, status: answer.status, challenge: answer.headers['www-authenticate'] }).toEqual({
        headers,
        status: 401,
        challenge: 'Bearer realm="hive-registry", Basic realm="hive-registry", charset="UTF-8"',
      });
      expect(answer.body).not.toContain('not-a-known-token');
    }
  });

  test('/metrics: a read or admin caller token is let in; a hive token is 403', async () => {
    const port = q!.httpPort;
    for (const token of [READ_TOKEN, ADMIN_TOKEN]) {
      const answer = await httpFetch(port, '/metrics', { token });
      expect(answer.status).toBe(200);
      expect(parsePrometheusText(answer.body).value('hive_registry_hives', { state: 'online' })).toBe(0);
    }
    const admin = q!.newClient(ADMIN_TOKEN);
    await admin.catalog.registerHive({ hiveId: 'hive-a' });
    const { token: hiveToken } = await admin.catalog.issueHiveToken({ hiveId: 'hive-a' });
    const refused = await httpFetch(port, '/metrics', { token: hiveToken });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/hive token/);
  });

  test('/healthz stays open; every other path needs a token before it is even looked up', async () => {
    const port = q!.httpPort;
    expect((await httpFetch(port, '/healthz')).status).toBe(200);
    expect((await httpFetch(port, '/')).status).toBe(401);
    expect((await httpFetch(port, '/', { token: READ_TOKEN })).status).toBe(200);
    expect((await httpFetch(port, '/nowhere')).status).toBe(401);
    expect((await httpFetch(port, '/nowhere', { token: READ_TOKEN })).status).toBe(404);
  });

  test('gRPC calls refused by the access layer are measured with the code their caller got', async () => {
    await expectRpcError(q!.newClient().rpc.hiveCount({}), status.UNAUTHENTICATED, /authentication required/);
    await q!.newClient(READ_TOKEN).rpc.hiveCount({});
    await expectRpcError(q!.newClient(READ_TOKEN).rpc.removeHive({ hiveId: 'x' }), status.PERMISSION_DENIED, /needs admin/);
    const metrics = parsePrometheusText((await httpFetch(q!.httpPort, '/metrics', { token: READ_TOKEN })).body);
    const count = 'hive_registry_rpc_duration_seconds_count';
    expect([
      metrics.count(count, { method: 'HiveCount', code: 'UNAUTHENTICATED' }),
      metrics.count(count, { method: 'HiveCount', code: 'OK' }),
      metrics.count(count, { method: 'RemoveHive', code: 'PERMISSION_DENIED' }),
    ]).toEqual([1, 1, 1]);
  });
});

describe('TLS', () => {
  let certs: TestCertificates;
  beforeAll(() => {
    certs = makeCertificates();
  });

  const tlsConfig = (mutual: boolean) => ({
    certChain: readFileSync(certs.serverCert),
    privateKey: readFileSync(certs.serverKey),
    ...(mutual ? { clientCa: readFileSync(certs.ca) } : {}),
  });

  test('with --tls-cert the listener speaks HTTPS with the same certificate, and plain HTTP gets nothing', async () => {
    q = await TestQueen.start({ ...HTTP, tls: tlsConfig(false) });
    const answer = await httpFetch(q.httpPort, '/healthz', { tls: { ca: readFileSync(certs.ca) } });
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: 'ok\n' });
    await expect(httpFetch(q.httpPort, '/healthz')).rejects.toThrow();
    await expect(httpFetch(q.httpPort, '/healthz', { tls: { ca: readFileSync(certs.otherCa) } })).rejects.toThrow(/certificate/);
  });

  test('with --tls-client-ca a client certificate is required here too', async () => {
    q = await TestQueen.start({ ...HTTP, tls: tlsConfig(true) });
    const ca = readFileSync(certs.ca);
    await expect(httpFetch(q.httpPort, '/metrics', { tls: { ca } })).rejects.toThrow();
    const answer = await httpFetch(q.httpPort, '/metrics', {
      tls: { ca, cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) },
    });
    expect(answer.status).toBe(200);
  });
});
