/**
 * Fake inference engines for tests: one real HTTP server per engine on 127.0.0.1 (a free port), answering the
 * endpoints the agent reads with the shapes the engines document (routes per kind in ./fake-engines/*.ts), and
 * controlled directly from the test:
 *
 *   const vllm = await FakeEngine.start('vllm', { model: 'meta-llama/Llama-3.1-8B-Instruct' });
 *   vllm.url                                  // http://127.0.0.1:PORT
 *   vllm.set({ running: 3, waiting: 1, kvCacheUsage: 0.42 })
 *   vllm.setLoading(true)                     // llama.cpp: 503 "Loading model" everywhere; others: /health 503
 *   vllm.setHealthStatus(500)                 // the health endpoint (Ollama: `/`) answers 500
 *   vllm.setEndpointStatus('/metrics', 500)   // one endpoint answers that status (undefined: back to normal)
 *   vllm.hang()                               // accepts requests and never answers
 *   vllm.hang('mid-body', '/v1/models')       // answers headers and half a body, then stalls (one path or all)
 *   vllm.garbage('html')                      // 'html' | 'wrong-json' | 'huge' (2 MiB), on one path or all
 *   vllm.heal()                               // undoes setLoading, setHealthStatus, setEndpointStatus, hang, garbage
 *   await vllm.stop()                         // closes every connection: the port refuses
 *   await vllm.restart()                      // listens again on the same port
 *   ollama.load('llama3.2:3b', { sizeVram: 2_000_000_000, contextLength: 4096 }); ollama.unload('llama3.2:3b')
 *   vllm.requests                             // ['GET /v1/models', ...] in arrival order
 *   vllm.onRequest((request) => ...)          // called with 'GET /metrics' etc. as each request arrives
 *   vllm.chatRequests                         // POST /v1/chat/completions answered so far
 *
 * Options (FakeEngineOptions): `model`, `version`, `contextLength`, `maxConcurrency`; vLLM `engineCores` (one
 * `engine` label value each; `set` splits totals across them or takes one value per core), `oldKvName`
 * (vllm:gpu_cache_usage_perc), `loras` / `lorasFirst`; llama.cpp `metrics: false` (no --metrics: /metrics 501,
 * /slots still shows busy slots); Ollama `models` loaded at start. Every kind but TGI also answers POST
 * /v1/chat/completions with a small OpenAI-shaped completion (streamed with `"stream": true`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EngineKind } from '../../src/agent/engines/engine';
import { answerChat } from './fake-engines/chat';
import { NOT_FOUND, json, type Answer, type FakeEngineOptions, type FakeLoad, type FakeState, type OllamaModel, type Routes } from './fake-engines/common';
import { llamaCppRoutes } from './fake-engines/llama-cpp';
import { ollamaRoutes } from './fake-engines/ollama';
import { sglangRoutes } from './fake-engines/sglang';
import { tgiRoutes } from './fake-engines/tgi';
import { vllmRoutes } from './fake-engines/vllm';

export type { FakeEngineOptions, FakeLoad } from './fake-engines/common';

const ROUTES: Readonly<Record<EngineKind, Routes>> = {
  vllm: vllmRoutes,
  'llama.cpp': llamaCppRoutes,
  ollama: ollamaRoutes,
  sglang: sglangRoutes,
  tgi: tgiRoutes,
};

const DEFAULTS: Readonly<Record<EngineKind, { model: string; version: string }>> = {
  vllm: { model: 'meta-llama/Llama-3.1-8B-Instruct', version: '0.10.1' },
  'llama.cpp': { model: 'qwen2.5-7b-instruct-q4_k_m', version: 'b6140-b3eb7f4' },
  ollama: { model: 'llama3.2:latest', version: '0.11.4' },
  sglang: { model: 'Qwen/Qwen2.5-7B-Instruct', version: '0.4.10' },
  tgi: { model: 'HuggingFaceH4/zephyr-7b-beta', version: '3.3.4' },
};

export type GarbageKind = 'html' | 'wrong-json' | 'huge';
/** Bytes of a 'huge' answer: past the agent's default 1 MiB cap. */
export const HUGE_BYTES = 2 * 1024 * 1024;

/** A fault applied to one path, or to every path when `path` is undefined. */
interface Fault<T> {
  readonly what: T;
  readonly path: string | undefined;
}

export class FakeEngine {
  /** Requests received, `METHOD /path`, in arrival order. */
  readonly requests: string[] = [];
  chatRequests = 0;
  private readonly state: FakeState;
  private readonly server: Server;
  private listenPort = 0;
  private readonly endpointStatus = new Map<string, number>();
  private readonly requestListeners = new Set<(request: string) => void>();
  private hangFault: Fault<'silent' | 'mid-body'> | undefined;
  private garbageFault: Fault<GarbageKind> | undefined;

  private constructor(readonly kind: EngineKind, options: FakeEngineOptions) {
    const cores = kind === 'vllm' ? (options.engineCores ?? 1) : 1;
    this.state = {
      kind,
      options,
      model: options.model ?? DEFAULTS[kind].model,
      version: options.version ?? DEFAULTS[kind].version,
      running: new Array<number>(cores).fill(0),
      waiting: new Array<number>(cores).fill(0),
      kvCacheUsage: new Array<number>(cores).fill(0),
      loading: false,
      healthStatus: 200,
      ollamaModels: new Map((options.models ?? []).map((name) => [name, { sizeVram: 2_147_483_648, contextLength: 4096 }])),
    };
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(kind: EngineKind, options: FakeEngineOptions = {}): Promise<FakeEngine> {
    const engine = new FakeEngine(kind, options);
    await engine.listen();
    return engine;
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.listenPort}`;
  }

  /** The model served (Ollama: the default for `load`). */
  get model(): string {
    return this.state.model;
  }

  /** Load figures from now on. A count given as a total is split across vLLM's engine cores, a fraction repeated. */
  set(load: FakeLoad): void {
    const cores = this.state.running.length;
    const spread = (value: number | readonly number[], split: boolean): number[] => {
      if (typeof value !== 'number') {
        if (value.length !== cores) throw new Error(`${this.kind}: ${value.length} values for ${cores} engine cores`);
        return [...value];
      }
      if (!split) return new Array<number>(cores).fill(value);
      // Spread a total so that the series add up to it, as several engine cores would report it.
      return Array.from({ length: cores }, (_, i) => Math.floor(value / cores) + (i < value % cores ? 1 : 0));
    };
    if (load.running !== undefined) this.state.running = spread(load.running, Number.isInteger(load.running));
    if (load.waiting !== undefined) this.state.waiting = spread(load.waiting, Number.isInteger(load.waiting));
    if (load.kvCacheUsage !== undefined) this.state.kvCacheUsage = spread(load.kvCacheUsage, false);
  }

  /** Calls `listener` with each request (`METHOD /path`) as it arrives, before it is answered; returns an undo. */
  onRequest(listener: (request: string) => void): () => void {
    this.requestListeners.add(listener);
    return () => void this.requestListeners.delete(listener);
  }

  setLoading(loading: boolean): void {
    if (this.kind === 'ollama') throw new Error('ollama loads models on demand: use load() and unload()');
    this.state.loading = loading;
  }

  setHealthStatus(status: number): void {
    this.state.healthStatus = status;
  }

  setEndpointStatus(path: string, status: number | undefined): void {
    if (status === undefined) this.endpointStatus.delete(path);
    else this.endpointStatus.set(path, status);
  }

  load(model: string, details: Partial<OllamaModel> = {}): void {
    if (this.kind !== 'ollama') throw new Error(`${this.kind} serves one model: load() is Ollama's`);
    this.state.ollamaModels.set(model, { sizeVram: details.sizeVram ?? 2_147_483_648, ...details });
  }

  unload(model: string): void {
    this.state.ollamaModels.delete(model);
  }

  hang(mode: 'silent' | 'mid-body' = 'silent', path?: string): void {
    this.hangFault = { what: mode, path };
  }

  garbage(kind: GarbageKind, path?: string): void {
    this.garbageFault = { what: kind, path };
  }

  heal(): void {
    this.state.loading = false;
    this.state.healthStatus = 200;
    this.endpointStatus.clear();
    this.hangFault = undefined;
    this.garbageFault = undefined;
  }

  /** Stops listening and drops every connection, hung ones included: from now on the port refuses. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Listens again, on the same port. Faults set before stay set (heal() clears them). */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenPort, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.listenPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const request = `${method} ${path}`;
    this.requests.push(request);
    for (const listener of this.requestListeners) listener(request);
    if (applies(this.hangFault, path)) {
      if (this.hangFault?.what === 'mid-body') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
        res.write('{"object":"list","data":[{"id":');
      }
      return; // Never answered: the connection stays open until the client gives up or stop() drops it.
    }
    if (method === 'POST' && path === '/v1/chat/completions' && this.kind !== 'tgi') {
      this.chatRequests += 1;
      answerChat(req, res, this.state.model, `Hello from a fake ${this.kind}.`, this.chatRequests);
      return;
    }
    req.resume();
    if (applies(this.garbageFault, path)) {
      this.sendGarbage(res, this.garbageFault?.what ?? 'html');
      return;
    }
    const status = this.endpointStatus.get(path);
    const answer =
      method !== 'GET' ? json({ detail: 'Method Not Allowed' }, 405)
      : status !== undefined ? json({ error: { code: status, message: `fake ${status}` } }, status)
      : (ROUTES[this.kind](this.state, path) ?? NOT_FOUND);
    send(res, answer);
  }

  private sendGarbage(res: ServerResponse, kind: GarbageKind): void {
    if (kind === 'html') {
      send(res, { status: 200, contentType: 'text/html', body: '<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>\n' });
    } else if (kind === 'wrong-json') {
      send(res, json({ object: 'error', unexpected: [1, 2, 3] }));
    } else {
      // Chunked, without a content-length: the client must count the bytes itself.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      for (let sent = 0; sent < HUGE_BYTES; sent += chunk.length) res.write(chunk);
      res.end();
    }
  }
}

function applies<T>(fault: Fault<T> | undefined, path: string): boolean {
  return fault !== undefined && (fault.path === undefined || fault.path === path);
}

function send(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}
