import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.js';
import type { ChangeSignal } from '../heartbeat-agent-options.js';
import type { DeviceInit, HiveSnapshot } from '../hive-snapshot.js';
import type { Timers } from '../timers.js';
import { EngineError, type EngineAdapter, type EngineHttp, type EngineKind } from './engine.js';
import { portOf, type EngineSpec } from './engine-spec.js';
import { advertisedUrl, pollUrl } from './engine-url.js';
import { BACKEND_OF, cut, engineWorkers, type EngineView } from './engine-workers.js';
import { deviceUsage, devicesOf } from './gpu-usage.js';
import { compareIds } from '../../registry/ids.js';
import { MAX_DEVICE_NAME_LENGTH } from '../../server/payload-to-heartbeat.js';
import type { EngineGpuUsage, GpuSnapshot } from './gpu.js';
import { PublishGate } from './publish-gate.js';

/** How the poller reaches engines: made of engine-http, detect and the adapters in production, fakes in tests. */
export interface EngineAccess {
  /** GETs on the engine at `url` for one poll; every request ends (or fails) once `signal` aborts. */
  http(url: string, signal: AbortSignal): EngineHttp;
  /** The kind of the engine behind `http`, probed in the contract's order; undefined when none matches. */
  detect(http: EngineHttp): Promise<EngineKind | undefined>;
  adapterFor(kind: EngineKind): EngineAdapter;
  /** The engine at `url` is no longer polled: drop what is kept for it (its connections). */
  release?(url: string): void;
}

/** The machine's GPUs, and which of them the engines listening on some local ports use. */
export interface GpuProbe {
  /** One read: GPU stats, and the mapping of each port in `ports` that has one. Rejects when stats cannot be read. */
  sample(ports: readonly number[]): Promise<{ readonly gpus: GpuSnapshot; readonly usage: ReadonlyMap<number, EngineGpuUsage> }>;
}

export interface EnginePollerOptions {
  readonly hiveId: string;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly access: EngineAccess;
  /** GPU stats; none: no devices reported, no GPU figures unless the engine gives them. */
  readonly gpu?: GpuProbe;
  /** Whether an engine URL is on this machine (its port can be mapped to processes). Default: none is. */
  readonly isLocal?: (specUrl: string) => boolean;
  /** Each engine is polled this often (and GPU stats read), in ms. */
  readonly pollIntervalMs: number;
  /** One poll of one engine ends by this, in ms: the engine then counts as unreachable. */
  readonly pollTimeoutMs: number;
  /** The machine's RAM, reported as the hive's ram_total_bytes; none: not reported. */
  readonly ramTotalBytes?: bigint;
}

/** One engine being polled: what the last poll found, and its timer. */
interface Target {
  readonly spec: EngineSpec;
  readonly key: string;
  readonly pollUrl: string;
  readonly port: number;
  kind: EngineKind | undefined;
  view: Omit<EngineView, 'url' | 'gpu' | 'deviceGpu'> | undefined;
  servedSinceReachable: boolean;
  timer?: unknown;
  abort?: AbortController;
  stopped: boolean;
}

/** Longest a change waits for the rest of its round before it is signalled, in ms (a quarter interval if shorter). */
const ROUND_SETTLE_MS = 100;

/** How long past the poll timeout a poll is cut by the poller itself (detection and adapters gone astray). */
const POLL_TIMEOUT_SLACK_MS = 250;


/**
 * Polls the engines of a hive, each on its own schedule (every poll interval on a grid shared by all engines, never
 * two polls of one engine at once, each bounded by the poll timeout), and reads GPU stats on the same grid. Keeps the hive's snapshot
 * (see engineWorkers for the rules, PublishGate for when a change is reported) and signals each change, so the
 * heartbeat agent sends it without waiting for its next beat. A slow or dead engine delays nothing but itself.
 */
export class EnginePoller implements ChangeSignal {
  private readonly log: Logger;
  private targets = new Map<string, Target>();
  private readonly gate = new PublishGate();
  private readonly listeners = new Set<() => void>();
  private gpus: GpuSnapshot | undefined;
  private usage: ReadonlyMap<number, EngineGpuUsage> = new Map();
  private devices: DeviceInit[] = [];
  private devicesKey = '[]';
  private gpuTimer: unknown;
  private gpuProblem: string | undefined;
  private advertiseHost: string | undefined;
  private running = false;
  /** Monotonic ms the schedule counts from: every engine polls at gridStartMs + k × interval. */
  private gridStartMs = 0;
  /** Polls and GPU reads running now. */
  private inFlight = 0;
  /** A change not signalled yet: it waits for the round's other polls, at most ROUND_SETTLE_MS. */
  private signalPending = false;
  private settleTimer: unknown;

  constructor(private readonly options: EnginePollerOptions) {
    this.log = options.logger.child({ component: 'engines', hiveId: options.hiveId });
  }

  /** The hive's snapshot as last published. */
  snapshot(): HiveSnapshot {
    const ram = this.options.ramTotalBytes;
    return { workers: this.gate.workers(), devices: this.devices, ...(ram === undefined ? {} : { ramTotalBytes: ram }) };
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** The host reported in place of a loopback or wildcard engine host (see advertisedUrl). */
  setAdvertiseHost(host: string | undefined): void {
    if (host === this.advertiseHost) return;
    this.advertiseHost = host;
    this.publish();
  }

  /**
   * Polls exactly these engines from now on: an engine whose SPEC is unchanged keeps its state and schedule, a
   * new or changed one is polled at once, a removed one leaves the next snapshot.
   */
  setEngines(specs: readonly EngineSpec[]): void {
    const next = new Map<string, Target>();
    for (const spec of specs) {
      const key = JSON.stringify(spec);
      const kept = this.targets.get(key);
      if (kept !== undefined) {
        next.set(key, kept);
        continue;
      }
      const target: Target = {
        spec,
        key,
        pollUrl: pollUrl(spec.url),
        port: portOf(spec.url),
        kind: spec.kind,
        view: undefined,
        servedSinceReachable: false,
        stopped: false,
      };
      next.set(key, target);
      if (this.running) this.poll(target);
    }
    for (const [key, target] of this.targets) if (!next.has(key)) this.stopTarget(target);
    this.targets = next;
    this.publish();
  }

  /** Starts polling every engine, and GPU stats. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.gridStartMs = this.options.clock.now();
    for (const target of this.targets.values()) this.poll(target);
    this.readGpus();
  }

  /** Stops every poll and timer (polls in flight are aborted). */
  stop(): void {
    this.running = false;
    for (const target of this.targets.values()) this.stopTarget(target);
    this.options.timers.clearTimeout(this.gpuTimer);
    this.options.timers.clearTimeout(this.settleTimer);
  }

  private stopTarget(target: Target): void {
    target.stopped = true;
    this.options.timers.clearTimeout(target.timer);
    target.abort?.abort();
    if (![...this.targets.values()].some((t) => t !== target && t.pollUrl === target.pollUrl)) {
      this.options.access.release?.(target.pollUrl);
    }
  }

  private poll(target: Target): void {
    if (target.stopped) return;
    const abort = new AbortController();
    target.abort = abort;
    this.inFlight += 1;
    // A backstop: EngineHttp ends each GET by the poll's deadline itself, with its own reason.
    const timeout = this.options.timers.setTimeout(() => abort.abort(), this.options.pollTimeoutMs + POLL_TIMEOUT_SLACK_MS);
    this.pollOnce(target, abort.signal)
      .catch((error: unknown) => this.log.error({ err: error, url: target.spec.url }, 'engine poll failed unexpectedly'))
      .finally(() => {
        this.inFlight -= 1;
        this.options.timers.clearTimeout(timeout);
        if (target.stopped) return;
        target.abort = undefined;
        this.publish();
        target.timer = this.options.timers.setTimeout(() => this.poll(target), this.untilNextRoundMs());
      });
  }

  /**
   * Until the next point of the shared schedule, in ms. Every engine polls on the same grid, whatever its own
   * polls cost: a round's answers come together (one snapshot carries them) and rounds never drift apart. A
   * poll that overran skips to the first point after it (never two polls of one engine at once).
   */
  private untilNextRoundMs(): number {
    const interval = this.options.pollIntervalMs;
    const now = this.options.clock.now();
    const next = this.gridStartMs + Math.floor((now - this.gridStartMs) / interval + 1) * interval;
    return next - now;
  }

  private async pollOnce(target: Target, signal: AbortSignal): Promise<void> {
    const http = this.options.access.http(target.pollUrl, signal);
    const base = { spec: target.spec, hiveId: this.options.hiveId };
    try {
      if (target.kind === undefined) {
        const kind = await this.options.access.detect(http);
        if (kind === undefined) {
          throw new EngineError('bad-answer', 'not an engine the agent recognises (no answer matched vLLM, llama.cpp, Ollama, SGLang or TGI)');
        }
        target.kind = kind;
        this.log.info({ url: target.spec.url, kind }, 'engine detected');
      }
      const reading = await this.options.access.adapterFor(target.kind).poll(http);
      if (target.stopped) return;
      if (reading.health.status === 'ok') target.servedSinceReachable = true;
      this.noteRecovery(target);
      target.view = { ...base, kind: target.kind, reading, servedSinceReachable: target.servedSinceReachable, readAtMs: this.options.clock.wallNow() };
    } catch (error) {
      if (target.stopped) return;
      const failure = describeFailure(error, signal, this.options.pollTimeoutMs);
      if (failure.unreachable) {
        target.servedSinceReachable = false;
        // Another engine may come up on the port: recognise it afresh, unless the SPEC names the kind.
        target.kind = target.spec.kind;
      }
      if (target.view?.failure !== failure.message) {
        this.log.warn({ url: target.spec.url, problem: failure.message }, 'engine not usable: reported in ERROR');
      }
      target.view = {
        ...base,
        ...(target.kind === undefined ? {} : { kind: target.kind }),
        ...(target.view?.reading === undefined ? {} : { reading: target.view.reading }),
        failure: failure.message,
        servedSinceReachable: target.servedSinceReachable,
        readAtMs: this.options.clock.wallNow(),
      };
    }
  }

  private noteRecovery(target: Target): void {
    if (target.view?.failure !== undefined) this.log.info({ url: target.spec.url }, 'engine answers again');
  }

  private readGpus(): void {
    const probe = this.options.gpu;
    if (probe === undefined || !this.running) return;
    this.inFlight += 1;
    const ports = [...new Set([...this.targets.values()].filter((t) => this.isLocal(t.spec.url)).map((t) => t.port))];
    probe
      .sample(ports)
      .then(
        ({ gpus, usage }) => {
          if (this.gpuProblem !== undefined) this.log.info('GPU stats readable again');
          this.gpuProblem = undefined;
          this.gpus = gpus;
          this.usage = usage;
          this.updateDevices();
        },
        (error: unknown) => {
          const problem = error instanceof Error ? error.message : String(error);
          if (problem !== this.gpuProblem) this.log.warn({ problem }, 'cannot read GPU stats: GPU figures left out until they can');
          this.gpuProblem = problem;
          this.gpus = undefined;
          this.usage = new Map();
          this.updateDevices();
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        if (!this.running) return;
        this.publish();
        this.gpuTimer = this.options.timers.setTimeout(() => this.readGpus(), this.untilNextRoundMs());
      });
  }

  private isLocal(specUrl: string): boolean {
    return this.options.isLocal?.(specUrl) ?? false;
  }

  /** Recomputes the snapshot and signals when what is reported changed. */
  private publish(): void {
    const workers = [...this.targets.values()].flatMap((target) => {
      if (target.view === undefined) return [];
      const deviceGpu = target.spec.device === undefined || this.gpus === undefined ? undefined : deviceUsage(target.spec.device, this.gpus);
      const gpu = this.isLocal(target.spec.url) ? this.usage.get(target.port) : undefined;
      return engineWorkers({
        ...target.view,
        url: advertisedUrl(target.spec.url, this.advertiseHost),
        ...(gpu === undefined ? {} : { gpu }),
        ...(deviceGpu === undefined ? {} : { deviceGpu }),
      });
    });
    workers.sort((a, b) => compareIds(a.workerId ?? '', b.workerId ?? ''));
    if (this.gate.update(workers, this.options.clock.now())) this.signalPending = true;
    this.signalWhenRoundEnds();
  }

  /**
   * Signals a pending change once the polls of the round in flight have ended, or ROUND_SETTLE_MS after it was
   * found, whichever comes first: the round's changes go in one snapshot (the heartbeat agent sends at most one per
   * interval), and a slow engine holds the others back by no more than the settle time.
   */
  private signalWhenRoundEnds(): void {
    if (!this.signalPending) return;
    if (this.inFlight > 0 && this.running) {
      this.settleTimer ??= this.options.timers.setTimeout(() => {
        this.settleTimer = undefined;
        this.signal();
      }, Math.min(ROUND_SETTLE_MS, this.options.pollIntervalMs / 4));
      return;
    }
    this.options.timers.clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    this.signal();
  }

  private signal(): void {
    if (!this.signalPending) return;
    this.signalPending = false;
    for (const listener of [...this.listeners]) listener();
  }

  /** The payload's devices from the last GPU stats (devicesOf), read once per GPU read; a change is signalled. */
  private updateDevices(): void {
    const devices: DeviceInit[] = (this.gpus === undefined ? [] : devicesOf(this.gpus)).map((d) => ({
      deviceId: d.deviceId,
      backend: BACKEND_OF[d.backend],
      name: cut(d.name, MAX_DEVICE_NAME_LENGTH),
      vramTotalBytes: BigInt(d.vramTotalBytes),
    }));
    const key = JSON.stringify(devices, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    if (key === this.devicesKey) return;
    this.devicesKey = key;
    this.devices = devices;
    this.signalPending = true;
  }
}

/** A failed poll's message for status_message, and whether it means the engine is unreachable. */
function describeFailure(error: unknown, signal: AbortSignal, timeoutMs: number): { message: string; unreachable: boolean } {
  if (signal.aborted) return { message: `no answer within the poll timeout (${timeoutMs} ms)`, unreachable: true };
  if (error instanceof EngineError) return { message: error.message, unreachable: error.reason === 'unreachable' };
  return { message: `poll failed: ${error instanceof Error ? error.message : String(error)}`, unreachable: false };
}
