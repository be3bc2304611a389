import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRegistryClient } from '../client/registry-client.js';
import { bestReport, hivesTable, workersTable } from './format.js';
import type { CommandIo } from './operator-commands.js';

/** The demo fleet: three hives with four simulated workers each, on overlapping models. */
const HIVES: readonly { readonly id: string; readonly models: string }[] = [
  { id: 'demo-hive-1', models: 'meta-llama/Llama-3.1-8B-Instruct,Qwen/Qwen2.5-7B-Instruct' },
  { id: 'demo-hive-2', models: 'meta-llama/Llama-3.1-8B-Instruct,mistralai/Mistral-7B-Instruct-v0.3' },
  { id: 'demo-hive-3', models: 'Qwen/Qwen2.5-7B-Instruct,mistralai/Mistral-7B-Instruct-v0.3' },
];
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const WORKERS_PER_HIVE = 4;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<number | string>;
}

function start(cli: string, name: string, args: readonly string[]): Child {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { name, process: child, exited };
}

/** Waits for the queen's "serving" log line and returns its gRPC and HTTP ports. */
function servingPorts(queen: Child): Promise<{ port: number; httpPort: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the queen did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    createInterface({ input: queen.process.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number; httpPort?: number };
        if (entry.msg === 'hive-registry serving' && typeof entry.port === 'number' && typeof entry.httpPort === 'number') {
          clearTimeout(timer);
          resolve({ port: entry.port, httpPort: entry.httpPort });
        }
      } catch {
        // not a log line
      }
    });
    void queen.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the queen exited (${code}) before serving`));
    });
  });
}

/** A chat completion through the queen's gateway, printed as a user would see it; throws when it fails. */
async function chatThroughGateway(httpPort: number, io: CommandIo): Promise<void> {
  const url = `http://127.0.0.1:${httpPort}/v1/chat/completions`;
  const body = { model: MODEL, messages: [{ role: 'user', content: 'Hello, hive!' }], max_tokens: 12 };
  io.out(`$ curl -s ${url} -H 'content-type: application/json' -d '${JSON.stringify(body)}'\n`);
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await response.json()) as { choices?: { message?: { content?: string } }[]; error?: { message?: string } };
  if (!response.ok) throw new Error(`the gateway answered ${response.status}: ${answer.error?.message ?? 'no message'}`);
  io.out(`  answered by worker ${response.headers.get('x-hive-worker') ?? '?'} on hive ${response.headers.get('x-hive-id') ?? '?'}:\n`);
  io.out(`  ${JSON.stringify(answer.choices?.[0]?.message?.content ?? '')}\n`);
}

/** SIGTERM, then SIGKILL after the timeout; resolves with how it ended. */
async function stop(child: Child): Promise<number | string> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return child.exited;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `hive-registry demo` (`npm run demo`): starts a queen (loopback, free ports, in-memory catalog, HTTP listener on)
 * and three hive agents with simulated workers as separate processes, waits for the fleet, prints it and a
 * scheduling decision, sends a chat completion through the gateway (answered by a simulated worker), then stops the agents (each half-closes its stream) and the queen (drain) and checks every process exited 0.
 * Returns the exit code; no process is left behind, whatever happens.
 */
export async function runDemo(cli: string, io: CommandIo, onInterrupt: (stopAll: () => void) => void): Promise<number> {
  const children: Child[] = [];
  onInterrupt(() => children.forEach((c) => c.process.kill('SIGKILL')));
  try {
    const queen = start(cli, 'queen', ['serve', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--db', ':memory:']);
    children.push(queen);
    const ports = await servingPorts(queen);
    const address = `127.0.0.1:${ports.port}`;
    io.out(
      `demo: queen serving on ${address} (dashboard and gateway on http://127.0.0.1:${ports.httpPort}/); ` +
        `starting ${HIVES.length} hives with ${WORKERS_PER_HIVE} simulated workers each\n\n`,
    );
    for (const hive of HIVES) {
      children.push(
        start(cli, hive.id, [
          'agent',
          '--queen',
          address,
          '--hive-id',
          hive.id,
          '--simulate',
          String(WORKERS_PER_HIVE),
          '--models',
          hive.models,
          '--log-level',
          'warn',
        ]),
      );
    }
    const client = createRegistryClient(address);
    try {
      const deadline = Date.now() + START_TIMEOUT_MS;
      while ((await client.listActiveHives()).length < HIVES.length) {
        if (Date.now() > deadline) throw new Error(`the ${HIVES.length} hives did not come online within ${START_TIMEOUT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const hives = await Promise.all((await client.listAllHives()).map((id) => client.getHiveState(id)));
      io.out(`$ hive-registry hives\n${hivesTable(hives, io.nowMs())}\n`);
      io.out(`$ hive-registry workers\n${workersTable(await client.listAllWorkers(), false)}\n`);
      io.out(`$ hive-registry best --model ${MODEL}\n`);
      try {
        io.out(bestReport(MODEL, await client.findBestWorkerForModel(MODEL)));
      } catch (error) {
        // Every simulated worker with the model may be busy at this instant: that answer is a decision too.
        io.out(`${error instanceof Error ? error.message : String(error)}\n`);
      }
      io.out('\n');
      await chatThroughGateway(ports.httpPort, io);
    } finally {
      client.close();
    }
    io.out('\ndemo: stopping the hives, then the queen\n');
    const agentCodes = await Promise.all(children.slice(1).map(stop));
    const queenCode = await stop(queen);
    const bad = [...children.slice(1).map((c, i) => [c.name, agentCodes[i]] as const), ['queen', queenCode] as const].filter(
      ([, code]) => code !== 0,
    );
    if (bad.length > 0) {
      io.err(`demo: ${bad.map(([name, code]) => `${name} exited with ${code}`).join(', ')}\n`);
      return 1;
    }
    io.out('demo: every process exited cleanly\n');
    return 0;
  } catch (error) {
    io.err(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    for (const child of children) {
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    }
  }
}
