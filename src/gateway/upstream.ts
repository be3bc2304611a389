import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent } from 'undici';
import type { CancelSignal } from './cancel.js';
import { UpstreamAllowList } from './upstream-allow.js';
import { exchange, type Exchanged } from './upstream-exchange.js';

/**
 * Why an attempt got no response head: each counts as the worker's failure. `not_allowed`: the worker's URL points
 * outside --gateway-allow-upstream (nothing was sent).
 */
export type FailureReason = 'refused' | 'reset' | 'timeout' | 'not_allowed' | 'error';

export type Attempt =
  /** The worker's response head, and its body as it comes (destroying it cancels the request to the worker). */
  | { readonly kind: 'response'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: Readable }
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
 * Not forwarded either: the gateway has read the whole body already, so `Expect: 100-continue` means nothing on the
 * way to the worker (and the client library refuses it).
 */
const EXPECT = 'expect';

/** Request headers as sent to a worker: names in lower case, values as text. */
export type ForwardedHeaders = Record<string, string | string[]>;

/**
 * The client's headers as sent on to a worker: without hop-by-hop headers, and without `authorization` and
 * `cookie`, which are the gateway's credentials, not the worker's.
 */
export function forwardedRequestHeaders(headers: IncomingHttpHeaders, bodyLength: number): ForwardedHeaders {
  const out: ForwardedHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization' || name === 'cookie' || name === EXPECT) continue;
    out[name] = value;
  }
  out['content-length'] = String(bodyLength);
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

/** A worker URL's path without its trailing slash: a request's path goes after it. */
function pathPrefix(url: URL): string {
  return url.pathname.replace(/\/+$/, '');
}

/** A URL's path and query, as a request line takes them. */
function pathOf(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/** `worker URL + path`: the worker's URL path without its trailing slash, then the request's path and query. */
export function upstreamUrl(workerUrl: string, pathAndQuery: string): URL {
  const base = new URL(workerUrl);
  const prefix = pathPrefix(base);
  const mark = pathAndQuery.indexOf('?');
  const path = mark < 0 ? pathAndQuery : pathAndQuery.slice(0, mark);
  base.pathname = `${prefix}${path}`;
  base.search = mark < 0 ? '' : pathAndQuery.slice(mark);
  return base;
}

/** A worker URL as requests to it need it, worked out once: parsing a URL costs more than the rest of a send. */
interface Target {
  /** `scheme://host:port`, what the connection pool is keyed by. */
  readonly origin: string;
  /** The URL's path without its trailing slash: a request's path goes after it. */
  readonly prefix: string;
  /** `Basic` credentials from the URL's user and password, when it has them (as Node's http client would send them). */
  readonly authorization?: string;
  /** Set when the host is an IP address outside the allow list: nothing may be sent. */
  readonly refused?: string;
}

/** Worker URLs remembered: a fleet's worth; past it the cache starts over (parsing again is only slower). */
const MAX_TARGETS = 4_096;
/** Idle connections to a worker are closed after this (or sooner when the worker says so in `Keep-Alive`). */
const KEEP_ALIVE_MS = 4_000;

/**
 * Connections to workers, kept alive and reused (a new TCP connection per request would cost more than the
 * gateway's own work): undici's connection pools, one per worker origin, http and https alike; `close` destroys
 * every connection. undici costs a third of node:http's client per request (its parser, no IncomingMessage or
 * ClientRequest streams).
 */
export class UpstreamPool {
  private readonly agent: Agent;
  private readonly targets = new Map<string, Target | undefined>();

  constructor(
    private readonly timeouts: UpstreamTimeouts,
    private readonly allow: UpstreamAllowList = UpstreamAllowList.parse(''),
  ) {
    this.agent = new Agent({
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: timeouts.responseMs,
      // The gateway watches the body itself (between two chunks, as long as the answer lasts).
      bodyTimeout: 0,
      connect: { timeout: timeouts.connectMs, ...(allow.open ? {} : { lookup: allow.lookup() }) },
    });
  }

  /**
   * POSTs `body` to the worker's URL + `pathAndQuery` and waits for the response head. A connection closed before
   * anything came back is tried once more on a new connection: a kept-alive connection the worker had already
   * closed is the pool's race, not the worker's failure (a worker that resets the new one too has failed).
   */
  async send(workerUrl: string, pathAndQuery: string, headers: ForwardedHeaders, body: Buffer, signal: CancelSignal): Promise<Attempt> {
    const target = this.targetOf(workerUrl);
    if (target === undefined) {
      // The registry checks worker URLs; this only keeps a slot from leaking should one ever get through.
      return { kind: 'failed', reason: 'error', detail: `the worker URL ${JSON.stringify(workerUrl)} cannot be used` };
    }
    if (signal.aborted) return { kind: 'aborted' };
    if (target.refused !== undefined) return { kind: 'failed', reason: 'not_allowed', detail: target.refused };
    // A query is rare on these paths: it goes through URL's encoding, as the worker URL did.
    const path = pathAndQuery.includes('?') ? pathOf(upstreamUrl(workerUrl, pathAndQuery)) : `${target.prefix}${pathAndQuery}`;
    const sent = target.authorization === undefined ? headers : { ...headers, authorization: target.authorization };
    const first = await this.sendOnce(target, path, sent, body, signal);
    if (first.kind === 'failed' && first.reason === 'reset') return this.sendOnce(target, path, sent, body, signal);
    return first;
  }

  close(): void {
    void this.agent.destroy().catch(() => undefined);
  }

  /** The worker URL worked out (cached); undefined when it cannot be parsed. */
  private targetOf(workerUrl: string): Target | undefined {
    if (this.targets.has(workerUrl)) return this.targets.get(workerUrl);
    let target: Target | undefined;
    try {
      const url = new URL(workerUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`${url.protocol} is not http(s)`);
      const literal = url.hostname.replace(/^\[|\]$/g, '');
      const refused = isIP(literal) !== 0 && !this.allow.allows(literal);
      const credentials = url.username === '' && url.password === '' ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      target = {
        origin: url.origin,
        prefix: pathPrefix(url),
        ...(credentials === undefined ? {} : { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }),
        ...(refused ? { refused: `${literal} is outside --gateway-allow-upstream ${this.allow.text}` } : {}),
      };
    } catch {
      target = undefined;
    }
    if (this.targets.size >= MAX_TARGETS) this.targets.clear();
    this.targets.set(workerUrl, target);
    return target;
  }

  private async sendOnce(target: Target, path: string, headers: ForwardedHeaders, body: Buffer, signal: CancelSignal): Promise<Attempt> {
    const outcome: Exchanged = await exchange(this.agent, { origin: target.origin, path, method: 'POST', headers, body }, signal);
    if (outcome.kind !== 'failed') return outcome;
    const reason = reasonOf(outcome.error);
    return { kind: 'failed', reason, detail: this.detailOf(outcome.error, reason) };
  }

  private detailOf(error: NodeJS.ErrnoException, reason: FailureReason): string {
    if (error.code === 'UND_ERR_CONNECT_TIMEOUT') return `no connection within ${this.timeouts.connectMs} ms`;
    if (error.code === 'UND_ERR_HEADERS_TIMEOUT') return `no response within ${this.timeouts.responseMs} ms`;
    if (reason === 'not_allowed') return error.message;
    return error.code ?? error.message;
  }
}

function reasonOf(error: NodeJS.ErrnoException): FailureReason {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ERR_UPSTREAM_NOT_ALLOWED':
      return 'not_allowed';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'timeout';
    // undici's "other side closed" (the worker closed the connection before answering) is node's ECONNRESET.
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    default:
      return 'error';
  }
}
