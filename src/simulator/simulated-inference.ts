import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../common/clock.js';
import { promptText } from '../common/prompt-text.js';
import { clientGone, readBody, sendJson } from './http-io.js';
import { InferenceProblem } from './inference-problem.js';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest, parseJsonObject, type JsonObject } from './inference-request.js';
import { modelList } from './openai-shapes.js';
import { answerChat, answerCompletion, answerEmbeddings, type ReplyContext } from './reply-writer.js';
import { PREFIX_CACHE_HEADER, PrefixMemory, prefixCacheDelayMs } from './prefix-memory.js';
import { RequestBoard } from './request-board.js';
import type { RequestSlots } from './request-slots.js';
import { modelContextTokens } from './simulated-models.js';
import { systemTimers, type Timers } from '../agent/timers.js';
import {
  DEFAULT_CHUNK_DELAY_MS,
  DEFAULT_FIRST_BYTE_DELAY_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONCURRENCY,
  type InferenceRequestEnd,
  type SimulatedInferenceOptions,
  type SimulatedWorkerSpec,
  type SimulatedWorkerStats,
} from './simulated-inference-options.js';
import { routeOf, workerPath, type Endpoint } from './worker-routes.js';

export * from './simulated-inference-options.js';

interface WorkerEntry {
  readonly spec: SimulatedWorkerSpec;
  readonly slots: RequestSlots;
  /** Prefix keys of its last chat and completions requests (the simulated prefix cache). */
  readonly prefixes: PrefixMemory;
  /** Requests being handled, to cut off on `kill`. */
  readonly open: Set<IncomingMessage>;
  killed: boolean;
  served: number;
  aborted: number;
  rejected: number;
}

/**
 * The OpenAI-compatible HTTP server of one simulated hive: every worker on one port, each under its own prefix
 * `/w/<encodeURIComponent(workerId)>` (its URL, without trailing slash, as reported to the queen), serving
 * POST v1/chat/completions, v1/completions, v1/embeddings and GET v1/models. Answers are deterministic (see
 * simulated-text.ts), paced, bounded by each worker's concurrency, and carry `x-simulated-worker: <workerId>`.
 *
 * Each worker models a prefix cache (prefix-memory.ts): a chat or completions request whose first 256 bytes of
 * prompt text (common/prompt-text.ts) began one of the worker's last 1,000 such requests waits a fifth of
 * `firstByteDelayMs` before its first byte (streamed or not), a miss all of it; the answer says which in
 * `x-simulated-prefix-cache: hit|miss`, and `stats` counts both. Embeddings always wait the whole delay.
 *
 * Life cycle: constructed (nothing bound), `start()` (listening), `close()` (closed for good, every connection
 * destroyed so streaming clients see the cut). `kill(workerId)` makes one worker fail like a crashed process
 * until `revive`: its open connections are destroyed, and so is every later request's. `requests` holds every
 * worker's slots: live running and waiting counts with a change signal (what SimulatedWorkers reports).
 */
export class SimulatedInference {
  /** Every worker's request slots: their counts, change signal and background requests. */
  readonly requests: RequestBoard;
  private readonly server: Server;
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly firstByteDelayMs: number;
  private readonly chunkDelayMs: number;
  private readonly maxBodyBytes: number;
  private readonly startedSeconds: number;
  private bound: AddressInfo | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: SimulatedInferenceOptions) {
    const maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    if (!Number.isSafeInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency: must be a whole number of at least 1, got ${maxConcurrency}`);
    }
    this.firstByteDelayMs = checkMs('firstByteDelayMs', options.firstByteDelayMs ?? DEFAULT_FIRST_BYTE_DELAY_MS);
    this.chunkDelayMs = checkMs('chunkDelayMs', options.chunkDelayMs ?? DEFAULT_CHUNK_DELAY_MS);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (!Number.isSafeInteger(this.maxBodyBytes) || this.maxBodyBytes < 1) {
      throw new RangeError(`maxBodyBytes: must be a whole number of at least 1, got ${this.maxBodyBytes}`);
    }
    const ids = new Set<string>();
    options.workers.forEach((spec, i) => {
      if (!/^[\x21-\x7e]{1,128}$/.test(spec.workerId)) {
        throw new RangeError(`workers[${i}].workerId: must be 1-128 printable ASCII characters, got ${JSON.stringify(spec.workerId)}`);
      }
      if (ids.has(spec.workerId)) throw new RangeError(`workers[${i}].workerId: ${JSON.stringify(spec.workerId)} is repeated`);
      if (spec.modelId === '') throw new RangeError(`workers[${i}].modelId: must not be empty`);
      ids.add(spec.workerId);
    });
    this.requests = new RequestBoard(ids, maxConcurrency);
    for (const spec of options.workers) {
      const slots = this.requests.slotsOf(spec.workerId);
      const entry = { spec, slots, prefixes: new PrefixMemory(), open: new Set<IncomingMessage>(), killed: false, served: 0, aborted: 0, rejected: 0 };
      this.workers.set(spec.workerId, entry);
    }
    this.timers = options.timers ?? systemTimers;
    this.clock = options.clock ?? systemClock;
    this.startedSeconds = Math.floor(this.clock.wallNow() / 1000);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        // Only a bug gets here (every expected failure is answered): fail this request, never the process. The
        // error goes to the observer, not to the client.
        const answerable = !res.headersSent;
        if (answerable) sendJson(res, 500, { error: { message: 'internal error', type: 'server_error', param: null, code: 'internal_error' } });
        else res.destroy();
        this.options.onRequestEnd?.({ outcome: 'failed', ...(answerable ? { status: 500 } : {}), error });
      });
    });
  }

  /** Binds; resolves with the address (its port is the real one when port 0 was asked). Rejects on EADDRINUSE. */
  async start(): Promise<AddressInfo> {
    if (this.bound !== undefined) return this.bound;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.bound = this.server.address() as AddressInfo;
    return this.bound;
  }

  /** The bound address; throws before `start`. */
  get address(): AddressInfo {
    if (this.bound === undefined) throw new Error('the inference server is not started');
    return this.bound;
  }

  /** `http://<host>:<port>/w/<encoded id>`, no trailing slash; throws for an unknown worker or before `start`. */
  urlOf(workerId: string): string {
    if (!this.workers.has(workerId)) throw new RangeError(`workerId: no simulated worker ${JSON.stringify(workerId)}`);
    const { port } = this.address;
    const wildcard = { '0.0.0.0': '127.0.0.1', '::': '::1' } as Record<string, string | undefined>;
    const host = this.options.advertiseHost ?? wildcard[this.address.address] ?? this.address.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}${workerPath(workerId)}`;
  }

  /** A snapshot of one worker's counters; throws for an unknown worker. */
  stats(workerId: string): SimulatedWorkerStats {
    const w = this.entry(workerId);
    return {
      served: w.served,
      aborted: w.aborted,
      rejected: w.rejected,
      inFlight: w.slots.inFlight,
      queued: w.slots.queued,
      peakInFlight: w.slots.peakInFlight,
      prefixHits: w.prefixes.hits,
      prefixMisses: w.prefixes.misses,
    };
  }

  /** Makes a worker fail like a crashed process: its open connections and every later request's are destroyed. */
  kill(workerId: string): void {
    const w = this.entry(workerId);
    w.killed = true;
    for (const req of w.open) req.socket.destroy();
  }

  /** Undoes `kill`: the worker answers again. */
  revive(workerId: string): void {
    this.entry(workerId).killed = false;
  }

  /** Stops listening and destroys every connection (a stream in progress is cut); idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  private entry(workerId: string): WorkerEntry {
    const w = this.workers.get(workerId);
    if (w === undefined) throw new RangeError(`workerId: no simulated worker ${JSON.stringify(workerId)}`);
    return w;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = routeOf(req.method ?? '', req.url ?? '/', (id) => this.workers.has(id));
    const w = route.workerId === undefined ? undefined : this.workers.get(route.workerId);
    const end = (outcome: InferenceRequestEnd['outcome'], status?: number): void => {
      if (w !== undefined && route.endpoint !== undefined && route.endpoint !== 'models') {
        if (outcome === 'served') w.served += 1;
        else if (outcome === 'rejected') w.rejected += 1;
        else w.aborted += 1;
      }
      this.options.onRequestEnd?.({
        ...(w === undefined ? {} : { workerId: w.spec.workerId }),
        ...(route.endpoint === undefined ? {} : { endpoint: route.endpoint }),
        outcome,
        ...(status === undefined ? {} : { status }),
      });
    };
    if (w?.killed === true) {
      req.socket.destroy();
      return end('killed');
    }
    const headers = w === undefined ? {} : { 'x-simulated-worker': w.spec.workerId };
    const refuse = (problem: InferenceProblem, extra: Record<string, string> = {}): void => {
      sendJson(res, problem.status, problem.body(), { ...headers, ...extra });
      end('rejected', problem.status);
    };
    if (route.problem !== undefined) {
      return refuse(route.problem, route.problem.status === 405 && route.allow !== undefined ? { allow: route.allow } : {});
    }
    if (w === undefined || route.endpoint === undefined) throw new Error('a route without a problem names a worker and an endpoint');
    const signal = clientGone(res);
    w.open.add(req);
    res.once('close', () => w.open.delete(req));
    const cutOff = (): void => end(w.killed ? 'killed' : 'aborted');
    if (route.endpoint === 'models') {
      sendJson(res, 200, modelList(w.spec.modelId, this.startedSeconds, modelContextTokens(w.spec.modelId)), headers);
      return end('served', 200);
    }
    const read = await readBody(req, this.maxBodyBytes);
    if (read.kind === 'aborted') return cutOff();
    if (read.kind === 'too_large') {
      const problem = new InferenceProblem(413, 'request_too_large', `request body: must be at most ${this.maxBodyBytes} bytes`);
      return refuse(problem, read.drained ? {} : { connection: 'close' });
    }
    let prepared: Prepared;
    try {
      prepared = prepare(route.endpoint, parseJsonObject(read.body));
      if (prepared.model !== w.spec.modelId) {
        throw new InferenceProblem(404, 'model_not_found', `The model \`${prepared.model}\` does not exist.`, 'model');
      }
    } catch (error) {
      if (error instanceof InferenceProblem) return refuse(error);
      throw error;
    }
    if (!(await w.slots.acquire(signal))) return cutOff();
    try {
      // The prefix cache is looked up as the request starts to run (its prefill), then remembers it.
      const hit = prepared.promptText === undefined ? undefined : w.prefixes.record(prepared.promptText);
      const ctx: ReplyContext = {
        res,
        signal,
        timers: this.timers,
        firstByteDelayMs: hit === undefined ? this.firstByteDelayMs : prefixCacheDelayMs(this.firstByteDelayMs, hit),
        chunkDelayMs: this.chunkDelayMs,
        meta: { id: responseId(route.endpoint), created: Math.floor(this.clock.wallNow() / 1000), model: prepared.model },
        headers: hit === undefined ? headers : { ...headers, [PREFIX_CACHE_HEADER]: hit ? 'hit' : 'miss' },
      };
      if (await prepared.answer(ctx)) end('served', 200);
      else cutOff();
    } finally {
      w.slots.release();
    }
  }
}

/** A checked request: its model, its prompt text (chat, completions), and how to answer it once admitted. */
interface Prepared {
  readonly model: string;
  /** What the prefix cache keys on; undefined for embeddings, which it does not model. */
  readonly promptText?: Buffer;
  answer(ctx: ReplyContext): Promise<boolean>;
}

/** Checks the body for `endpoint` (throws InferenceProblem naming the field). */
function prepare(endpoint: Exclude<Endpoint, 'models'>, body: JsonObject): Prepared {
  switch (endpoint) {
    case 'chat': {
      const request = parseChatRequest(body);
      return { model: request.model, promptText: promptText('chat', body), answer: (ctx) => answerChat(ctx, request) };
    }
    case 'completions': {
      const request = parseCompletionRequest(body);
      return { model: request.model, promptText: promptText('completions', body), answer: (ctx) => answerCompletion(ctx, request) };
    }
    case 'embeddings': {
      const request = parseEmbeddingRequest(body);
      return { model: request.model, answer: (ctx) => answerEmbeddings(ctx, request) };
    }
  }
}

/** `chatcmpl-<32 hex>`, `cmpl-...`, `embd-...`: unique per request, as vLLM's. */
function responseId(endpoint: Endpoint): string {
  const prefix = endpoint === 'chat' ? 'chatcmpl' : endpoint === 'completions' ? 'cmpl' : 'embd';
  return `${prefix}-${randomUUID().replace(/-/g, '')}`;
}

function checkMs(field: string, ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`${field}: must be a whole number of ms, at least 0, got ${ms}`);
  return ms;
}
