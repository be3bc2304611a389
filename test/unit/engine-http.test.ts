// EngineHttpClient over real sockets on 127.0.0.1: answers of any status, short messages for transport failures,
// one deadline per poll, the body cap, keep-alive reuse and the retry of a stale kept-alive connection.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EngineHttpClient, transportMessage } from '../../src/agent/engines/engine-http';
import { EngineError, type EngineHttp } from '../../src/agent/engines/engine';
import { FakeEngine, HUGE_BYTES } from '../helpers/fake-engines';

async function rejection(promise: Promise<unknown>): Promise<EngineError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error('resolved');
}

/** A raw server: `handler` answers; the sockets it accepted are kept to count connections. */
async function rawServer(handler: (path: string, res: ServerResponse, socket: Socket) => void): Promise<{ server: Server; url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => handler(req.url ?? '/', res, req.socket));
  server.on('connection', (socket: Socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('EngineHttpClient', () => {
  let engine: FakeEngine;
  let client: EngineHttpClient;
  let servers: Server[];

  beforeEach(async () => {
    engine = await FakeEngine.start('vllm');
    client = new EngineHttpClient(engine.url, { pollTimeoutMs: 300 });
    servers = [];
  });

  afterEach(async () => {
    client.close();
    await engine.stop();
    await Promise.all(servers.map(closeServer));
  });

  test('resolves any status with its body and content type', async () => {
    const http = client.forPoll();
    const version = await http.get('/version');
    expect(version).toEqual({ status: 200, body: '{"version":"0.10.1"}', contentType: 'application/json' });
    engine.setHealthStatus(503);
    expect((await http.get('/health')).status).toBe(503);
    expect((await http.get('/nowhere')).status).toBe(404);
  });

  test('keeps a trailing path of the base URL and drops its trailing slash', () => {
    expect(new EngineHttpClient('http://127.0.0.1:8000/').baseUrl).toBe('http://127.0.0.1:8000');
    expect(new EngineHttpClient('http://127.0.0.1:8000/engine/a//').baseUrl).toBe('http://127.0.0.1:8000/engine/a');
    expect(() => new EngineHttpClient('ftp://127.0.0.1:8000')).toThrow(/http or https/);
  });

  test('a path under the base URL is requested there', async () => {
    const { server, url } = await rawServer((path, res) => res.end(path));
    servers.push(server);
    const prefixed = new EngineHttpClient(`${url}/engine/a/`);
    expect((await prefixed.forPoll().get('/v1/models')).body).toBe('/engine/a/v1/models');
    prefixed.close();
  });

  test('a refused connection is "connection refused"', async () => {
    await engine.stop();
    const error = await rejection(client.forPoll().get('/health'));
    expect(error.reason).toBe('unreachable');
    expect(error.message).toBe('connection refused');
  });

  test('an engine that never answers times out at the poll deadline', async () => {
    engine.hang();
    const started = performance.now();
    const error = await rejection(client.forPoll().get('/health'));
    const elapsed = performance.now() - started;
    expect(error.reason).toBe('unreachable');
    expect(error.message).toBe('timed out after 300 ms');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
  });

  test('a body that stops coming times out too', async () => {
    engine.hang('mid-body');
    const error = await rejection(client.forPoll({ timeoutMs: 150 }).get('/v1/models'));
    expect(error.message).toBe('timed out after 150 ms');
  });

  test('one poll shares one deadline: a GET after it rejects at once', async () => {
    engine.hang('silent', '/metrics');
    const http = client.forPoll({ timeoutMs: 200 });
    const [models, metrics] = await Promise.allSettled([http.get('/v1/models'), http.get('/metrics')]);
    expect(models.status).toBe('fulfilled');
    expect(metrics.status === 'rejected' && (metrics.reason as Error).message).toBe('timed out after 200 ms');
    const started = performance.now();
    const late = await rejection(http.get('/version'));
    expect(late.message).toBe('timed out after 200 ms');
    expect(performance.now() - started).toBeLessThan(50);
    // The next poll has its own deadline.
    expect((await client.forPoll().get('/version')).status).toBe(200);
  });

  test('an aborted poll rejects its GETs', async () => {
    engine.hang();
    const controller = new AbortController();
    const pending = client.forPoll({ timeoutMs: 5000, signal: controller.signal }).get('/health');
    setImmediate(() => controller.abort());
    const error = await rejection(pending);
    expect(error).toMatchObject({ reason: 'unreachable', message: 'poll cancelled' });
  });

  test('a body past the cap is dropped: too-large naming the endpoint and the cap', async () => {
    engine.garbage('huge');
    const small = new EngineHttpClient(engine.url, { maxBodyBytes: 100_000 });
    const error = await rejection(small.forPoll().get('/v1/models'));
    expect(error.reason).toBe('too-large');
    expect(error.message).toBe('GET /v1/models: answer over 100000 bytes');
    small.close();
    // The default cap (1 MiB) is below the fake's huge answer.
    expect(HUGE_BYTES).toBeGreaterThan(1024 * 1024);
    // Its own deadline: past 1 MiB on a loaded machine can take longer than the suite's short 300 ms poll timeout.
    expect((await rejection(client.forPoll({ timeoutMs: 10_000 }).get('/metrics'))).message).toBe('GET /metrics: answer over 1048576 bytes');
  });

  test('a declared content-length past the cap is refused before reading', async () => {
    const { server, url } = await rawServer((_path, res) => {
      res.writeHead(200, { 'content-length': 5000 });
      res.write('x'.repeat(10)); // and never the rest: only the header can tell the size
    });
    servers.push(server);
    const capped = new EngineHttpClient(url, { maxBodyBytes: 4096 });
    const error = await rejection(capped.forPoll().get('/metrics'));
    expect(error).toMatchObject({ reason: 'too-large', message: 'GET /metrics: answer over 4096 bytes' });
    capped.close();
  });

  test('a connection cut in the middle of a body is "connection reset"', async () => {
    const { server, url } = await rawServer((_path, res, socket) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('{"partial":', () => socket.destroy());
    });
    servers.push(server);
    const cut = new EngineHttpClient(url);
    expect(await rejection(cut.forPoll().get('/v1/models'))).toMatchObject({ reason: 'unreachable', message: 'connection reset' });
    cut.close();
  });

  test('polls reuse one kept-alive connection', async () => {
    const { server, url, sockets } = await rawServer((_path, res) => res.end('ok'));
    servers.push(server);
    const kept = new EngineHttpClient(url);
    for (let i = 0; i < 3; i += 1) expect((await kept.forPoll().get('/health')).body).toBe('ok');
    expect(sockets.size).toBe(1);
    kept.close();
  });

  test('a poll opens at most two connections, whatever its GETs at once', async () => {
    const { server, url, sockets } = await rawServer((path, res) => res.end(path));
    servers.push(server);
    const kept = new EngineHttpClient(url);
    const http = kept.forPoll();
    const paths = ['/health', '/v1/models', '/props', '/metrics'];
    expect((await Promise.all(paths.map((p) => http.get(p)))).map((r) => r.body)).toEqual(paths);
    expect(sockets.size).toBe(2);
    kept.close();
  });

  test('a kept-alive connection the engine dropped is retried once on a new one', async () => {
    const served = new Map<Socket, number>();
    const { server, url, sockets } = await rawServer((_path, res, socket) => {
      const count = (served.get(socket) ?? 0) + 1;
      served.set(socket, count);
      // The second request on a connection finds it closed, as when an engine's idle timeout races a poll.
      if (count === 2) socket.destroy();
      else res.end(`answer ${sockets.size}`);
    });
    servers.push(server);
    const kept = new EngineHttpClient(url);
    const http: EngineHttp = kept.forPoll();
    expect((await http.get('/health')).body).toBe('answer 1');
    expect((await http.get('/health')).body).toBe('answer 2');
    expect(sockets.size).toBe(2);
    kept.close();
  });
});

describe('transportMessage', () => {
  test.each<[string | undefined, string]>([
    ['ECONNREFUSED', 'connection refused'],
    ['ECONNRESET', 'connection reset'],
    ['EPIPE', 'connection reset'],
    ['ENOTFOUND', 'host not found'],
    ['EAI_AGAIN', 'host not found'],
    ['EHOSTUNREACH', 'host unreachable'],
    ['ETIMEDOUT', 'connection timed out'],
    ['CERT_HAS_EXPIRED', 'connection failed (CERT_HAS_EXPIRED)'],
    [undefined, 'something odd'],
  ])('%s', (code, message) => {
    const error: NodeJS.ErrnoException = Object.assign(new Error('something odd'), code === undefined ? {} : { code });
    expect(transportMessage(error)).toBe(message);
  });
});
