// `hive-registry agent` and `hive-registry demo` as real processes: a simulated hive shows up at once, comes back
// by itself after the queen is killed and restarted, moves to another queen of its list when its queen dies,
// stops when superseded, and a workers file is followed.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startAgent as startAgentProcess, startServer, stopServer, type AgentProcess, type ServerProcess } from '../helpers/cli-process';

const startAgent = (queen: string, hiveId: string, ...source: string[]): AgentProcess => startAgentProcess(queen, hiveId, source);
import { eventually, QueenClient } from '../helpers/client';
import { run } from '../helpers/run';

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

describe('hive-registry agent (real processes)', () => {
  let server: ServerProcess | undefined;
  const agents: AgentProcess[] = [];
  const clients: QueenClient[] = [];
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-agent-'));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const a of agents.splice(0)) {
      a.child.kill('SIGKILL');
      await a.exited;
    }
    if (server !== undefined) await stopServer(server);
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (address: string): QueenClient => {
    const c = new QueenClient(address);
    clients.push(c);
    return c;
  };

  test('a simulated hive appears at once, survives a killed and restarted queen, and goes offline when stopped', async () => {
    server = await startServer();
    const address = server.address;
    const agent = startAgent(address, 'h1', '--simulate', '4');
    agents.push(agent);
    let c = client(address);
    expect(await eventually(async () => (await c.rpc.getWorkersOnHive({ hiveId: 'h1' })).workers.length === 4, 5_000)).toBe(true);
    const workers = await run(process.execPath, [CLI, 'workers', '--queen', address]);
    expect(workers.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[1])).toEqual([
      'h1-w0',
      'h1-w1',
      'h1-w2',
      'h1-w3',
    ]);

    // The queen dies without a word; a new one starts on the same port. The agent comes back by itself, within
    // its backoff cap (10 s) plus a connection attempt.
    server.child.kill('SIGKILL');
    await server.exited;
    server = await startServer(['--listen', address]);
    c = client(address);
    expect(await eventually(async () => (await c.rpc.isHiveOnline({ hiveId: 'h1' })).online, 15_000)).toBe(true);

    // SIGTERM: the agent half-closes, so the hive is offline at once, and exits 0.
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect((await c.rpc.isHiveOnline({ hiveId: 'h1' })).online).toBe(false);
  }, 40_000);

  test('--queen DEAD,LIVE1,LIVE2: every agent reaches a live queen whatever its random start, and moves on when its queen dies', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    server = await startServer();
    const other = await startServer();
    try {
      const live = [server, other];
      const queens = [dead, server.address, other.address].join(',');
      // Each agent draws its own start: with three of them, a start on the dead queen is all but certain.
      const hiveIds = ['fed-a', 'fed-b', 'fed-c'];
      for (const hiveId of hiveIds) agents.push(startAgent(queens, hiveId, '--simulate', '1', '--steady'));
      const clientsOf = live.map((q) => client(q.address));
      const holder = async (hiveId: string): Promise<number> => {
        const online = await Promise.all(clientsOf.map(async (c) => (await c.rpc.isHiveOnline({ hiveId })).online));
        return online.indexOf(true);
      };
      expect(await eventually(async () => (await Promise.all(hiveIds.map(holder))).every((i) => i >= 0), 10_000)).toBe(true);

      // The queen holding fed-a dies without a word: fed-a shows up on the other one.
      const from = await holder('fed-a');
      const to = 1 - from;
      const dying = live[from];
      dying?.child.kill('SIGKILL');
      await dying?.exited;
      const survivor = clientsOf[to];
      expect(await eventually(async () => (await survivor?.rpc.isHiveOnline({ hiveId: 'fed-a' }))?.online === true, 15_000)).toBe(true);
    } finally {
      await stopServer(other);
    }
  }, 40_000);

  test('an agent superseded by another for the same hive stops instead of fighting, exit 1', async () => {
    server = await startServer();
    const first = startAgent(server.address, 'twin', '--simulate', '1');
    agents.push(first);
    const c = client(server.address);
    expect(await eventually(async () => (await c.rpc.isHiveOnline({ hiveId: 'twin' })).online, 5_000)).toBe(true);
    const second = startAgent(server.address, 'twin', '--simulate', '1');
    agents.push(second);
    expect(await first.exited).toBe(1);
    expect(second.child.exitCode).toBeNull();
    expect((await c.rpc.isHiveOnline({ hiveId: 'twin' })).online).toBe(true);
  });

  test('a workers file is followed when it is replaced by rename', async () => {
    server = await startServer(['--heartbeat-interval', '1s', '--offline-after', '3s']);
    const file = join(dir, 'workers.json');
    const write = (workers: object[]): void => {
      writeFileSync(`${file}.tmp`, JSON.stringify({ workers, devices: [{ deviceId: 0, backend: 'BACKEND_CUDA', name: 'L4', vramTotalBytes: '25769803776' }] }));
      renameSync(`${file}.tmp`, file);
    };
    const w = (workerId: string, state: string) => ({ workerId, state, url: 'http://10.1.0.1:8000/', modelId: 'org/m', backend: 'BACKEND_CUDA', deviceId: 0 });
    write([w('f-0', 'WORKER_STATUS_IDLE')]);
    agents.push(startAgent(server.address, 'file-hive', '--workers-file', file));
    const c = client(server.address);
    const states = async () => (await c.rpc.getWorkersOnHive({ hiveId: 'file-hive' })).workers.map((x) => [x.workerId, x.state]);
    expect(await eventually(async () => (await states()).length === 1, 5_000)).toBe(true);
    write([w('f-0', 'WORKER_STATUS_BUSY'), w('f-1', 'WORKER_STATUS_IDLE')]);
    expect(await eventually(async () => JSON.stringify(await states()) === JSON.stringify([['f-0', 2], ['f-1', 1]]), 5_000)).toBe(true);
  });

  test('a simulated hive answers OpenAI requests at the URLs it reports, and stops answering when stopped', async () => {
    server = await startServer();
    const agent = startAgent(server.address, 'inf', '--simulate', '2', '--steady', '--max-concurrency', '3', '--response-delay', '0', '--chunk-delay', '0');
    agents.push(agent);
    const c = client(server.address);
    const reported = async () => (await c.rpc.getWorkersOnHive({ hiveId: 'inf' })).workers;
    expect(await eventually(async () => (await reported()).length === 2, 5_000)).toBe(true);
    const workers = await reported();
    expect(workers.map((w) => [w.workerId, w.url.replace(/:\d+\//, ':PORT/'), w.maxConcurrency])).toEqual([
      ['inf-w0', 'http://127.0.0.1:PORT/w/inf-w0', 3],
      ['inf-w1', 'http://127.0.0.1:PORT/w/inf-w1', 3],
    ]);
    for (const w of workers) {
      const response = await fetch(`${w.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: w.modelId, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
      });
      const body = (await response.json()) as { object: string; model: string; choices: { message: { content: string } }[] };
      expect({
        status: response.status,
        worker: response.headers.get('x-simulated-worker'),
        object: body.object,
        model: body.model,
        words: body.choices[0]?.message.content.split(' ').length,
      }).toEqual({ status: 200, worker: w.workerId, object: 'chat.completion', model: w.modelId, words: 4 });
    }
    const stream = await fetch(`${workers[0]?.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: workers[0]?.modelId, messages: [{ role: 'user', content: 'hello' }], stream: true, max_tokens: 2 }),
    });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    expect((await stream.text()).split('\n\n').filter((e) => e !== '')).toHaveLength(2 + 1 + 1);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    const after = await fetch(`${workers[0]?.url}/v1/models`).then((r) => `answered ${r.status}`, (error: Error) => error.message);
    expect(after).toBe('fetch failed');
  });

  test('simulated inference flags: every problem at once, and none with --workers-file', async () => {
    const bad = await run(process.execPath, [
      CLI, 'agent', '--hive-id', 'h', '--simulate', '1',
      '--inference-listen', '127.0.0.1', '--max-concurrency', '4097', '--response-delay', '-1', '--chunk-delay', '1.5',
    ]);
    expect({ code: bad.code, problems: bad.stderr.split('\n').filter((l) => l.startsWith('  - ')) }).toEqual({
      code: 2,
      problems: [
        '  - --inference-listen: must be HOST:PORT or [IPv6]:PORT, got "127.0.0.1"',
        '  - --max-concurrency: must be a whole number from 1 to 4096, got "4097"',
        '  - --response-delay: must be a whole number of ms from 0 to 60000, got "-1"',
        '  - --chunk-delay: must be a whole number of ms from 0 to 60000, got "1.5"',
      ],
    });
    const file = await run(process.execPath, [CLI, 'agent', '--hive-id', 'h', '--workers-file', 'w.json', '--inference-listen', '127.0.0.1:0', '--steady']);
    expect({ code: file.code, problems: file.stderr.split('\n').filter((l) => l.startsWith('  - ')) }).toEqual({
      code: 2,
      problems: ['  - --inference-listen goes with --simulate, not --workers-file', '  - --steady goes with --simulate, not --workers-file'],
    });
  });

  test.each([
    [['agent', '--simulate', '2'], '--hive-id: required'],
    [['agent', '--hive-id', 'h', '--simulate', '2', '--workers-file', 'x.json'], 'give exactly one of --simulate N, --workers-file FILE, or --engine SPEC'],
    [['agent', '--hive-id', 'h', '--simulate', '0'], '--simulate: must be a whole number from 1 to 1024'],
    [['agent', '--hive-id', 'bad id', '--simulate', '1'], '--hive-id: must contain only the characters'],
    [['agent', '--hive-id', 'h', '--workers-file', '/nonexistent/workers.json'], 'workers file /nonexistent/workers.json'],
    [['agent', '--hive-id', 'h', '--simulate', '1', '--queen', '127.0.0.1:1,no-port'], '--queen: must be HOST:PORT or [IPv6]:PORT, got "no-port"'],
    [['agent', '--hive-id', 'h', '--simulate', '1', '--queen', '127.0.0.1:1,127.0.0.1:1'], '--queen: "127.0.0.1:1" is given twice'],
  ])('agent usage error %j exits 2', async (args, message) => {
    const result = await run(process.execPath, [CLI, ...args]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringContaining(message) });
  });
});

describe('hive-registry demo', () => {
  test('starts a queen and three hives, prints the fleet and a decision, and stops everything cleanly', async () => {
    const result = await run(process.execPath, [CLI, 'demo'], { timeoutMs: 60_000 });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^demo-hive-1\s+online\s/m);
    expect(result.stdout).toMatch(/^demo-hive-3\s+online\s/m);
    expect(result.stdout).toContain('$ hive-registry best --model meta-llama/Llama-3.1-8B-Instruct\n');
    expect(result.stdout).toMatch(/^\$ curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions /m);
    expect(result.stdout).toMatch(/^ {2}answered by worker demo-hive-\d-w\d on hive demo-hive-\d:\n {2}".+"$/m);
    expect(result.stdout).toContain('demo: every process exited cleanly\n');
    // No process left behind: the queen's port no longer answers.
    const port = /queen serving on (127\.0\.0\.1:\d+)/.exec(result.stdout)?.[1];
    expect(port).toBeDefined();
    const probe = await run(process.execPath, [CLI, 'hives', '--queen', port!, '--timeout', '1s']);
    expect(probe.code).toBe(1);
  }, 70_000);
});
