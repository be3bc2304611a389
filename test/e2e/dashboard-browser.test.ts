// The dashboard in a real browser (Debian's chromium driven by playwright-core) against the real CLI: a queen and
// hives run as processes, and the page is used as an operator would: a hive appears, a worker changes state, the
// best worker for a model is asked for, the hive goes offline when its agent stops, and the page rides out a queen
// restart without a reload. Screenshots go to test-output/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RegistryClient } from '../../src/client/registry-client';
import { REPO_ROOT, startAgent as startAgentProcess, startServer, stopServer, type AgentProcess, type ServerProcess } from '../helpers/cli-process';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(REPO_ROOT, 'test-output');
/** Waits in this file are for processes starting and reconnecting on a shared machine, not for speed. */
const WAIT_MS = 20_000;

jest.setTimeout(90_000);

/** A hive agent of the real CLI: `--workers-file FILE`, or `--simulate N` (workers that answer inference too). */
function startAgent(queen: string, hiveId: string, ...source: string[]): AgentProcess {
  return startAgentProcess(queen, hiveId, source.length === 1 ? ['--workers-file', source[0] ?? ''] : source);
}

/**
 * A workers file (a HiveHeartbeatPayload in protobuf JSON form): two workers on one 80 GiB GPU, the first a vLLM
 * engine with its requests, KV cache and a status message.
 */
function workersJson(states: { w0: string; w1: string }): string {
  const engine = {
    engine: 'vllm',
    engineVersion: '0.6.3.post1',
    contextLength: 131072,
    requestsRunning: 3,
    requestsWaiting: 1,
    kvCacheUsage: 0.4,
    statusMessage: 'serving org/chat-model',
  };
  const worker = (workerId: string, state: string, modelId: string, gpuPercent: number) => ({
    ...(workerId.endsWith('w0') ? engine : {}),
    workerId,
    state: `WORKER_STATUS_${state}`,
    url: `http://127.0.0.1:9/${workerId}`,
    modelId,
    backend: 'BACKEND_CUDA',
    deviceId: 0,
    vramBytes: String(20 * 2 ** 30),
    gpuPercent,
    health: 'HEALTH_STATUS_HEALTHY',
    maxConcurrency: 4,
  });
  return JSON.stringify({
    workers: [worker('gpu-box-w0', states.w0, 'org/chat-model', 35), worker('gpu-box-w1', states.w1, 'org/chat-model', 12)],
    devices: [{ deviceId: 0, backend: 'BACKEND_CUDA', name: 'NVIDIA A100-SXM4-80GB', vramTotalBytes: String(80 * 2 ** 30) }],
  });
}

const describeWithChromium = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) {
  // Not silent: the suite says what is missing (.ci/run installs it).
  test('the browser tests need Debian chromium at /usr/bin/chromium (apt-get install chromium)', () => {
    expect(existsSync(CHROMIUM)).toBe(true);
  });
}

describeWithChromium('the dashboard in chromium', () => {
  let browser: Browser | undefined;
  let server: ServerProcess | undefined;
  let dir = '';
  const agents: AgentProcess[] = [];
  const clients: RegistryClient[] = [];

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hive-registry-dashboard-'));
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const agent of agents.splice(0)) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    if (server !== undefined) await stopServer(server);
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(port: number): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: WAIT_MS });
    // Checked at the end of each test through this hook: no script error, no failed load.
    (page as Page & { problems?: string[] }).problems = problems;
    return page;
  }

  test('a hive appears, a worker change shows up, the best worker is asked, the hive goes offline when its agent stops', async () => {
    server = await startServer(['--http-listen', '127.0.0.1:0', '--db', join(dir, 'catalog.db')]);
    const page = await open(server.httpPort!);
    await page.waitForSelector('#hives-empty:not([hidden])');

    const file = join(dir, 'workers.json');
    writeFileSync(file, workersJson({ w0: 'IDLE', w1: 'IDLE' }));
    const agent = startAgent(server.address, 'gpu-box', file);
    agents.push(agent);
    await page.waitForSelector('tr[data-hive-id="gpu-box"][data-status="online"]', { timeout: WAIT_MS });
    await page.waitForSelector('tr[data-worker-id="gpu-box-w0"][data-state="idle"]');
    // The hive's details (VRAM, heartbeat age) follow its Watch events by a moment.
    await page.waitForSelector('tr[data-hive-id="gpu-box"] .bar-text:text("40 GiB / 80 GiB")', { timeout: WAIT_MS });
    expect(await page.textContent('tr[data-hive-id="gpu-box"]')).toMatch(/\d+(\.\d)? s ago/);
    // The engine's figures: its name and version, requests against the slots, KV cache, the status message.
    const w0 = 'tr[data-worker-id="gpu-box-w0"]';
    expect({
      engine: await page.textContent(`${w0} td.engine`),
      requests: await page.textContent(`${w0} td.requests .bar-text`),
      requestsLabel: await page.getAttribute(`${w0} td.requests .bar`, 'title'),
      kv: await page.textContent(`${w0} td.kv .bar-text`),
      status: await page.textContent(`${w0} td.state .sub`),
      w1Requests: await page.textContent('tr[data-worker-id="gpu-box-w1"] td.requests'),
    }).toEqual({
      engine: 'vllm0.6.3.post1 · 128K ctx',
      requests: '3 + 1 / 4',
      requestsLabel: '3 running, 1 waiting in the engine; 4 slots (max_concurrency)',
      kv: '40%',
      status: 'serving org/chat-model',
      w1Requests: 'n/a',
    });

    // A worker's state change: the page applies it as the queen publishes it. The latency from the queen's Watch
    // event to the page's DOM is measured (same machine clock) and written beside the screenshots.
    const client = new RegistryClient(server.address);
    clients.push(client);
    const abort = new AbortController();
    const published = (async () => {
      for await (const update of client.watch({ signal: abort.signal })) {
        if (update.type === 'worker_upserted' && update.workerId === 'gpu-box-w0' && update.worker?.state === 'busy') return Date.now();
      }
      return Number.NaN;
    })();
    // Page scripts are strings: this file is compiled for Node, without the DOM's types.
    await page.evaluate(`
      new MutationObserver(() => {
        if (window.busyAt === undefined && document.querySelector('tr[data-worker-id="gpu-box-w0"][data-state="busy"]') !== null) {
          window.busyAt = Date.now();
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    `);
    writeFileSync(file, workersJson({ w0: 'BUSY', w1: 'IDLE' }));
    await page.waitForSelector('tr[data-worker-id="gpu-box-w0"][data-state="busy"]', { timeout: WAIT_MS });
    const publishedAt = await published;
    abort.abort();
    const shownAt = (await page.evaluate('window.busyAt')) as number;
    writeFileSync(join(OUTPUT, 'dashboard-latency.json'), `${JSON.stringify({ workerStateChangeMs: shownAt - publishedAt })}\n`);

    // Filters: only the busy worker, then all again.
    await page.selectOption('#filter-state', 'busy');
    expect(await page.$$eval('#workers tbody tr', (rows) => rows.map((r) => r.getAttribute('data-worker-id')))).toEqual(['gpu-box-w0']);
    await page.selectOption('#filter-state', '');
    await page.selectOption('#filter-model', 'org/chat-model');
    expect(await page.$$eval('#workers tbody tr', (rows) => rows.length)).toBe(2);

    // A simulated hive (its workers steady and idle) joins: it shows up beside the first.
    await page.selectOption('#filter-model', '');
    agents.push(startAgent(server.address, 'sim-hive', '--simulate', '2', '--steady'));
    await page.waitForSelector('tr[data-hive-id="sim-hive"][data-status="online"]', { timeout: WAIT_MS });
    await page.waitForSelector('tr[data-worker-id="sim-hive-w1"][data-state="idle"]');
    expect(await page.$$eval('#workers tbody tr', (rows) => rows.length)).toBe(4);

    // The best worker for the model: the idle one, with the reasons.
    await page.fill('#best-model', 'org/chat-model');
    await page.click('#best-ask');
    const pick = await page.waitForSelector('[data-picked-worker]');
    expect(await pick.getAttribute('data-picked-worker')).toBe('gpu-box-w1');
    expect(await page.textContent('#best-result')).toContain('it is the only one that can');
    expect(await page.textContent('#best-result .reasons li:last-child')).toMatch(/^through the gateway, .*\(256-byte blocks; 0 prefixes remembered\)/);
    expect(await page.$$eval('#best-result thead th', (cells) => cells.map((c) => c.textContent))).toEqual([
      'Worker', 'Hive', 'Verdict', 'State', 'Load', 'KV cache', 'GPU load', 'Reserved',
    ]);
    // Each worker's load with what it is made of (slots in use + waiting / slots), KV cache and GPU load.
    expect(await page.$$eval('#best-result tbody tr', (rows) => rows.map((r) => Array.from(r.children as ArrayLike<{ textContent: string | null }>, (c) => c.textContent)))).toEqual([
      ['gpu-box-w1', 'gpu-box', 'picked', 'idle', '0.000 / 4', 'n/a', '12%', '0 / 4'],
      ['gpu-box-w0', 'gpu-box', 'busy', 'busy', '1.003 + 1 / 4', '40%', '35%', '0 / 4'],
    ]);
    await page.screenshot({ path: join(OUTPUT, 'dashboard.png'), fullPage: true });

    // The agent stops: the hive goes offline (its stream ended), its workers stay listed.
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await page.waitForSelector('tr[data-hive-id="gpu-box"][data-status="offline"]', { timeout: WAIT_MS });
    expect(await page.$$eval('#workers tbody tr', (rows) => rows.length)).toBe(4);
    expect(await page.getAttribute('tr[data-hive-id="sim-hive"]', 'data-status')).toBe('online');
    await page.screenshot({ path: join(OUTPUT, 'dashboard-offline.png'), fullPage: true });
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
    await page.close();
  });

  test('the page shows when it is disconnected and, without a reload, follows the queen that replaces it', async () => {
    const db = join(dir, 'catalog.db');
    server = await startServer(['--http-listen', '127.0.0.1:0', '--db', db]);
    const grpc = server.address;
    const httpPort = server.httpPort!;
    const file = join(dir, 'workers.json');
    writeFileSync(file, workersJson({ w0: 'IDLE', w1: 'BUSY' }));
    agents.push(startAgent(grpc, 'gpu-box', file));
    const page = await open(httpPort);
    await page.waitForSelector('tr[data-hive-id="gpu-box"][data-status="online"]', { timeout: WAIT_MS });
    await page.evaluate('window.sameDocument = true');

    server.child.kill('SIGKILL');
    await server.exited;
    server = undefined;
    await page.waitForSelector('#connection[data-state="disconnected"]', { timeout: WAIT_MS });
    await page.screenshot({ path: join(OUTPUT, 'dashboard-disconnected.png'), fullPage: true });

    server = await startServer(['--listen', grpc, '--http-listen', `127.0.0.1:${httpPort}`, '--db', db]);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: WAIT_MS });
    // The new queen has a new epoch: the page dropped the old state and took the new snapshot, with the hive back
    // once its agent reconnected.
    await page.waitForSelector('tr[data-hive-id="gpu-box"][data-status="online"]', { timeout: WAIT_MS });
    await page.waitForSelector('tr[data-worker-id="gpu-box-w1"][data-state="busy"]');
    expect(await page.evaluate('window.sameDocument')).toBe(true);
    // Loads failed while the queen was down; nothing else went wrong.
    const problems = (page as Page & { problems?: string[] }).problems ?? [];
    expect(problems.filter((p) => !/Failed to load resource|ERR_CONNECTION_REFUSED|EventSource/.test(p))).toEqual([]);
    await page.close();
  });
});
