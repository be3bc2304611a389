import pino from 'pino';
import { EngineError, type EngineAdapter, type EngineHttp, type EngineKind, type EngineReading } from '../../src/agent/engines/engine';
import { EnginePoller, type EngineAccess, type GpuProbe } from '../../src/agent/engines/engine-poller';
import type { EngineGpuUsage, GpuSnapshot } from '../../src/agent/engines/gpu';
import { ManualTimers } from '../../src/agent/manual-timers';
import { ManualClock } from '../../src/common/manual-clock';
import { Backend, WorkerStatus } from '../../gen/hive/v1/registry_pb';

/** What the fake engine at a URL does on its next polls. */
type Behaviour =
  | { readonly kind: EngineKind; readonly reading: Omit<EngineReading, 'kind'>; readonly delayMs?: number }
  | { readonly fail: EngineError }
  | { readonly hang: true };

/** Engines as a table the test edits; detection and polls read it. */
function fakeAccess(timers: ManualTimers) {
  const engines = new Map<string, Behaviour>();
  const polls: string[] = [];
  const detections: string[] = [];
  const answer = async (url: string, signal: AbortSignal): Promise<Behaviour> => {
    const behaviour = engines.get(url);
    if (behaviour === undefined) throw new EngineError('unreachable', 'connection refused');
    if ('hang' in behaviour) {
      await new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(new EngineError('unreachable', 'aborted'))));
    }
    if ('fail' in behaviour) throw behaviour.fail;
    const delayMs = 'delayMs' in behaviour ? behaviour.delayMs : undefined;
    if (delayMs !== undefined) await new Promise((resolve) => timers.setTimeout(() => resolve(undefined), delayMs));
    return behaviour;
  };
  const access: EngineAccess = {
    http: (url, signal): EngineHttp & { signal: AbortSignal } => ({ baseUrl: url, signal, get: () => Promise.reject(new Error('unused')) }),
    detect: async (http) => {
      detections.push(http.baseUrl);
      const b = await answer(http.baseUrl, (http as EngineHttp & { signal: AbortSignal }).signal);
      return 'kind' in b ? b.kind : undefined;
    },
    adapterFor: (kind): EngineAdapter => ({
      kind,
      detect: () => Promise.resolve(true),
      poll: async (http) => {
        polls.push(http.baseUrl);
        const b = await answer(http.baseUrl, (http as EngineHttp & { signal: AbortSignal }).signal);
        if (!('kind' in b)) throw new Error('unreachable');
        return { kind: b.kind, ...b.reading };
      },
    }),
  };
  return { access, engines, polls, detections };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

function setup(options: { gpu?: GpuProbe } = {}) {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  const fake = fakeAccess(timers);
  const poller = new EnginePoller({
    hiveId: 'gpu-1',
    clock,
    timers,
    logger: pino({ level: 'silent' }),
    access: fake.access,
    pollIntervalMs: 1_000,
    pollTimeoutMs: 2_000,
    isLocal: (url) => url.includes('127.0.0.1'),
    ...(options.gpu === undefined ? {} : { gpu: options.gpu }),
  });
  let changes = 0;
  const signalledAt: number[] = [];
  poller.onChange(() => {
    changes += 1;
    signalledAt.push(clock.now());
  });
  /** Advances the clock step by step, letting polls settle after each timer. */
  const advance = async (ms: number, stepMs = 100): Promise<void> => {
    for (let t = 0; t < ms; t += stepMs) {
      timers.advance(Math.min(stepMs, ms - t));
      await flush();
    }
  };
  const states = () => poller.snapshot().workers.map((w) => [w.workerId, w.state, w.requestsRunning, w.statusMessage]);
  return { poller, fake, timers, clock, advance, states, changes: () => changes, signalledAt };
}

const VLLM = 'http://127.0.0.1:8000';
const serving = (running: number, delayMs?: number): Behaviour => ({
  kind: 'vllm',
  ...(delayMs === undefined ? {} : { delayMs }),
  reading: { version: '0.11.0', health: { status: 'ok' }, workers: [{ modelId: 'm', requestsRunning: running, requestsWaiting: 0 }] },
});

describe('EnginePoller', () => {
  it('detects, polls every interval, and signals only when what is reported changes', async () => {
    const t = setup();
    t.fake.engines.set(VLLM, serving(1));
    t.poller.setEngines([{ url: VLLM }]);
    t.poller.start();
    await flush();
    expect(t.states()).toEqual([['gpu-1-8000', WorkerStatus.IDLE, 1, undefined]]);
    expect(t.changes()).toBe(1);
    await t.advance(3_000);
    expect(t.fake.polls).toHaveLength(4);
    expect(t.fake.detections).toHaveLength(1);
    expect(t.changes()).toBe(1);
    t.fake.engines.set(VLLM, serving(256));
    await t.advance(1_000);
    expect(t.states()).toEqual([['gpu-1-8000', WorkerStatus.BUSY, 256, undefined]]);
    expect(t.changes()).toBe(2);
    t.poller.stop();
  });

  it('killed: ERROR with the reason, detected afresh when back; a SPEC kind= is kept', async () => {
    const t = setup();
    t.fake.engines.set(VLLM, serving(0));
    t.poller.setEngines([{ url: VLLM }]);
    t.poller.start();
    await flush();
    t.fake.engines.delete(VLLM);
    await t.advance(1_000);
    expect(t.states()).toEqual([['gpu-1-8000', WorkerStatus.ERROR, undefined, 'connection refused']]);
    expect(t.poller.snapshot().workers[0]?.modelId).toBe('m');
    t.fake.engines.set(VLLM, serving(2));
    await t.advance(1_000);
    expect(t.states()).toEqual([['gpu-1-8000', WorkerStatus.IDLE, 2, undefined]]);
    expect(t.fake.detections.length).toBeGreaterThanOrEqual(2);
    t.poller.stop();
  });

  it('an engine that hangs is ERROR after the poll timeout, and delays no other engine', async () => {
    const t = setup();
    const other = 'http://127.0.0.1:8001';
    t.fake.engines.set(VLLM, serving(0));
    t.fake.engines.set(other, serving(0));
    t.poller.setEngines([{ url: VLLM }, { url: other }]);
    t.poller.start();
    await flush();
    t.fake.engines.set(VLLM, { hang: true });
    await t.advance(1_000);
    t.fake.engines.set(other, serving(3));
    await t.advance(1_000);
    expect(t.states()).toEqual([
      ['gpu-1-8000', WorkerStatus.IDLE, 0, undefined],
      ['gpu-1-8001', WorkerStatus.IDLE, 3, undefined],
    ]);
    await t.advance(1_200); // the poll that hangs began at 1 s: cut at 1 s + 2 s + the poller's 250 ms slack
    expect(t.states()[0]?.[1]).toBe(WorkerStatus.IDLE);
    await t.advance(100);
    expect(t.states()[0]).toEqual(['gpu-1-8000', WorkerStatus.ERROR, undefined, 'no answer within the poll timeout (2000 ms)']);
    t.poller.stop();
  });

  it('an answer of no known engine is ERROR saying so, polled again', async () => {
    const t = setup();
    t.fake.engines.set(VLLM, { fail: new EngineError('bad-answer', 'GET /v1/models: not JSON (text/html)') });
    t.poller.setEngines([{ url: VLLM, kind: 'vllm' }]);
    t.poller.start();
    await flush();
    expect(t.states()).toEqual([['gpu-1-8000', WorkerStatus.ERROR, undefined, 'GET /v1/models: not JSON (text/html)']]);
    await t.advance(1_000);
    expect(t.fake.polls).toHaveLength(2);
    t.poller.stop();
  });

  it('setEngines keeps unchanged engines, polls new ones at once, drops removed ones', async () => {
    const t = setup();
    const other = 'http://127.0.0.1:9000';
    t.fake.engines.set(VLLM, serving(0));
    t.fake.engines.set(other, serving(1));
    t.poller.setEngines([{ url: VLLM }]);
    t.poller.start();
    await flush();
    t.poller.setEngines([{ url: VLLM }, { url: other }]);
    await flush();
    expect(t.states().map((s) => s[0])).toEqual(['gpu-1-8000', 'gpu-1-9000']);
    expect(t.fake.detections).toEqual([VLLM, other]);
    t.poller.setEngines([{ url: other }]);
    expect(t.states().map((s) => s[0])).toEqual(['gpu-1-9000']);
    const before = t.fake.polls.filter((u) => u === VLLM).length;
    await t.advance(3_000);
    expect(t.fake.polls.filter((u) => u === VLLM).length).toBe(before);
    t.poller.stop();
  });

  it('reports advertised URLs, GPU figures from the mapping of local ports, and the devices', async () => {
    const gpus: GpuSnapshot = {
      devices: [
        { index: 0, uuid: 'GPU-a', name: 'NVIDIA H100 80GB HBM3', backend: 'cuda', vramTotalBytes: 85_899_345_920, utilizationPercent: 91 },
        { index: 1, uuid: 'GPU-b', name: 'NVIDIA H100 80GB HBM3', backend: 'cuda' },
      ],
      processes: [],
    };
    const asked: number[][] = [];
    const gpu: GpuProbe = {
      sample: (ports) => {
        asked.push([...ports]);
        const usage = new Map<number, EngineGpuUsage>([[8000, { deviceId: 0, vramBytes: 70e9, gpuPercent: 91, backend: 'cuda' }]]);
        return Promise.resolve({ gpus, usage });
      },
    };
    const t = setup({ gpu });
    t.fake.engines.set(VLLM, serving(0));
    t.fake.engines.set('http://10.9.9.9:8000', serving(0));
    t.poller.setEngines([{ url: VLLM }, { url: 'http://10.9.9.9:8000', id: 'remote' }]);
    t.poller.setAdvertiseHost('10.0.0.7');
    t.poller.start();
    await flush();
    const snapshot = t.poller.snapshot();
    expect(asked[0]).toEqual([8000]);
    expect(snapshot.devices).toEqual([{ deviceId: 0, backend: Backend.CUDA, name: 'NVIDIA H100 80GB HBM3', vramTotalBytes: 85_899_345_920n }]);
    expect(snapshot.workers.map((w) => [w.workerId, w.url, w.deviceId, w.vramBytes, w.gpuPercent, w.backend])).toEqual([
      ['gpu-1-8000', 'http://10.0.0.7:8000', 0, 70_000_000_000n, 91, Backend.CUDA],
      ['remote', 'http://10.9.9.9:8000', undefined, undefined, undefined, Backend.UNSPECIFIED],
    ]);
    t.poller.stop();
  });

  it('GPU stats that cannot be read leave the GPU figures out until they can', async () => {
    let fail = true;
    const gpu: GpuProbe = {
      sample: () =>
        fail
          ? Promise.reject(new Error('nvidia-smi: not found on PATH'))
          : Promise.resolve({ gpus: { devices: [], processes: [] }, usage: new Map([[8000, { deviceId: 2, backend: 'cuda' as const }]]) }),
    };
    const t = setup({ gpu });
    t.fake.engines.set(VLLM, serving(0));
    t.poller.setEngines([{ url: VLLM }]);
    t.poller.start();
    await flush();
    expect(t.poller.snapshot().workers[0]?.deviceId).toBeUndefined();
    fail = false;
    await t.advance(1_000);
    expect(t.poller.snapshot().workers[0]?.deviceId).toBe(2);
    t.poller.stop();
  });

  it("signals a round's changes once, when its polls have ended, on a schedule that does not drift", async () => {
    const t = setup();
    const urls = ['http://127.0.0.1:8001', 'http://127.0.0.1:8002', 'http://127.0.0.1:8003'];
    urls.forEach((url, i) => t.fake.engines.set(url, serving(0, 10 * (i + 1))));
    t.poller.setEngines(urls.map((url) => ({ url, kind: 'vllm' as const })));
    t.poller.start(); // at 1 s on the manual clock
    await flush();
    await t.advance(100, 5);
    expect(t.signalledAt).toEqual([1_030]); // the first round: one signal when the slowest (30 ms) answered
    urls.forEach((url, i) => t.fake.engines.set(url, serving(i + 1, 10 * (i + 1))));
    await t.advance(5_000, 5);
    // One signal a round, each when its last poll answered: at 1 s + 30 ms on the grid, round after round.
    expect(t.signalledAt).toEqual([1_030, 2_030]);
    urls.forEach((url, i) => t.fake.engines.set(url, serving(i + 7, 10 * (i + 1))));
    await t.advance(5_000, 5);
    expect(t.signalledAt).toEqual([1_030, 2_030, 7_030]);
    t.poller.stop();
  });

  it('a slow engine holds the round back by at most the settle time, and keeps to the grid after an overrun', async () => {
    const t = setup();
    const slow = 'http://127.0.0.1:8001';
    t.fake.engines.set(VLLM, serving(0));
    t.fake.engines.set(slow, serving(0, 1_200));
    t.poller.setEngines([{ url: VLLM, kind: 'vllm' }, { url: slow, kind: 'vllm' }]);
    t.poller.start(); // at 1 s on the manual clock
    await flush();
    await t.advance(1_200, 5);
    // The quick engine's answer is signalled 100 ms after it, the slow one's when it came (1.2 s later), alone.
    expect(t.signalledAt).toEqual([1_100, 2_200]);
    t.fake.polls.length = 0;
    await t.advance(3_000, 5);
    // The quick one polls at every grid point; the slow one, overrunning, at every other one.
    expect(t.fake.polls.filter((u) => u === VLLM).length).toBe(3);
    expect(t.fake.polls.filter((u) => u === slow).length).toBe(2);
    t.poller.stop();
  });
});
