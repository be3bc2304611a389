import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { systemClock, type Clock } from '../../common/clock.js';
import { systemTimers, type Timers } from '../timers.js';
import { EngineError, type EngineHttp, type EngineResponse } from './engine.js';

/** Default bound on one poll of one engine (`--poll-timeout`). */
export const DEFAULT_POLL_TIMEOUT_MS = 2_000;
/** Default cap on one answer's body: far above any engine's /metrics or model list. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Default connections kept open to one engine. llama.cpp's server (cpp-httplib) gives each connection one of
 * its HTTP threads for as long as it stays open, and sizes that pool at its slots plus 2 "for monitoring": an
 * agent holding more kept-alive connections would take threads from inference requests. GETs beyond this wait
 * for a free connection (a poll of four GETs costs two round trips).
 */
export const DEFAULT_MAX_SOCKETS = 2;

export interface EngineHttpOptions {
  /** Time allowed for one poll, every GET of it included, in ms (default 2000). */
  readonly pollTimeoutMs?: number;
  /** Bytes of one answer's body past which it is dropped with EngineError('too-large') (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Connections kept open to the engine at most (default 2). */
  readonly maxSockets?: number;
  /** Where deadlines are measured (monotonic now()). */
  readonly clock?: Clock;
  readonly timers?: Timers;
}

/** What one poll is given: a shared deadline, and a signal that ends it early (shutdown, the engine removed). */
export interface PollOptions {
  /** Overrides the client's pollTimeoutMs for this poll. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * HTTP to one engine: a keep-alive connection pool (polled every second, the engine keeps answering on the same
 * connections) and the limits of every GET. Make one per engine; `forPoll()` hands out the EngineHttp of one poll;
 * `close()` drops the pool's idle connections when the engine leaves the configuration.
 */
export class EngineHttpClient {
  readonly baseUrl: string;
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly pollTimeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly clock: Clock;
  private readonly timers: Timers;

  /** Throws a TypeError for a URL that is not absolute http(s) (configuration is checked before this). */
  constructor(baseUrl: string, options: EngineHttpOptions = {}) {
    this.url = new URL(baseUrl);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`engine URL must be http or https, got ${JSON.stringify(baseUrl)}`);
    }
    // "A path is kept, a trailing / dropped": http://h:1/x/ and http://h:1/x both give .../x + /v1/models.
    this.baseUrl = `${this.url.origin}${this.url.pathname.replace(/\/+$/, '')}`;
    this.pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? systemTimers;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  }

  /**
   * The EngineHttp of one poll: every GET made through it ends by one deadline, `timeoutMs` from now, so a whole
   * poll (however many GETs, in parallel or one after another) takes at most that long. A GET still running at the
   * deadline (no answer, or a body that stopped coming) rejects with EngineError('unreachable', "timed out after
   * N ms"); a GET begun after it rejects at once the same way.
   */
  forPoll(options: PollOptions = {}): EngineHttp {
    const timeoutMs = options.timeoutMs ?? this.pollTimeoutMs;
    const deadline = { at: this.clock.now() + timeoutMs, timeoutMs, signal: options.signal };
    return { baseUrl: this.baseUrl, get: (path) => this.get(path, deadline) };
  }

  /** Closes every connection to the engine (a GET still running fails): for an engine leaving the configuration. */
  close(): void {
    this.agent.destroy();
  }

  private async get(path: string, deadline: Deadline): Promise<EngineResponse> {
    try {
      return await this.attempt(path, deadline);
    } catch (error) {
      // A kept-alive connection the engine closed just as we reused it fails before any answer: GET is safe to
      // send again, once, on a fresh connection (what Node's docs advise for req.reusedSocket).
      if (error instanceof StaleSocket) return this.attempt(path, deadline);
      throw error;
    }
  }

  private attempt(path: string, deadline: Deadline): Promise<EngineResponse> {
    const timedOut = new EngineError('unreachable', `timed out after ${deadline.timeoutMs} ms`);
    const remainingMs = deadline.at - this.clock.now();
    if (remainingMs <= 0) return Promise.reject(timedOut);
    if (deadline.signal?.aborted === true) return Promise.reject(new EngineError('unreachable', 'poll cancelled'));
    const target = new URL(this.baseUrl + path);
    const requestFn = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const finish = (outcome: { response: EngineResponse } | { error: Error }): void => {
        if (settled) return;
        settled = true;
        this.timers.clearTimeout(timer);
        deadline.signal?.removeEventListener('abort', onAbort);
        if ('response' in outcome) resolve(outcome.response);
        else reject(outcome.error);
      };
      // Failing first, then destroying: the socket's own error events come after and find the GET settled.
      const fail = (error: Error): void => {
        finish({ error });
        req?.destroy();
      };
      const timer = this.timers.setTimeout(() => fail(timedOut), remainingMs);
      const onAbort = (): void => fail(new EngineError('unreachable', 'poll cancelled'));
      deadline.signal?.addEventListener('abort', onAbort, { once: true });

      req = requestFn(target, { method: 'GET', agent: this.agent, headers: { accept: '*/*' } }, (res) => {
        this.readBody(res, `GET ${path}`, fail, (body) =>
          finish({ response: { status: res.statusCode ?? 0, body, ...contentType(res) } }),
        );
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (req?.reusedSocket === true && !settled && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          fail(new StaleSocket());
          return;
        }
        fail(new EngineError('unreachable', transportMessage(error)));
      });
      req.end();
    });
  }

  /** Reads `res` whole under the cap; calls exactly one of `fail` and `done`. */
  private readBody(res: IncomingMessage, what: string, fail: (error: Error) => void, done: (body: string) => void): void {
    const tooLarge = (): EngineError => new EngineError('too-large', `${what}: answer over ${this.maxBodyBytes} bytes`);
    const declared = Number(res.headers['content-length'] ?? Number.NaN);
    if (declared > this.maxBodyBytes) {
      fail(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > this.maxBodyBytes) fail(tooLarge());
      else chunks.push(chunk);
    });
    res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    // The engine closed the connection before the end of its body.
    res.on('error', () => fail(new EngineError('unreachable', 'connection reset')));
    res.on('close', () => {
      if (!res.complete) fail(new EngineError('unreachable', 'connection reset'));
    });
  }
}

interface Deadline {
  readonly at: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

/** A reused keep-alive socket turned out closed: the GET is sent again. */
class StaleSocket extends Error {}

function contentType(res: IncomingMessage): { contentType?: string } {
  const value = res.headers['content-type'];
  return value === undefined ? {} : { contentType: value };
}

/** Short words for people (they go into status_message), from Node's error codes. */
export function transportMessage(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      // TLS failures and the like: Node's code, else its message, kept short.
      return error.code !== undefined ? `connection failed (${error.code})` : error.message.slice(0, 120);
  }
}
