// The simulated hive `hive-registry agent --simulate` runs, over real HTTP on 127.0.0.1:0: its workers report the
// engine fields and the requests their server runs, and tell when those change. Waits are on the change signal.
import pino from 'pino';
import { startSimulatedHive, type SimulatedHive, type SimulateSource } from '../../src/cli/agent-command';
import { WorkerStatus, type WorkerState } from '../../gen/hive/v1/registry_pb';

const QWEN = 'Qwen/Qwen2.5-7B-Instruct';
const SOURCE: SimulateSource = {
  kind: 'simulate',
  count: 2,
  models: [QWEN, 'org/other'],
  inferenceHost: '127.0.0.1',
  inferencePort: 0,
  maxConcurrency: 1,
  firstByteDelayMs: 0,
  chunkDelayMs: 1_000,
  steady: true,
};

let hive: SimulatedHive | undefined;

afterEach(async () => {
  await hive?.close();
  hive = undefined;
});

async function start(): Promise<SimulatedHive> {
  hive = await startSimulatedHive('sh', SOURCE, pino({ level: 'silent' }));
  if (hive === undefined) throw new Error('the simulated hive did not start');
  return hive;
}

async function workers(h: SimulatedHive): Promise<readonly WorkerState[]> {
  return (await h.provider()).workers as readonly WorkerState[];
}

/** Resolves at the next change the hive tells of. */
function nextChange(h: SimulatedHive): Promise<void> {
  return new Promise((resolve) => {
    const stop = h.onChange(() => {
      stop();
      resolve();
    });
  });
}

test('workers report engine "simulated", the package version and their model\'s context length, as /v1/models does', async () => {
  const h = await start();
  const { version } = require('../../package.json') as { version: string };
  const [qwen, other] = await workers(h);
  expect([qwen, other].map((w) => [w?.engine, w?.engineVersion, w?.contextLength, w?.requestsRunning, w?.requestsWaiting, w?.state])).toEqual([
    ['simulated', version, 32_768, 0, 0, WorkerStatus.IDLE],
    ['simulated', version, 131_072, 0, 0, WorkerStatus.IDLE],
  ]);
  const models = (await (await fetch(`${qwen?.url}/v1/models`)).json()) as { data: { id: string; max_model_len: number }[] };
  expect(models.data.map((m) => [m.id, m.max_model_len])).toEqual([[QWEN, 32_768]]);
});

test('a running request makes its worker BUSY (its one slot runs); its end makes it IDLE; each change is told', async () => {
  const h = await start();
  const [qwen] = await workers(h);
  const controller = new AbortController();
  const started = nextChange(h);
  const response = await fetch(`${qwen?.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: QWEN, messages: [{ role: 'user', content: 'go on' }], stream: true, max_tokens: 1_000 }),
    signal: controller.signal,
  });
  await started;
  expect(response.status).toBe(200);
  const busy = (await workers(h))[0];
  expect([busy?.state, busy?.requestsRunning, busy?.requestsWaiting, busy?.kvCacheUsage]).toEqual([WorkerStatus.BUSY, 1, 0, 1]);
  expect((await workers(h))[1]?.state).toBe(WorkerStatus.IDLE);
  const ended = nextChange(h);
  controller.abort();
  await ended;
  const idle = (await workers(h))[0];
  expect([idle?.state, idle?.requestsRunning, idle?.requestsWaiting, idle?.kvCacheUsage]).toEqual([WorkerStatus.IDLE, 0, 0, 0]);
});

test('an unsubscribed listener is not called', async () => {
  const h = await start();
  const [qwen] = await workers(h);
  let calls = 0;
  const stop = h.onChange(() => calls++);
  stop();
  const told = nextChange(h);
  const answer = await fetch(`${qwen?.url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: QWEN, input: 'hello' }),
  });
  expect(answer.status).toBe(200);
  await told;
  expect(calls).toBe(0);
});
