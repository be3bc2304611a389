// Child process: the gateway's baseline, a bare forwarding proxy, on 127.0.0.1 with a free port.
//   node dist/bench/bare-proxy-main.js '<worker base URLs as a JSON array>'
// What any HTTP proxy in front of the workers must do, and nothing more: read the request body, JSON-parse it for
// `model` (a 400 without one), forward it round robin over the workers on kept-alive connections (http.Agent
// keepAlive), and stream the answer back. No pick, reservation, prefix affinity, metrics or header filtering.
// Prints {"event":"ready","port":N}; answers each "stats" line on stdin with its CPU and memory; exits on SIGTERM,
// when its stdin closes (the parent is gone), or after MAX_LIFETIME_MS whatever happens.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { emit, processStats } from './protocol.js';

const MAX_LIFETIME_MS = 120_000;

function answer(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ error: { message } }));
}

async function main(): Promise<void> {
  setTimeout(() => {
    process.stderr.write(`bare-proxy-main: still running after ${MAX_LIFETIME_MS} ms, exiting\n`);
    process.exit(3);
  }, MAX_LIFETIME_MS).unref();
  // Each worker's host, port and path (a simulated worker's URL is http://HOST:PORT/w/<worker id>).
  const workers = (JSON.parse(process.argv[2] ?? '') as string[]).map((text) => {
    const url = new URL(text);
    return { host: url.hostname, port: url.port, prefix: url.pathname.replace(/\/+$/, '') };
  });
  if (workers.length === 0) throw new Error('usage: bare-proxy-main.js \'["http://HOST:PORT", ...]\'');
  const agent = new Agent({ keepAlive: true });
  let next = 0;

  const forward = (client: IncomingMessage, response: ServerResponse, body: Buffer): void => {
    let model: unknown;
    try {
      model = (JSON.parse(body.toString('utf8')) as { model?: unknown }).model;
    } catch {
      model = undefined;
    }
    if (typeof model !== 'string') {
      answer(response, 400, 'model: required');
      return;
    }
    const worker = workers[next++ % workers.length] as (typeof workers)[number];
    const upstream = httpRequest(
      { host: worker.host, port: worker.port, path: `${worker.prefix}${client.url ?? '/'}`, method: client.method, agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (answered) => {
        response.writeHead(answered.statusCode ?? 502, answered.headers);
        answered.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      if (!response.headersSent) answer(response, 502, error.message);
      else response.destroy();
    });
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  };

  const server = createServer((client, response) => {
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.on('end', () => forward(client, response, Buffer.concat(chunks)));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve((server.address() as AddressInfo).port));
  });

  const exit = (): void => {
    agent.destroy();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', exit);
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    if (line.trim() === 'stats') emit({ event: 'stats', stats: processStats() });
  });
  commands.on('close', exit);
  emit({ event: 'ready', port });
}

main().catch((error: unknown) => {
  process.stderr.write(`bare-proxy-main: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
