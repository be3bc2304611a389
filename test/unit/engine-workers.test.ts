import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { EngineReading } from '../../src/agent/engines/engine';
import { engineWorkers, workerIdOf, type EngineView } from '../../src/agent/engines/engine-workers';
import { Backend, HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb';

const AT = Date.UTC(2026, 11, 7, 12);

function view(overrides: Partial<EngineView> = {}): EngineView {
  return {
    spec: { url: 'http://127.0.0.1:8000' },
    hiveId: 'gpu-1',
    url: 'http://10.0.0.7:8000',
    servedSinceReachable: true,
    readAtMs: AT,
    ...overrides,
  };
}

function vllm(overrides: Partial<EngineReading> = {}): EngineReading {
  return {
    kind: 'vllm',
    version: '0.11.0',
    health: { status: 'ok' },
    workers: [{ modelId: 'meta-llama/Llama-3.1-8B-Instruct', requestsRunning: 3, requestsWaiting: 1, kvCacheUsage: 0.25, contextLength: 131072 }],
    ...overrides,
  };
}

describe('engineWorkers', () => {
  it('reports a serving engine with every engine field', () => {
    expect(engineWorkers(view({ kind: 'vllm', reading: vllm() }))).toEqual([
      {
        workerId: 'gpu-1-8000',
        state: WorkerStatus.IDLE,
        url: 'http://10.0.0.7:8000',
        health: HealthStatus.HEALTHY,
        lastHeartbeat: timestampFromMs(AT),
        maxConcurrency: 256,
        backend: Backend.UNSPECIFIED,
        modelId: 'meta-llama/Llama-3.1-8B-Instruct',
        engine: 'vllm',
        engineVersion: '0.11.0',
        contextLength: 131072,
        requestsRunning: 3,
        requestsWaiting: 1,
        kvCacheUsage: 0.25,
      },
    ]);
  });

  it('is BUSY once running reaches max_concurrency (the SPEC over the engine, the engine over the default)', () => {
    const busy = (maxFromSpec: number | undefined, maxFromEngine: number | undefined, running: number) =>
      engineWorkers(
        view({
          spec: { url: 'http://127.0.0.1:8080', ...(maxFromSpec === undefined ? {} : { maxConcurrency: maxFromSpec }) },
          kind: 'llama.cpp',
          reading: { kind: 'llama.cpp', health: { status: 'ok' }, workers: [{ modelId: 'm', requestsRunning: running, ...(maxFromEngine === undefined ? {} : { maxConcurrency: maxFromEngine }) }] },
        }),
      ).map((w) => [w.state, w.maxConcurrency]);
    expect(busy(undefined, 4, 3)).toEqual([[WorkerStatus.IDLE, 4]]);
    expect(busy(undefined, 4, 4)).toEqual([[WorkerStatus.BUSY, 4]]);
    expect(busy(8, 4, 4)).toEqual([[WorkerStatus.IDLE, 8]]);
    expect(busy(undefined, undefined, 1)).toEqual([[WorkerStatus.BUSY, 1]]);
  });

  it('keeps an unreachable engine listed in ERROR, DEGRADED, with the reason and without load figures', () => {
    const [w] = engineWorkers(view({ kind: 'vllm', reading: vllm(), failure: 'connection refused' }));
    expect(w).toMatchObject({ workerId: 'gpu-1-8000', state: WorkerStatus.ERROR, health: HealthStatus.DEGRADED, statusMessage: 'connection refused', modelId: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' });
    expect([w?.requestsRunning, w?.requestsWaiting, w?.kvCacheUsage]).toEqual([undefined, undefined, undefined]);
    expect(engineWorkers(view({ failure: 'not an engine the agent recognises' }))).toEqual([
      expect.objectContaining({ workerId: 'gpu-1-8000', state: WorkerStatus.ERROR, statusMessage: 'not an engine the agent recognises' }),
    ]);
  });

  it('reports nothing before the first poll has ended', () => {
    expect(engineWorkers(view())).toEqual([]);
  });

  it('LOADING: llama.cpp loading, and a SGLang/TGI 503 before its first success since it was unreachable', () => {
    const loading = engineWorkers(view({ kind: 'llama.cpp', reading: { kind: 'llama.cpp', health: { status: 'loading', message: 'Loading model' }, workers: [] } }));
    expect(loading).toEqual([expect.objectContaining({ workerId: 'gpu-1-8000', state: WorkerStatus.LOADING, statusMessage: 'Loading model' })]);
    const tgi = (served: boolean) =>
      engineWorkers(
        view({
          kind: 'tgi',
          servedSinceReachable: served,
          reading: { kind: 'tgi', health: { status: 'not-ready', message: 'GET /health: 503' }, workers: [{ modelId: 'm', requestsRunning: 0 }] },
        }),
      ).map((w) => [w.state, w.health, w.statusMessage]);
    expect(tgi(false)).toEqual([[WorkerStatus.LOADING, HealthStatus.UNSPECIFIED, 'GET /health: 503']]);
    expect(tgi(true)).toEqual([[WorkerStatus.IDLE, HealthStatus.DEGRADED, 'GET /health: 503']]);
  });

  it('DEGRADED with its state by the load rule when health fails while the model list answers', () => {
    const [w] = engineWorkers(view({ kind: 'vllm', reading: vllm({ health: { status: 'failing', message: 'GET /health: 500' } }) }));
    expect([w?.state, w?.health, w?.statusMessage]).toEqual([WorkerStatus.IDLE, HealthStatus.DEGRADED, 'GET /health: 500']);
  });

  it('Ollama: one worker per loaded model, ids with the model name made safe; none loaded is one idle worker', () => {
    const reading: EngineReading = {
      kind: 'ollama',
      version: '0.12.3',
      health: { status: 'ok' },
      workers: [
        { key: 'llama3.2:3b', modelId: 'llama3.2:3b', contextLength: 4096, vramBytes: 3e9 },
        { key: 'qwen2.5/coder:7b', modelId: 'qwen2.5/coder:7b', vramBytes: 5e9 },
      ],
    };
    const spec = { url: 'http://127.0.0.1:11434' };
    const workers = engineWorkers(view({ spec, kind: 'ollama', reading, gpu: { deviceId: 0, vramBytes: 8e9, gpuPercent: 40, backend: 'cuda' } }));
    expect(workers.map((w) => [w.workerId, w.modelId, w.maxConcurrency, w.vramBytes, w.gpuPercent, w.deviceId, w.backend])).toEqual([
      ['gpu-1-11434-llama3.2-3b', 'llama3.2:3b', 1, 3_000_000_000n, 40, 0, Backend.CUDA],
      ['gpu-1-11434-qwen2.5-coder-7b', 'qwen2.5/coder:7b', 1, 5_000_000_000n, 40, 0, Backend.CUDA],
    ]);
    expect(engineWorkers(view({ spec, kind: 'ollama', reading: { ...reading, workers: [] } }))).toEqual([
      expect.objectContaining({ workerId: 'gpu-1-11434', state: WorkerStatus.IDLE, statusMessage: 'no model loaded' }),
    ]);
    expect(engineWorkers(view({ spec, kind: 'ollama', reading, failure: 'connection refused' })).map((w) => [w.workerId, w.state])).toEqual([
      ['gpu-1-11434-llama3.2-3b', WorkerStatus.ERROR],
      ['gpu-1-11434-qwen2.5-coder-7b', WorkerStatus.ERROR],
    ]);
    expect(workerIdOf({ spec, hiveId: 'h' }, 'x'.repeat(200))).toHaveLength(128);
  });

  it('GPU fields: the mapping, device= and backend= over it, size_vram only without a mapping for one model', () => {
    const gpu = { deviceId: 1, vramBytes: 20e9, gpuPercent: 70, backend: 'cuda' as const };
    const pick = (v: Partial<EngineView>) => {
      const [w] = engineWorkers(view({ kind: 'vllm', reading: vllm(), ...v }));
      return [w?.deviceId, w?.vramBytes, w?.gpuPercent, w?.backend];
    };
    expect(pick({ gpu })).toEqual([1, 20_000_000_000n, 70, Backend.CUDA]);
    expect(pick({ gpu, spec: { url: 'http://127.0.0.1:8000', device: 3 }, deviceGpu: { gpuPercent: 12, backend: 'cuda' } })).toEqual([3, 20_000_000_000n, 12, Backend.CUDA]);
    expect(pick({ spec: { url: 'http://127.0.0.1:8000', device: 3 } })).toEqual([3, undefined, undefined, Backend.UNSPECIFIED]);
    expect(pick({ gpu, spec: { url: 'http://127.0.0.1:8000', backend: 'rocm' } })).toEqual([1, 20_000_000_000n, 70, Backend.ROCM]);
    expect(pick({ spec: { url: 'http://127.0.0.1:8000', backend: 'cpu' } })).toEqual([undefined, undefined, undefined, Backend.CPU]);
    const ollama = (g?: typeof gpu) =>
      engineWorkers(view({ kind: 'ollama', ...(g ? { gpu: g } : {}), reading: { kind: 'ollama', health: { status: 'ok' }, workers: [{ key: 'm', modelId: 'm', vramBytes: 5e9 }] } }))[0]?.vramBytes;
    expect(ollama()).toBe(5_000_000_000n);
    expect(ollama(gpu)).toBe(20_000_000_000n);
  });

  it('cuts what the queen would refuse: long versions and messages, counts over a million, a model id with spaces', () => {
    const [w] = engineWorkers(
      view({
        kind: 'vllm',
        reading: vllm({
          version: 'v'.repeat(100),
          health: { status: 'failing', message: 'x'.repeat(400) },
          workers: [{ modelId: 'my model', requestsRunning: 5_000_000, requestsWaiting: 2_000_000 }],
        }),
      }),
    );
    expect([w?.engineVersion?.length, w?.requestsRunning, w?.requestsWaiting, w?.modelId]).toEqual([64, 1_000_000, 1_000_000, undefined]);
    expect(w?.statusMessage).toMatch(/^the engine's model id "my model" is not a valid model id/);
  });
});
