import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { GATEWAY_ENDPOINTS, parseInferenceRequest, readBody, type Endpoint, type ForwardedPath } from './gateway-request.js';
import { Cancel } from './cancel.js';
import { openAiError, type OpenAiError } from './openai-errors.js';
import { PrefixAffinity, type PromptKind } from './prefix-affinity.js';
import type { PrefixAffinityOptions } from './prefix-affinity-options.js';
import { SlotQueue, type GatewayScheduler, type Held } from './slot-queue.js';
import type { UpstreamAllowList } from './upstream-allow.js';
import { relay, type RelayContext } from './relay.js';
import { forwardedRequestHeaders, UpstreamPool, type FailureReason } from './upstream.js';

export interface GatewayOptions {
  /** How long a request waits for a free slot of a worker with its model before 503. */
  readonly queueTimeoutMs: number;
  /** Connecting to a worker. */
  readonly connectTimeoutMs: number;
  /** From the request sent to the worker's response head, and then between two chunks of its body. */
  readonly responseTimeoutMs: number;
  /** Largest request body accepted. */
  readonly maxBodyBytes: number;
  /** Life of a request's reservation: a safety net only, every request releases its own when it ends. */
  readonly reservationTtlMs: number;
  /** Addresses requests may go to (worker URLs are what hives report); default every address. */
  readonly allowUpstream?: UpstreamAllowList;
  /** Prefix affinity (routing v3); absent: off (no x-hive-prefix-blocks header). */
  readonly prefixAffinity?: PrefixAffinityOptions;
}

/** How a gateway request ended (a metrics label: a closed set). */
export type GatewayOutcome =
  | 'ok'
  /** The worker answered 4xx (passed through; counts as a success of the worker). */
  | 'client_error'
  /** The worker failed (after the one retry, or in the middle of its answer) or answered 5xx. */
  | 'upstream_error'
  /** No slot within the queue timeout: 503 with Retry-After. */
  | 'no_capacity'
  | 'model_not_found'
  | 'bad_request'
  | 'client_closed';

/** Told of what the gateway does, for metrics (the server implements it with prom-client). */
export interface GatewayObserver {
  requestEnded(endpoint: Endpoint, outcome: GatewayOutcome, seconds: number): void;
  /** From the request sent to a worker to its response head. */
  upstreamResponded(endpoint: Endpoint, seconds: number): void;
  /** A request was sent again to another worker, after `reason`. */
  retried(reason: FailureReason | 'status_5xx'): void;
  /** A request got its slot after waiting this long (0 when one was free). */
  queued(seconds: number): void;
  /** A request looked up its prompt prefix: hit when the chosen worker had served some of its blocks. */
  prefixLookup(hit: boolean): void;
}

/** The endpoints whose requests have a prompt text, for prefix affinity (embeddings go by load alone). */
const PROMPT_KINDS: Readonly<Partial<Record<Endpoint, PromptKind>>> = { chat_completions: 'chat', completions: 'completions' };
const NO_KEYS: readonly number[] = [];

/** Attempts per request: the first worker and one other, only before any byte went to the client. */
const ATTEMPTS = 2;
/** Retry-After of a 503: capacity comes back as requests end, typically within a second or two. */
const RETRY_AFTER_S = 1;

const FAILURE_TEXT: Readonly<Record<FailureReason, string>> = {
  refused: 'refused the connection',
  reset: 'reset the connection before answering',
  timeout: 'did not answer in time',
  not_allowed: 'has a URL outside --gateway-allow-upstream',
  error: 'could not be reached',
};

/** The gateway's paths: GET /v1/models and the forwarded POST paths. */
export function isGatewayPath(path: string): boolean {
  return path === '/v1/models' || path in GATEWAY_ENDPOINTS;
}

/**
 * The OpenAI-compatible inference gateway on the queen's HTTP listener. A request's `model` picks a worker that
 * has it loaded, with a reservation (waiting for a free slot up to the queue timeout); the body goes to the
 * worker's URL + the same path, and the answer comes back as it arrives (server-sent events chunk by chunk, with
 * backpressure). The reservation is released when the answer ends. A worker that refuses, resets, times out or
 * answers 5xx before anything went to the client is reported as failed (the scheduler excludes it for a while)
 * and the request goes once to another worker; a failure in the middle of an answer ends the client's response
 * (it sees an error) and is reported too. A client that goes away cancels the request to the worker.
 */
export class InferenceGateway {
  private readonly queue: SlotQueue;
  private readonly pool: UpstreamPool;
  private readonly affinity: PrefixAffinity | undefined;
  private readonly stopAffinity: () => void = () => undefined;
  private active = 0;
  private readonly relayContext: RelayContext;

  constructor(
    private readonly scheduler: GatewayScheduler,
    private readonly options: GatewayOptions,
    private readonly logger: Logger,
    private readonly observer?: GatewayObserver,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (options.prefixAffinity !== undefined) {
      const affinity = new PrefixAffinity(options.prefixAffinity);
      this.affinity = affinity;
      this.stopAffinity = scheduler.onChange((event) => affinity.registryChanged(event));
    }
    this.queue = new SlotQueue(scheduler, options.reservationTtlMs, now, this.affinity);
    this.pool = new UpstreamPool({ connectMs: options.connectTimeoutMs, responseMs: options.responseTimeoutMs }, options.allowUpstream);
    this.relayContext = {
      now,
      idleTimeoutMs: options.responseTimeoutMs,
      release: (held, success) => this.release(held, success),
      failed: (held, what) => this.failed(held, what),
    };
  }

  /** Requests being served (waiting for a slot included). */
  get inFlight(): number {
    return this.active;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.size;
  }

  /** Prefix keys prefix affinity remembers now (up to its `cacheKeys`); undefined when affinity is off. */
  prefixKeysHeld(): number | undefined {
    return this.affinity?.size;
  }

  /** Serves a request for one of the gateway's paths (see isGatewayPath); access was checked by the listener. */
  handle(request: IncomingMessage, response: ServerResponse, path: string, pathAndQuery: string): void {
    if (path === '/v1/models') {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        this.send(response, openAiError(405, 'invalid_request_error', 'method_not_allowed', `${request.method ?? ''} ${path}: use GET`, { headers: { Allow: 'GET, HEAD' } }));
        return;
      }
      this.models(request, response);
      return;
    }
    if (request.method !== 'POST') {
      this.send(response, openAiError(405, 'invalid_request_error', 'method_not_allowed', `${request.method ?? ''} ${path}: use POST`, { headers: { Allow: 'POST' } }));
      return;
    }
    const endpoint = GATEWAY_ENDPOINTS[path as ForwardedPath];
    const started = this.now();
    this.active++;
    void this.forward(request, response, endpoint, pathAndQuery)
      .catch((error: unknown) => {
        this.logger.error({ err: error, endpoint }, 'gateway request failed unexpectedly');
        if (!response.headersSent) this.send(response, openAiError(500, 'server_error', 'internal_error', 'internal error'));
        else response.destroy();
        return 'upstream_error' as const;
      })
      .then((outcome) => {
        this.active--;
        this.observer?.requestEnded(endpoint, outcome, (this.now() - started) / 1000);
      });
  }

  /** Stops handing out slots: waiting and new requests get 503; those already at a worker go on until `destroy`. */
  close(): void {
    this.queue.close();
    this.stopAffinity();
  }

  /** Closes every connection to workers (requests still going are cut). */
  destroy(): void {
    this.close();
    this.pool.close();
  }

  private models(request: IncomingMessage, response: ServerResponse): void {
    const created = Math.floor(Date.now() / 1000);
    const data = [...this.scheduler.onlineModels()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, workers]) => ({ id, object: 'model', created, owned_by: 'hive-registry', workers }));
    const body = JSON.stringify({ object: 'list', data });
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(request.method === 'HEAD' ? undefined : body);
    this.observer?.requestEnded('models', 'ok', 0);
  }

  private async forward(request: IncomingMessage, response: ServerResponse, endpoint: Endpoint, pathAndQuery: string): Promise<GatewayOutcome> {
    const abort = new Cancel();
    const onClose = (): void => {
      if (!response.writableFinished) abort.abort();
    };
    response.on('close', onClose);
    try {
      let body: Buffer;
      try {
        body = await readBody(request, this.options.maxBodyBytes);
      } catch (error) {
        if (isOpenAiError(error)) {
          response.setHeader('Connection', 'close');
          this.send(response, error);
          return 'bad_request';
        }
        return 'client_closed';
      }
      const parsed = parseInferenceRequest(body, request.headers['content-type']);
      if (isOpenAiError(parsed)) {
        this.send(response, parsed);
        return 'bad_request';
      }
      const { model } = parsed;
      const headers = forwardedRequestHeaders(request.headers, body.length);
      const kind = PROMPT_KINDS[endpoint];
      const keys = this.affinity === undefined || kind === undefined ? NO_KEYS : this.affinity.keysOf(kind, model, parsed.json, body.length);
      for (let attempt = 1; ; attempt++) {
        const acquired = await this.queue.acquire(model, this.options.queueTimeoutMs, abort, keys);
        if (acquired.kind === 'aborted') return 'client_closed';
        if (acquired.kind === 'not_loaded') {
          this.send(response, openAiError(404, 'invalid_request_error', 'model_not_found', `model ${JSON.stringify(model)} is not loaded on any online worker; GET /v1/models lists those that are`, { param: 'model' }));
          return 'model_not_found';
        }
        if (acquired.kind === 'closed') {
          this.send(response, openAiError(503, 'service_unavailable', 'shutting_down', 'the queen is shutting down; retry shortly, or on another queen', { headers: { 'Retry-After': String(RETRY_AFTER_S) } }));
          return 'no_capacity';
        }
        if (acquired.kind === 'timeout') {
          this.send(response, openAiError(503, 'service_unavailable', 'no_capacity', `no worker with model ${JSON.stringify(model)} had a free slot within ${this.options.queueTimeoutMs} ms; retry later`, { headers: { 'Retry-After': String(RETRY_AFTER_S) } }));
          return 'no_capacity';
        }
        this.observer?.queued(acquired.waitedMs / 1000);
        const held = acquired.held;
        if (held.prefixBlocks !== undefined) this.observer?.prefixLookup(held.prefixBlocks > 0);
        const sentAt = this.now();
        const result = await this.pool.send(held.entry.worker.url, pathAndQuery, headers, body, abort);
        if (result.kind === 'aborted') {
          this.release(held, false);
          return 'client_closed';
        }
        if (result.kind === 'failed') {
          this.failed(held, `${FAILURE_TEXT[result.reason]} (${result.detail})`);
          if (attempt < ATTEMPTS) {
            this.observer?.retried(result.reason);
            continue;
          }
          this.send(response, openAiError(502, 'server_error', 'upstream_failed', `worker ${held.entry.worker.workerId} on hive ${held.entry.hiveId} ${FAILURE_TEXT[result.reason]}, after a first worker failed too`), held);
          return 'upstream_error';
        }
        this.observer?.upstreamResponded(endpoint, (this.now() - sentAt) / 1000);
        const status = result.status;
        if (status >= 500 && attempt < ATTEMPTS) {
          result.body.resume();
          this.failed(held, `answered ${status}`);
          this.observer?.retried('status_5xx');
          continue;
        }
        return await relay(result, response, held, this.relayContext);
      }
    } finally {
      response.off('close', onClose);
    }
  }

  /** Ends a reservation; a successful one clears the worker's failure record. Waiting requests get the slot. */
  private release(held: Held, success: boolean): void {
    this.scheduler.release(held.reservationId, success);
    this.queue.wake();
  }

  private failed(held: Held, what: string): void {
    const { workerId } = held.entry.worker;
    this.logger.warn({ workerId, hiveId: held.entry.hiveId, problem: what }, 'gateway: worker failed a request; it is excluded for a while');
    this.scheduler.reportFailure(workerId);
    this.release(held, false);
  }

  private send(response: ServerResponse, error: OpenAiError, held?: Held): void {
    if (response.headersSent || response.destroyed) return;
    response.writeHead(error.status, {
      'Content-Type': 'application/json',
      ...error.headers,
      ...(held === undefined ? {} : { 'x-hive-worker': held.entry.worker.workerId, 'x-hive-id': held.entry.hiveId }),
    });
    response.end(JSON.stringify(error.body));
  }
}

function isOpenAiError(value: unknown): value is OpenAiError {
  return typeof value === 'object' && value !== null && 'status' in value && 'body' in value;
}
