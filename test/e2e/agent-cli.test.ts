// `hive-registry agent` and `hive-registry demo` as real processes: a simulated hive shows up at once, comes back
// by itself after the queen is killed and restarted, stops when superseded, and a workers file is followed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startServer, stopServer, type ServerProcess } from '../helpers/cli-process';
import { eventually, QueenClient } from '../helpers/client';
import { run } from '../helpers/run';

interface AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | string>;
  stderr: string;
}

function startAgent(queen: string, hiveId: string, ...source: string[]): AgentProcess {
  const child = spawn(process.execPath, [CLI, 'agent', '--queen', queen, '--hive-id', hiveId, ...source, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const agent: AgentProcess = {
    child,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    stderr: '',
  };
  child.stderr?.on('data', (chunk: Buffer) => (agent.stderr += chunk.toString()));
  return agent;
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

  test.each([
    [['agent', '--simulate', '2'], '--hive-id: required'],
    [['agent', '--hive-id', 'h', '--simulate', '2', '--workers-file', 'x.json'], 'give exactly one of --simulate N or --workers-file FILE'],
    [['agent', '--hive-id', 'h', '--simulate', '0'], '--simulate: must be a whole number from 1 to 1024'],
    [['agent', '--hive-id', 'bad id', '--simulate', '1'], '--hive-id: must contain only the characters'],
    [['agent', '--hive-id', 'h', '--workers-file', '/nonexistent/workers.json'], 'workers file /nonexistent/workers.json'],
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
    expect(result.stdout).toContain('demo: every process exited cleanly\n');
    // No process left behind: the queen's port no longer answers.
    const port = /queen serving on (127\.0\.0\.1:\d+)/.exec(result.stdout)?.[1];
    expect(port).toBeDefined();
    const probe = await run(process.execPath, [CLI, 'hives', '--queen', port!, '--timeout', '1s']);
    expect(probe.code).toBe(1);
  }, 70_000);
});
