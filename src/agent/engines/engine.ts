/**
 * What the agent knows of one inference engine's HTTP API: the seam between the engine adapters (one per kind,
 * each reading its engine's own endpoints into these plain values) and the poller (which turns readings into
 * hive.v1 WorkerStates). Nothing past an adapter sees an engine's raw JSON or Prometheus text.
 */

/** The engines the agent recognises, in the order they are probed when a SPEC gives no `kind=`. */
export const ENGINE_KINDS = ['vllm', 'llama.cpp', 'ollama', 'sglang', 'tgi'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

/** One answer of an engine: the HTTP status and the body as text (already capped by EngineHttp). */
export interface EngineResponse {
  readonly status: number;
  readonly body: string;
  /** The Content-Type header's value, when the engine sent one. */
  readonly contentType?: string;
}

/**
 * Why a request to an engine got no usable answer. `unreachable`: refused, reset, timed out, DNS failure (the
 * engine is down or hung); `too-large`: the body passed the cap (the rest was not read); `bad-answer`: the body is
 * not what the endpoint returns (HTML where JSON belongs, JSON of the wrong shape, unparsable metrics).
 * `message` is for people and goes into status_message: "connection refused", "timed out after 2000 ms",
 * "GET /v1/models: answer over 1048576 bytes".
 */
export class EngineError extends Error {
  constructor(
    readonly reason: 'unreachable' | 'too-large' | 'bad-answer',
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** GETs on one engine's base URL, each bounded in time and body size. */
export interface EngineHttp {
  /** The engine's base URL as configured (no trailing slash; a path is kept). */
  readonly baseUrl: string;
  /**
   * GET `baseUrl + path`. Resolves with any HTTP status (a 503 is an answer); rejects only with EngineError:
   * `unreachable` when no answer came (refused, reset, timeout), `too-large` when the body passed the cap.
   */
  get(path: string): Promise<EngineResponse>;
}

/**
 * The engine's health as its own health endpoint says (vLLM, SGLang, TGI and llama.cpp `/health`, Ollama `/`):
 * - `ok`: 200.
 * - `loading`: the engine says it is loading (llama.cpp's 503 "Loading model").
 * - `not-ready`: a 503 from an engine whose 503 means "not ready yet" (SGLang, TGI): the poller reports LOADING
 *   until the engine's first `ok` since it was last unreachable, DEGRADED after.
 * - `failing`: any other answer (a 500, a 503 from vLLM, ...): DEGRADED while the model list still answers.
 * `message` says what was seen, for status_message: "GET /health: 503".
 */
export type EngineHealth =
  | { readonly status: 'ok' }
  | { readonly status: 'loading' | 'not-ready' | 'failing'; readonly message: string };

/** One worker of an engine as read: every engine has one, except Ollama (one per loaded model, maybe none). */
export interface EngineWorkerReading {
  /**
   * What tells this worker apart among its engine's workers, for its id: Ollama's model name; undefined for the
   * single worker of the other engines.
   */
  readonly key?: string;
  readonly modelId?: string;
  /** Requests the engine is running now (its own count). */
  readonly requestsRunning?: number;
  /** Requests queued inside the engine. */
  readonly requestsWaiting?: number;
  /** Fraction 0-1 of the KV cache in use. */
  readonly kvCacheUsage?: number;
  /** Requests it takes at once, by its own figure (llama.cpp total_slots, TGI max_concurrent_requests, ...). */
  readonly maxConcurrency?: number;
  /** Longest context the loaded model takes, in tokens. */
  readonly contextLength?: number;
  /** VRAM the engine itself reports for this worker (Ollama's size_vram), in bytes. */
  readonly vramBytes?: number;
}

/** One poll of one engine. */
export interface EngineReading {
  readonly kind: EngineKind;
  /** As the engine reports it; undefined when it does not say. */
  readonly version?: string;
  readonly health: EngineHealth;
  /**
   * The engine's workers. Empty while it loads and cannot list its model (llama.cpp), and for an Ollama with no
   * model loaded.
   */
  readonly workers: readonly EngineWorkerReading[];
  /**
   * Something worth telling people that did not stop the poll (a metrics endpoint that failed, an endpoint
   * missing): the poller puts it in status_message when nothing more urgent is there.
   */
  readonly note?: string;
}

/**
 * One kind of engine. Stateless: the same adapter serves every engine of its kind (what a poll needs to remember
 * lives in the poller).
 */
export interface EngineAdapter {
  readonly kind: EngineKind;
  /**
   * Whether the engine behind `http` is of this kind, from the answers named in the contract's table. Resolves
   * false for an engine that answers but is another kind; rejects with EngineError('unreachable') when nothing
   * answers.
   */
  detect(http: EngineHttp): Promise<boolean>;
  /**
   * Reads the engine's state. Rejects with EngineError: `unreachable` when the engine does not answer, another
   * reason when its answers are not this kind's (garbage, a body past the cap).
   */
  poll(http: EngineHttp): Promise<EngineReading>;
}
