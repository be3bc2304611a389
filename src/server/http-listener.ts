import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { bearerToken, roleAllows, type AccessControl } from './access.js';
import { isGatewayPath, type InferenceGateway } from '../gateway/inference-gateway.js';
import type { DashboardRoutes } from './dashboard-routes.js';
import type { ServerTls } from './grpc-server.js';

// The queen's one HTTP listener (metrics, the dashboard and the inference gateway). It lives
// in server/ beside the gRPC composition because it shares the queen's life cycle (start, drain, stop), its TLS
// material and its access layer; a separate layer would have to import server/ while server/ starts it.

/** What a request's `Authorization` header gets: in, 401 (none, malformed, unknown or revoked), or 403. */
export type HttpAccess = 'allowed' | 'unauthenticated' | 'forbidden';

/** Decides on one request's `Authorization` header value (undefined when absent). */
export type HttpAuthorizer = (authorization: string | undefined) => HttpAccess;

/** What `/metrics` serves. */
export interface MetricsExposition {
  readonly contentType: string;
  exposition(): Promise<string>;
}

export interface HttpListenerOptions {
  /** HOST:PORT or [IPv6]:PORT; port 0 picks a free one. */
  readonly listen: string;
  /** Serve HTTPS with the gRPC listener's certificate (and with `clientCa`, require client certificates). */
  readonly tls?: ServerTls;
  /** Auth on: every path but /healthz needs a token this lets in. Absent: auth off, every request is let in. */
  readonly authorize?: HttpAuthorizer;
  readonly metrics: MetricsExposition;
  /** The dashboard's paths (/, /assets/, /api/); absent: they answer 404. */
  readonly dashboard?: DashboardRoutes;
  /** The inference gateway's paths (/v1/...); absent: they answer 404. */
  readonly gateway?: InferenceGateway;
  /** Connections open at once; default DEFAULT_MAX_CONNECTIONS. */
  readonly maxConnections?: number;
}

const BASIC = /^basic +([A-Za-z0-9+/=]{1,4096}) *$/i;

/**
 * The token of an `Authorization` header: `Bearer <token>` (scrapers, scripts), or `Basic` with the token as the
 * password and any user name, which is what a browser sends after asking for credentials: the dashboard then
 * works in a plain browser, with no token in a URL or in the page's script.
 */
export function httpToken(authorization: string): string | undefined {
  const bearer = bearerToken(authorization);
  if (bearer !== undefined) return bearer;
  const basic = BASIC.exec(authorization)?.[1];
  if (basic === undefined) return undefined;
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  return /^[\x21-\x7e]+$/.test(password) ? password : undefined;
}

/** With auth on: a caller token with at least the `read` role; a hive token is known but refused (403). */
export function tokenAuthorizer(access: AccessControl): HttpAuthorizer {
  return (authorization) => {
    const token = authorization === undefined ? undefined : httpToken(authorization);
    const principal = token === undefined ? undefined : access.principalOf(token);
    if (principal === undefined) return 'unauthenticated';
    return principal.kind === 'caller' && roleAllows(principal.role, 'read') ? 'allowed' : 'forbidden';
  };
}

/**
 * Connections open at once by default: the gateway's clients hold one per request in flight, so this is well above
 * what a busy fleet serves at once, and still stops a flood.
 */
export const DEFAULT_MAX_CONNECTIONS = 4_096;
/** A request must arrive whole (headers included) within this; a slow sender does not hold a connection for ever. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Largest request head accepted, in bytes (Node's default, said here on purpose). */
const MAX_HEADER_BYTES = 16_384;
/** On close, connections still busy after this long are cut. */
const CLOSE_GRACE_MS = 1_000;
/** Longest request path written to a log line. */
const LOGGED_PATH_CHARS = 128;

const NOT_FOUND_BODY =
  'not found: this listener serves GET / (the dashboard), /api/events, /api/best?model=NAME, ' +
  '/metrics (Prometheus text format), /healthz, and the inference gateway under /v1/ (GET /v1/models, ' +
  'POST /v1/chat/completions, /v1/completions, /v1/embeddings)\n';

function splitListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  if (match === null) {
    throw new RangeError(`http listen address must be HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(listen)}`);
  }
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}

/** Whether a request announces a body (which is never read: the connection is closed after the answer instead). */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/**
 * The queen's HTTP(S) listener: `GET /healthz` (open: 200 `ok` while serving, 503 once draining), `GET /metrics`
 * (Prometheus text format), the dashboard (`/`, `/assets/`, `/api/`) and the inference gateway (`/v1/`). Outside
 * the gateway only GET and HEAD are answered (405 otherwise) and no request body is read. Requests are bounded in
 * time, header size and connections. With auth on, every path but /healthz needs `Authorization: Bearer <token>`
 * (or Basic with the token as password, for browsers) of a caller with the `read` role: 401 with both challenges
 * when it is missing, malformed, unknown or revoked, 403 for a hive token; in the OpenAI error form on `/v1/`.
 */
export class HttpListener {
  private draining = false;
  private cutOff = false;
  private boundPort = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: HttpListenerOptions,
    private readonly logger: Logger,
  ) {}

  /** Binds `options.listen` and serves; rejects if the address cannot be bound. */
  static async start(options: HttpListenerOptions, logger: Logger): Promise<HttpListener> {
    const { host, port } = splitListen(options.listen);
    const serverOptions = {
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: REQUEST_TIMEOUT_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
    };
    const tls = options.tls;
    const server =
      tls === undefined
        ? createHttpServer(serverOptions)
        : createHttpsServer({
            ...serverOptions,
            cert: tls.certChain,
            key: tls.privateKey,
            ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          });
    server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const listener = new HttpListener(server, options, logger);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => listener.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => logger.error({ err: error }, 'http listener error'));
    listener.boundPort = (server.address() as AddressInfo).port;
    return listener;
  }

  /** The port actually bound (useful with port 0); still answered once closed. */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Whether this queen sees the whole fleet (a federated queen does not while it joins, nor when cut off from etcd
   * past its lease TTL): while false /healthz answers 503, as grpc.health.v1 reports NOT_SERVING, and load
   * balancers send elsewhere.
   */
  setServing(serving: boolean): void {
    this.cutOff = !serving;
  }

  /** From now on /healthz answers 503 and the gateway takes no new request: load balancers stop sending. */
  beginDrain(): void {
    this.draining = true;
    // The gateway hands out no more slots: waiting and new requests get 503 and go elsewhere, as probes do.
    this.options.gateway?.close();
  }

  /** Stops accepting, lets requests in flight finish for a moment, then cuts what is left. */
  close(): Promise<void> {
    this.draining = true;
    // Live feeds never end by themselves: end them now, so only requests in flight are waited for. Requests
    // waiting for a gateway slot get 503.
    this.options.dashboard?.close();
    this.options.gateway?.close();
    return new Promise((resolve) => {
      const cut = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
      cut.unref();
      this.server.close(() => {
        clearTimeout(cut);
        this.options.gateway?.destroy();
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = request.url ?? '/';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const query = mark < 0 ? '' : url.slice(mark + 1);
    response.setHeader('Cache-Control', 'no-store');
    const gateway = this.options.gateway !== undefined && isGatewayPath(path) ? this.options.gateway : undefined;
    if (gateway === undefined) {
      // Only the gateway reads request bodies: elsewhere one is never read, so the connection cannot be reused.
      if (hasBody(request)) response.setHeader('Connection', 'close');
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.setHeader('Allow', 'GET, HEAD');
        response.setHeader('Connection', 'close');
        this.text(response, 405, `method ${request.method ?? ''} not allowed: this listener answers GET and HEAD only\n`);
        return;
      }
      if (path === '/healthz') {
        if (this.draining) this.text(response, 503, 'draining\n');
        else if (this.cutOff) this.text(response, 503, 'not serving: this queen does not see the whole fleet (joining its federation, or cut off from etcd)\n');
        else this.text(response, 200, 'ok\n');
        return;
      }
    }
    const access = this.options.authorize?.(request.headers.authorization) ?? 'allowed';
    if (access !== 'allowed') {
      this.refuse(request, response, path, access, gateway !== undefined);
      return;
    }
    if (gateway !== undefined) {
      gateway.handle(request, response, path, url);
      return;
    }
    if (path === '/metrics') {
      void this.serveMetrics(response);
      return;
    }
    if (this.options.dashboard?.handle(path, new URLSearchParams(query), request, response) === true) return;
    this.text(response, 404, NOT_FOUND_BODY);
  }

  /** 401 (with the challenges) or 403; in the OpenAI error form on the gateway's paths, for its clients. */
  private refuse(request: IncomingMessage, response: ServerResponse, path: string, access: HttpAccess, openAi: boolean): void {
    this.logger.info({ path: path.slice(0, LOGGED_PATH_CHARS), peer: request.socket.remoteAddress, access }, 'http request refused');
    if (openAi) response.setHeader('Connection', 'close');
    if (access === 'unauthenticated') {
      // Bearer for programs; Basic makes a browser ask for the token (as the password) and send it on every request.
      response.setHeader('WWW-Authenticate', ['Bearer realm="hive-registry"', 'Basic realm="hive-registry", charset="UTF-8"']);
      const message = 'authentication required: send "Authorization: Bearer <token>" with a caller token';
      if (openAi) this.json(response, 401, { error: { message, type: 'authentication_error', code: 'invalid_api_key' } });
      else this.text(response, 401, `${message} (a browser asks for it: any user name, the token as password)\n`);
      return;
    }
    const why = 'a hive token only opens its Heartbeat stream; use a caller token with the read role';
    if (openAi) this.json(response, 403, { error: { message: `forbidden: ${why}`, type: 'permission_error', code: 'forbidden' } });
    else this.text(response, 403, `forbidden: ${why}\n`);
  }

  private async serveMetrics(response: ServerResponse): Promise<void> {
    let body: string;
    try {
      body = await this.options.metrics.exposition();
    } catch (error) {
      this.logger.error({ err: error }, 'metrics could not be collected');
      this.text(response, 500, 'internal error\n');
      return;
    }
    response.writeHead(200, { 'Content-Type': this.options.metrics.contentType });
    response.end(body);
  }

  private json(response: ServerResponse, statusCode: number, body: unknown): void {
    response.writeHead(statusCode, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  private text(response: ServerResponse, statusCode: number, body: string): void {
    response.writeHead(statusCode, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end(body);
  }
}
