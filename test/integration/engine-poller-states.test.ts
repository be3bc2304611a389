// The agent's poller over real HTTP against the fake engines: the state a hive reports for an engine as it loads,
// serves, fills up, fails, hangs, answers garbage and comes back (the contract's state and health rules end to end
// on the agent's side, without a queen).
import pino from 'pino';
import { engineAccess } from '../../src/agent/engines/engine-access';
import { EnginePoller } from '../../src/agent/engines/engine-poller';
import type { EngineSpec } from '../../src/agent/engines/engine-spec';
import type { WorkerInit } from '../../src/agent/hive-snapshot';
import { systemTimers } from '../../src/agent/timers';
import { systemClock } from '../../src/common/clock';
import { HealthStatus, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { eventually } from '../helpers/client';
import { FakeEngine } from '../helpers/fake-engines';

const POLL_INTERVAL_MS = 100;
const POLL_TIMEOUT_MS = 400;

describe('EnginePoller against fake engines', () => {
  const engines: FakeEngine[] = [];
  let poller: EnginePoller | undefined;
  let access: ReturnType<typeof engineAccess> | undefined;

  afterEach(async () => {
    poller?.stop();
    access?.close();
    poller = undefined;
    for (const e of engines.splice(0)) await e.stop();
  });

  async function start(kind: FakeEngine['kind'], spec: Omit<EngineSpec, 'url'> = {}, options: Parameters<typeof FakeEngine.start>[1] = {}) {
    const engine = await FakeEngine.start(kind, options);
    engines.push(engine);
    access = engineAccess({ pollTimeoutMs: POLL_TIMEOUT_MS });
    poller = new EnginePoller({
      hiveId: 'h',
      clock: systemClock,
      timers: systemTimers,
      logger: pino({ level: 'silent' }),
      access,
      pollIntervalMs: POLL_INTERVAL_MS,
      pollTimeoutMs: POLL_TIMEOUT_MS,
    });
    poller.setEngines([{ url: engine.url, ...spec }]);
    poller.start();
    return engine;
  }

  /** Waits until the hive reports `check` of its workers; fails naming what it reported last. */
  async function until(check: (workers: readonly WorkerInit[]) => boolean, what: string): Promise<readonly WorkerInit[]> {
    let last: readonly WorkerInit[] = [];
    const ok = await eventually(async () => {
      last = poller?.snapshot().workers ?? [];
      return check(last);
    }, 5_000);
    if (!ok) throw new Error(`${what}: the hive reports ${JSON.stringify(last.map((w) => [w.workerId, w.state, w.statusMessage, w.requestsRunning]))}`);
    return last;
  }
  const only = (state: WorkerStatus, extra: (w: WorkerInit) => boolean = () => true) => (workers: readonly WorkerInit[]) =>
    workers.length === 1 && workers[0]?.state === state && extra(workers[0]);

  test('llama.cpp: loading, then idle, busy once every slot runs, idle again', async () => {
    const llama = await start('llama.cpp', {}, { maxConcurrency: 2 });
    llama.setLoading(true);
    const [loading] = await until(only(WorkerStatus.LOADING), 'loading');
    expect([loading?.engine, loading?.statusMessage]).toEqual(['llama.cpp', 'Loading model']);
    llama.setLoading(false);
    await until(only(WorkerStatus.IDLE, (w) => w.health === HealthStatus.HEALTHY && w.maxConcurrency === 2), 'idle after loading');
    llama.set({ running: 2, waiting: 3 });
    const [busy] = await until(only(WorkerStatus.BUSY), 'busy');
    expect([busy?.requestsRunning, busy?.requestsWaiting]).toEqual([2, 3]);
    llama.set({ running: 1, waiting: 0 });
    await until(only(WorkerStatus.IDLE, (w) => w.requestsRunning === 1), 'idle again');
  });

  test('killed: ERROR with the reason; restarted: back, detected afresh', async () => {
    const vllm = await start('vllm');
    await until(only(WorkerStatus.IDLE, (w) => w.engine === 'vllm'), 'serving');
    await vllm.stop();
    const [down] = await until(only(WorkerStatus.ERROR), 'killed');
    expect([down?.health, down?.statusMessage, down?.modelId]).toEqual([HealthStatus.DEGRADED, 'connection refused', vllm.model]);
    await vllm.restart();
    await until(only(WorkerStatus.IDLE, (w) => w.health === HealthStatus.HEALTHY && w.statusMessage === undefined), 'restarted');
  });

  test('an engine that stops answering in the middle of a poll is ERROR after the poll timeout, and comes back', async () => {
    const vllm = await start('vllm');
    await until(only(WorkerStatus.IDLE), 'serving');
    // Its model list stalls half-way: the engine is as good as down.
    vllm.hang('mid-body', '/v1/models');
    const [hung] = await until(only(WorkerStatus.ERROR), 'hung');
    expect(hung?.statusMessage).toBe(`timed out after ${POLL_TIMEOUT_MS} ms`);
    vllm.heal();
    await until(only(WorkerStatus.IDLE, (w) => w.statusMessage === undefined), 'answering again');
    // Only its metrics stall: it still serves, without load figures, and says why.
    vllm.hang('mid-body', '/metrics');
    const [noMetrics] = await until(only(WorkerStatus.IDLE, (w) => w.statusMessage !== undefined), 'metrics hung');
    expect([noMetrics?.statusMessage, noMetrics?.requestsRunning]).toEqual([`GET /metrics: timed out after ${POLL_TIMEOUT_MS} ms`, undefined]);
  });

  test('garbage: HTML where JSON belongs and a body past the cap are ERROR saying so; nothing crashes', async () => {
    const vllm = await start('vllm', { kind: 'vllm' });
    await until(only(WorkerStatus.IDLE), 'serving');
    vllm.garbage('html', '/v1/models');
    const [html] = await until(only(WorkerStatus.ERROR), 'html');
    expect(html?.statusMessage).toMatch(/^GET \/v1\/models: /);
    vllm.heal();
    vllm.garbage('huge', '/v1/models');
    const [huge] = await until(only(WorkerStatus.ERROR, (w) => (w.statusMessage ?? '').includes('over')), 'huge');
    expect(huge?.statusMessage).toBe('GET /v1/models: answer over 1048576 bytes');
    vllm.heal();
    await until(only(WorkerStatus.IDLE), 'healed');
  });

  test('TGI: LOADING on 503 until its first success, DEGRADED on a 503 after it', async () => {
    const tgi = await start('tgi', { kind: 'tgi' });
    tgi.setHealthStatus(503);
    await until(only(WorkerStatus.LOADING), 'starting');
    tgi.heal();
    await until(only(WorkerStatus.IDLE, (w) => w.health === HealthStatus.HEALTHY), 'ready');
    tgi.setHealthStatus(503);
    await until(only(WorkerStatus.IDLE, (w) => w.health === HealthStatus.DEGRADED), 'degraded');
  });

  test('Ollama: one worker per loaded model, as models come and go', async () => {
    const ollama = await start('ollama', { id: 'ol' });
    await until((w) => w.length === 1 && w[0]?.workerId === 'ol' && w[0]?.statusMessage === 'no model loaded', 'nothing loaded');
    ollama.load('llama3.2:3b', { sizeVram: 2_000_000_000 });
    ollama.load('qwen2.5:7b', { sizeVram: 5_000_000_000 });
    const both = await until((w) => w.length === 2, 'two models');
    expect(both.map((w) => [w.workerId, w.modelId, w.vramBytes])).toEqual([
      ['ol-llama3.2-3b', 'llama3.2:3b', 2_000_000_000n],
      ['ol-qwen2.5-7b', 'qwen2.5:7b', 5_000_000_000n],
    ]);
    ollama.unload('llama3.2:3b');
    await until((w) => w.length === 1 && w[0]?.workerId === 'ol-qwen2.5-7b', 'one model left');
  });
});
