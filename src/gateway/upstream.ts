import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { urlToHttpOptions } from 'node:url';
import type { CancelSignal } from './cancel.js';
import { UpstreamAllowList } from './upstream-allow.js';

/**
 * Why an attempt got no response head: each counts as the worker's failure. `not_allowed`: the worker's URL points
 * outside --gateway-allow-upstream (nothing was sent).
 */
export type FailureReason = 'refused' | 'reset' | 'timeout' | 'not_allowed' | 'error';

export type Attempt =
  | { readonly kind: 'response'; readonly response: IncomingMessage; readonly request: ClientRequest }
  | { readonly kind: 'failed'; readonly reason: FailureReason; readonly detail: string }
  /** The client went away first (the attempt was aborted). */
  | { readonly kind: 'aborted' };

export interface UpstreamTimeouts {
  /** Connecting to the worker. */
  readonly connectMs: number;
  /** From the request sent to the response head (a non-streaming answer's head comes when it is complete). */
  readonly responseMs: number;
}

/** Headers that belong to one connection, not to the request (RFC 9110 7.6.1), and those the gateway sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/**
 * The client's headers as sent on to a worker: without hop-by-hop headers, and without `authorization` and
 * `cookie`, which are the gateway's credentials, not the worker's.
 */
export function forwardedRequestHeaders(headers: IncomingHttpHeaders, bodyLength: number): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === 'cookie') continue;
    out[name] = value;
  }
  out['content-length'] = bodyLength;
  return out;
}

/** A worker's response headers as sent on to the client: without hop-by-hop headers. */
export function forwardedResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length')) continue;
    out[name] = value;
  }
  return out;
}

/** A URL's path and query, as http.request takes them. */
function pathOf(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/** `worker URL + path`: the worker's URL path without its trailing slash, then the request's path and query. */
export function upstreamUrl(workerUrl: string, pathAndQuery: string): URL {
  const base = new URL(workerUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const mark = pathAndQuery.indexOf('?');
  const path = mark < 0 ? pathAndQuery : pathAndQuery.slice(0, mark);
  base.pathname = `${prefix}${path}`;
  base.search = mark < 0 ? '' : pathAndQuery.slice(mark);
  return base;
}

/** A worker URL as requests to it need it, worked out once: parsing a URL costs more than the rest of a send. */
interface Target {
  readonly secure: boolean;
  /** http.request's options for the worker's URL, without the path. */
  readonly options: RequestOptions;
  /** The URL's path without its trailing slash: a request's path goes after it. */
  readonly prefix: string;
  /** Set when the host is an IP address outside the allow list: nothing may be sent. */
  readonly refused?: string;
}

/** Worker URLs remembered: a fleet's worth; past it the cache starts over (parsing again is only slower). */
const MAX_TARGETS = 4_096;

function reasonOf(error: NodeJS.ErrnoException): FailureReason {
  if (error.code === 'ECONNREFUSED') return 'refused';
  if (error.code === 'ERR_UPSTREAM_NOT_ALLOWED') return 'not_allowed';
  if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.message === 'socket hang up') return 'reset';
  return 'error';
}

/**
 * Connections to workers, kept alive and reused (a new TCP connection per request would cost more than the
 * gateway's own work). One pool per scheme; `close` destroys every socket.
 */
export class UpstreamPool {
  private readonly http = new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  private readonly https = new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  private readonly targets = new Map<string, Target | undefined>();

  constructor(
    private readonly timeouts: UpstreamTimeouts,
    private readonly allow: UpstreamAllowList = UpstreamAllowList.parse(''),
  ) {}

  /**
   * POSTs `body` to the worker's URL + `pathAndQuery` and waits for the response head. A reused keep-alive
   * connection that the worker had already closed (reset before anything was sent back) is retried once on a new
   * connection: that is the pool's race, not the worker's failure.
   */
  async send(workerUrl: string, pathAndQuery: string, headers: OutgoingHttpHeaders, body: Buffer, signal: CancelSignal): Promise<Attempt> {
    const target = this.targetOf(workerUrl);
    if (target === undefined) {
      // The registry checks worker URLs; this only keeps a slot from leaking should one ever get through.
      return { kind: 'failed', reason: 'error', detail: `the worker URL ${JSON.stringify(workerUrl)} cannot be used` };
    }
    if (signal.aborted) return { kind: 'aborted' };
    if (target.refused !== undefined) return { kind: 'failed', reason: 'not_allowed', detail: target.refused };
    // A query is rare on these paths: it goes through URL's encoding, as the worker URL did.
    const path = pathAndQuery.includes('?') ? pathOf(upstreamUrl(workerUrl, pathAndQuery)) : `${target.prefix}${pathAndQuery}`;
    const first = await this.sendOnce(target, path, headers, body, signal);
    if (first.kind === 'failed' && 'reused' in first) return this.sendOnce(target, path, headers, body, signal);
    return first;
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }

  /** The worker URL worked out (cached); undefined when it cannot be parsed. */
  private targetOf(workerUrl: string): Target | undefined {
    if (this.targets.has(workerUrl)) return this.targets.get(workerUrl);
    let target: Target | undefined;
    try {
      const url = new URL(workerUrl);
      const secure = url.protocol === 'https:';
      const literal = url.hostname.replace(/^\[|\]$/g, '');
      const refused = isIP(literal) !== 0 && !this.allow.allows(literal);
      // Host, port, protocol and credentials as http.request reads them from a URL; the path is each request's.
      const { path: _path, ...place } = urlToHttpOptions(url);
      target = {
        secure,
        options: {
          ...place,
          method: 'POST',
          agent: secure ? this.https : this.http,
          ...(this.allow.open ? {} : { lookup: this.allow.lookup() }),
        },
        prefix: url.pathname.replace(/\/+$/, ''),
        ...(refused ? { refused: `${literal} is outside --gateway-allow-upstream ${this.allow.text}` } : {}),
      };
    } catch {
      target = undefined;
    }
    if (this.targets.size >= MAX_TARGETS) this.targets.clear();
    this.targets.set(workerUrl, target);
    return target;
  }

  private sendOnce(
    target: Target,
    path: string,
    headers: OutgoingHttpHeaders,
    body: Buffer,
    signal: CancelSignal,
  ): Promise<Attempt | { kind: 'failed'; reason: FailureReason; detail: string; reused: true }> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve({ kind: 'aborted' });
        return;
      }
      const options = { ...target.options, path, headers };
      const request = target.secure ? httpsRequest(options) : httpRequest(options);
      let settled = false;
      const finish = (attempt: Attempt | { kind: 'failed'; reason: FailureReason; detail: string; reused: true }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        clearTimeout(responseTimer);
        signal.removeEventListener('abort', onAbort);
        resolve(attempt);
      };
      const onAbort = (): void => {
        request.destroy();
        finish({ kind: 'aborted' });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Armed only for a new connection: a kept-alive one is connected already.
      let connectTimer: NodeJS.Timeout | undefined;
      const responseTimer = setTimeout(() => {
        request.destroy();
        finish({ kind: 'failed', reason: 'timeout', detail: `no response within ${this.timeouts.responseMs} ms` });
      }, this.timeouts.responseMs);
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => {
          request.destroy();
          finish({ kind: 'failed', reason: 'timeout', detail: `no connection within ${this.timeouts.connectMs} ms` });
        }, this.timeouts.connectMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      request.on('response', (response) => finish({ kind: 'response', response, request }));
      request.on('error', (error: NodeJS.ErrnoException) => {
        const reason = reasonOf(error);
        if (request.reusedSocket && reason === 'reset') finish({ kind: 'failed', reason, detail: error.message, reused: true });
        else finish({ kind: 'failed', reason, detail: reason === 'not_allowed' ? error.message : (error.code ?? error.message) });
      });
      request.end(body);
    });
  }
}
