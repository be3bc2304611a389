// `hive-registry agent --engine / --engines-file` as a real process against a real queen, reading fake engines
// (test/helpers/fake-engines.ts) on loopback: what the queen sees of each engine, state changes as they happen,
// the engines file followed, bad SPECs refused, advertised URLs, GPU figures through a fake nvidia-smi, and a chat
// completion routed by the queen's gateway to a (fake) vLLM.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startAgent, startServer, stopServer, type AgentProcess, type ServerProcess } from '../helpers/cli-process';
import { eventually, QueenClient } from '../helpers/client';
import { FakeEngine } from '../helpers/fake-engines';
import { FakeNvidiaSmi } from '../helpers/fake-nvidia-smi';
import { run } from '../helpers/run';
import { Backend, HealthStatus, WorkerStatus, type WorkerState } from '../../gen/hive/v1/registry_pb';

/** An agent polling every 200 ms, without GPU stats unless `args` asks for them. */
function startEngineAgent(queen: string, hiveId: string, args: string[], env: NodeJS.ProcessEnv = process.env): AgentProcess {
  return startAgent(queen, hiveId, ['--poll-interval', '200ms', '--gpu-stats', 'none', ...args], env);
}

describe('hive-registry agent with engines (real processes)', () => {
  let server: ServerProcess | undefined;
  const agents: AgentProcess[] = [];
  const engines: FakeEngine[] = [];
  const clients: QueenClient[] = [];
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-engines-'));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const a of agents.splice(0)) {
      a.child.kill('SIGKILL');
      await a.exited;
    }
    for (const e of engines.splice(0)) await e.stop();
    if (server !== undefined) await stopServer(server);
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const engine = async (...args: Parameters<typeof FakeEngine.start>): Promise<FakeEngine> => {
    const e = await FakeEngine.start(...args);
    engines.push(e);
    return e;
  };
  const agent = (...args: Parameters<typeof startEngineAgent>): AgentProcess => {
    const a = startEngineAgent(...args);
    agents.push(a);
    return a;
  };
  const client = (address: string): QueenClient => {
    const c = new QueenClient(address);
    clients.push(c);
    return c;
  };
  /** The queen's view of a worker, undefined while it has none. */
  const workerOn = async (queen: QueenClient, workerId: string): Promise<WorkerState | undefined> => {
    const all = await queen.rpc.listAllWorkers({});
    return all.workers.find((e) => e.worker?.workerId === workerId)?.worker;
  };
  const waitFor = async (queen: QueenClient, workerId: string, check: (w: WorkerState) => boolean, what: string): Promise<WorkerState> => {
    let last: WorkerState | undefined;
    const ok = await eventually(async () => {
      last = await workerOn(queen, workerId);
      return last !== undefined && check(last);
    }, 10_000);
    if (!ok) throw new Error(`${what}: the queen shows ${JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    return last as WorkerState;
  };

  test('--engine: vLLM and llama.cpp reported with the engine figures; busy, killed and restarted as they happen', async () => {
    server = await startServer();
    const queen = client(server.address);
    const vllm = await engine('vllm', { model: 'meta-llama/Llama-3.1-8B-Instruct', version: '0.10.1', contextLength: 131072 });
    const llama = await engine('llama.cpp', { model: 'qwen2.5-7b-instruct-q4_k_m', maxConcurrency: 2 });
    vllm.set({ running: 3, waiting: 1, kvCacheUsage: 0.42 });
    const a = agent(server.address, 'gpu-1', ['--engine', vllm.url, '--engine', `url=${llama.url},kind=llama.cpp,id=llama,device=1,backend=cuda`]);

    const v = await waitFor(queen, `gpu-1-${vllm.port}`, (w) => w.requestsRunning === 3, 'vLLM reported');
    expect({
      state: v.state,
      health: v.health,
      url: v.url,
      modelId: v.modelId,
      engine: v.engine,
      engineVersion: v.engineVersion,
      contextLength: v.contextLength,
      requestsRunning: v.requestsRunning,
      requestsWaiting: v.requestsWaiting,
      kvCacheUsage: v.kvCacheUsage?.toFixed(2),
      maxConcurrency: v.maxConcurrency,
    }).toEqual({
      state: WorkerStatus.IDLE,
      health: HealthStatus.HEALTHY,
      url: vllm.url,
      modelId: 'meta-llama/Llama-3.1-8B-Instruct',
      engine: 'vllm',
      engineVersion: '0.10.1',
      contextLength: 131072,
      requestsRunning: 3,
      requestsWaiting: 1,
      kvCacheUsage: '0.42',
      maxConcurrency: 256,
    });
    const l = await waitFor(queen, 'llama', (w) => w.engine === 'llama.cpp', 'llama.cpp reported');
    expect([l.modelId, l.maxConcurrency, l.deviceId, l.backend, l.state]).toEqual(['qwen2.5-7b-instruct-q4_k_m', 2, 1, Backend.CUDA, WorkerStatus.IDLE]);

    llama.set({ running: 2 });
    await waitFor(queen, 'llama', (w) => w.state === WorkerStatus.BUSY && w.requestsRunning === 2, 'llama.cpp busy');
    llama.set({ running: 0 });
    await waitFor(queen, 'llama', (w) => w.state === WorkerStatus.IDLE, 'llama.cpp idle again');

    await vllm.stop();
    const down = await waitFor(queen, `gpu-1-${vllm.port}`, (w) => w.state === WorkerStatus.ERROR, 'vLLM in ERROR');
    expect([down.health, down.statusMessage, down.requestsRunning]).toEqual([HealthStatus.DEGRADED, 'connection refused', undefined]);
    // Never picked in ERROR: the only other idle worker is offered, without the model.
    const fallback = await queen.rpc.findBestWorkerForModel({ modelId: 'meta-llama/Llama-3.1-8B-Instruct' });
    expect([fallback.entry?.worker?.workerId, fallback.modelLoaded]).toEqual(['llama', false]);
    await vllm.restart();
    await waitFor(queen, `gpu-1-${vllm.port}`, (w) => w.state === WorkerStatus.IDLE && w.health === HealthStatus.HEALTHY, 'vLLM back');
    const best = await queen.rpc.findBestWorkerForModel({ modelId: 'meta-llama/Llama-3.1-8B-Instruct' });
    expect([best.entry?.worker?.workerId, best.modelLoaded]).toEqual([`gpu-1-${vllm.port}`, true]);
    expect(a.stderr).toBe('');
  });

  test('--engines-file: engines added by an in-place rewrite and removed by a rename, without a restart', async () => {
    server = await startServer();
    const queen = client(server.address);
    const vllm = await engine('vllm');
    const ollama = await engine('ollama', { models: ['llama3.2:3b'] });
    const file = join(dir, 'engines.json');
    writeFileSync(file, JSON.stringify([{ url: vllm.url, id: 'v' }]));
    agent(server.address, 'gpu-2', ['--engines-file', file]);
    await waitFor(queen, 'v', (w) => w.engine === 'vllm', 'vLLM from the file');

    writeFileSync(file, JSON.stringify([{ url: vllm.url, id: 'v' }, { url: ollama.url, kind: 'ollama', maxConcurrency: 2 }]));
    const o = await waitFor(queen, `gpu-2-${ollama.port}-llama3.2-3b`, (w) => w.engine === 'ollama', 'Ollama added');
    expect([o.modelId, o.maxConcurrency, o.vramBytes, o.contextLength]).toEqual(['llama3.2:3b', 2, 2_147_483_648n, 4096]);
    ollama.load('qwen2.5:7b', { sizeVram: 5_000_000_000 });
    await waitFor(queen, `gpu-2-${ollama.port}-qwen2.5-7b`, (w) => w.modelId === 'qwen2.5:7b', 'an Ollama model loaded');
    ollama.unload('llama3.2:3b');
    expect(await eventually(async () => (await workerOn(queen, `gpu-2-${ollama.port}-llama3.2-3b`)) === undefined, 10_000)).toBe(true);

    const next = join(dir, 'engines.json.new');
    writeFileSync(next, JSON.stringify([{ url: ollama.url, kind: 'ollama' }]));
    renameSync(next, file);
    expect(await eventually(async () => (await workerOn(queen, 'v')) === undefined, 10_000)).toBe(true);
    expect((await workerOn(queen, `gpu-2-${ollama.port}-qwen2.5-7b`))?.state).toBe(WorkerStatus.IDLE);
  });

  test('bad SPECs and a bad engines file exit 2 naming the key', async () => {
    const cases: [string[], RegExp][] = [
      [['--engine', 'url=http://127.0.0.1:8000,colour=blue'], /unknown key "colour"/],
      [['--engine', 'url=http://127.0.0.1:8000,max-concurrency=0'], /max-concurrency: must be a whole number from 1 to 4096/],
      [['--engine', 'kind=vllm'], /url: required/],
      [['--engine', 'http://127.0.0.1:8000', '--simulate', '2'], /give exactly one of --simulate N, --workers-file FILE, or --engine SPEC/],
      [['--simulate', '2', '--poll-interval', '1s'], /--poll-interval goes with --engine or --engines-file/],
      [['--engine', 'http://127.0.0.1:8000', '--gpu-stats', 'cuda'], /--gpu-stats: must be one of auto, nvidia-smi, rocm, none/],
    ];
    for (const [args, message] of cases) {
      const result = await run(process.execPath, [CLI, 'agent', '--hive-id', 'h', ...args]);
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(message)]);
    }
    const file = join(dir, 'engines.json');
    writeFileSync(file, JSON.stringify([{ url: 'http://127.0.0.1:8000', maxConcurrency: 'lots' }]));
    const bad = await run(process.execPath, [CLI, 'agent', '--hive-id', 'h', '--engines-file', file]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('[0].maxConcurrency: must be a whole number from 1 to 4096, got "lots"')]);
  });

  test('--advertise-host: a loopback or wildcard engine URL is reported with the advertised host', async () => {
    server = await startServer();
    const queen = client(server.address);
    const vllm = await engine('vllm');
    agent(server.address, 'gpu-3', ['--engine', `url=http://localhost:${vllm.port},id=named`, '--engine', `url=http://0.0.0.0:${vllm.port}/,id=wild`, '--advertise-host', 'gpu-3.example.internal']);
    const named = await waitFor(queen, 'named', (w) => w.engine === 'vllm', 'the localhost engine');
    const wild = await waitFor(queen, 'wild', (w) => w.engine === 'vllm', 'the wildcard engine (polled on loopback)');
    expect([named.url, wild.url]).toEqual([`http://gpu-3.example.internal:${vllm.port}`, `http://gpu-3.example.internal:${vllm.port}`]);
    // Without the flag: the local address of the connection to the queen (loopback here).
    agent(server.address, 'gpu-4', ['--engine', `url=http://0.0.0.0:${vllm.port},id=wild-default`]);
    expect((await waitFor(queen, 'wild-default', (w) => w.engine === 'vllm', 'default advertise host')).url).toBe(`http://127.0.0.1:${vllm.port}`);
  });

  test('GPU stats from nvidia-smi first on PATH: the devices, and the engine mapped to its GPU through its listening process', async () => {
    server = await startServer();
    const queen = client(server.address);
    const vllm = await engine('vllm');
    const smi = new FakeNvidiaSmi();
    try {
      // This test process listens on the fake engine's port: nvidia-smi says it holds 30 GiB on GPU 1.
      smi.set(
        [
          { index: 0, uuid: 'GPU-aaaa', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81559, usedMiB: 10, utilization: 3 },
          { index: 1, uuid: 'GPU-bbbb', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81559, usedMiB: 30720, utilization: 87 },
        ],
        [{ pid: process.pid, usedMiB: 30720, gpuUuid: 'GPU-bbbb' }],
      );
      const a = agent(server.address, 'gpu-5', ['--engine', vllm.url, '--gpu-stats', 'auto'], smi.env());
      const w = await waitFor(queen, `gpu-5-${vllm.port}`, (x) => x.deviceId !== undefined, 'the GPU mapping');
      expect([w.deviceId, w.vramBytes, w.gpuPercent, w.backend]).toEqual([1, 30720n * 1048576n, 87, Backend.CUDA]);
      const hive = await queen.rpc.getHiveState({ hiveId: 'gpu-5' });
      expect(hive.hive?.devices.map((d) => [d.deviceId, d.name, d.vramTotalBytes])).toEqual([
        [0, 'NVIDIA H100 80GB HBM3', 81559n * 1048576n],
        [1, 'NVIDIA H100 80GB HBM3', 81559n * 1048576n],
      ]);
      expect(smi.calls().length).toBeGreaterThan(0);
    } finally {
      smi.cleanup();
    }
  });

  test("the queen's gateway routes a chat completion to a fake vLLM and the answer comes back", async () => {
    server = await startServer(['--http-listen', '127.0.0.1:0']);
    const queen = client(server.address);
    const vllm = await engine('vllm', { model: 'meta-llama/Llama-3.1-8B-Instruct' });
    agent(server.address, 'gpu-6', ['--engine', vllm.url]);
    await waitFor(queen, `gpu-6-${vllm.port}`, (w) => w.state === WorkerStatus.IDLE, 'vLLM idle');
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'meta-llama/Llama-3.1-8B-Instruct', messages: [{ role: 'user', content: 'Say hi' }] }),
    });
    const body = (await response.json()) as { object?: string; model?: string; choices?: { message?: { content?: string } }[] };
    expect([response.status, response.headers.get('x-hive-worker'), response.headers.get('x-hive-id')]).toEqual([200, `gpu-6-${vllm.port}`, 'gpu-6']);
    expect([body.object, body.model, typeof body.choices?.[0]?.message?.content]).toEqual(['chat.completion', 'meta-llama/Llama-3.1-8B-Instruct', 'string']);
    expect(vllm.chatRequests).toBe(1);
  });
});
