// Simulated inference under load and failure, over real HTTP on 127.0.0.1:0: a worker's concurrency limit queues
// the surplus in order (and the simulated workers report it), a client that goes away stops the generation, and
// close() or kill() cut a stream the client is reading. Waits are on events and counters, never on wall time.
import { ManualTimers } from '../../src/agent/manual-timers';
import { SimulatedInference, type InferenceRequestEnd, type SimulatedInferenceOptions } from '../../src/simulator/simulated-inference';
import { ManualClock } from '../../src/common/manual-clock';
import { SimulatedWorkers } from '../../src/simulator/simulated-workers';
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';

const MODEL = 'org/m';
const WORKERS = [
  { workerId: 'h-w0', modelId: MODEL },
  { workerId: 'h-w1', modelId: MODEL },
];
/** A stream that would take minutes: it ends only when something cuts it. */
const ENDLESS = { model: MODEL, messages: [{ role: 'user', content: 'go on' }], stream: true, max_tokens: 100_000, ignore_eos: true };
const SHORT = { model: MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 3 };

let server: SimulatedInference | undefined;
let ends: InferenceRequestEnd[] = [];
const endWaiters: (() => void)[] = [];

async function startServer(options: Partial<SimulatedInferenceOptions> = {}): Promise<SimulatedInference> {
  ends = [];
  server = new SimulatedInference({
    workers: WORKERS,
    firstByteDelayMs: 1,
    chunkDelayMs: 2,
    onRequestEnd: (end) => {
      ends.push(end);
      endWaiters.splice(0).forEach((wake) => wake());
    },
    ...options,
  });
  await server.start();
  return server;
}

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Resolves once `count` requests have ended (by the server's own report). */
async function endsReach(count: number): Promise<InferenceRequestEnd[]> {
  while (ends.length < count) await new Promise<void>((resolve) => endWaiters.push(resolve));
  return ends;
}

/** Polls `check` on the event loop until it holds (the jest timeout bounds it). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2));
}

function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) });
}

/** Opens a stream and reads up to its first event; returns the reader, positioned after it. */
async function openStream(url: string, signal?: AbortSignal): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const response = await post(`${url}/v1/chat/completions`, ENDLESS, signal);
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const first = await reader.read();
  expect(Buffer.from(first.value ?? []).toString()).toMatch(/^data: \{"id":"chatcmpl-/);
  return reader;
}

/** How a request or read failed: fetch's errors come from Node's realm, not jest's, so instanceof cannot tell. */
function failure(error: unknown): string {
  return `failed: ${(error as Error).name}: ${(error as Error).message}`;
}

/** Reads until the stream fails (resolves with how) or ends cleanly (resolves 'ended'). */
async function readToTheEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  try {
    for (;;) if ((await reader.read()).done) return 'ended';
  } catch (error) {
    return failure(error);
  }
}

/** Resolves with how `request` failed, or 'answered' with its status. */
async function outcomeOf(request: Promise<Response>): Promise<string> {
  return request.then((r) => `answered ${r.status}`, failure);
}

test('5 requests to a worker taking 4: 4 run, the 5th waits for a slot, all 5 are served', async () => {
  const timers = new ManualTimers(new ManualClock());
  const s = await startServer({ maxConcurrency: 4, firstByteDelayMs: 50, timers });
  const url = s.urlOf('h-w0');
  const answers = Array.from({ length: 5 }, () => post(`${url}/v1/chat/completions`, SHORT));
  // Nothing is answered until the timers move: the five are all in, four running and one queued.
  await until(() => s.stats('h-w0').inFlight + s.stats('h-w0').queued === 5);
  // The same prompt four times over: the first to run missed the prefix cache, the three after it hit.
  expect(s.stats('h-w0')).toEqual({ served: 0, aborted: 0, rejected: 0, inFlight: 4, queued: 1, peakInFlight: 4, prefixHits: 3, prefixMisses: 1 });
  timers.advance(1_000);
  await until(() => s.stats('h-w0').served === 4 && s.stats('h-w0').inFlight === 1);
  expect(s.stats('h-w0')).toMatchObject({ queued: 0, peakInFlight: 4 });
  timers.advance(1_000);
  const responses = await Promise.all(answers);
  expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  const contents = await Promise.all(responses.map(async (r) => ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content));
  expect(new Set(contents).size).toBe(1);
  expect(s.stats('h-w0')).toEqual({ served: 5, aborted: 0, rejected: 0, inFlight: 0, queued: 0, peakInFlight: 4, prefixHits: 4, prefixMisses: 1 });
  // The other worker's slots are its own.
  expect(s.stats('h-w1')).toEqual({ served: 0, aborted: 0, rejected: 0, inFlight: 0, queued: 0, peakInFlight: 0, prefixHits: 0, prefixMisses: 0 });
});

test('the simulated workers report the live counts: BUSY while 4 of 4 run with 1 waiting, IDLE once all are served', async () => {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  const s = await startServer({ workers: [{ workerId: 'h-w0', modelId: MODEL }], maxConcurrency: 4, firstByteDelayMs: 50, timers });
  const sim = new SimulatedWorkers({ hiveId: 'h', count: 1, clock, timers, models: [MODEL], requests: s.requests, changeProbability: 0, urlOf: (id) => s.urlOf(id) });
  const reported = (): string => {
    const w = sim.snapshot().workers[0];
    return `${w?.state === WorkerStatus.BUSY ? 'BUSY' : 'IDLE'} ${w?.requestsRunning}/${w?.requestsWaiting} kv ${w?.kvCacheUsage}`;
  };
  const heard: string[] = [];
  sim.onChange(() => heard.push(reported()));
  expect(reported()).toBe('IDLE 0/0 kv 0');
  const answers = Array.from({ length: 5 }, () => post(`${s.urlOf('h-w0')}/v1/chat/completions`, SHORT));
  await until(() => heard.length === 5);
  expect(heard).toEqual(['IDLE 1/0 kv 0.25', 'IDLE 2/0 kv 0.5', 'IDLE 3/0 kv 0.75', 'BUSY 4/0 kv 1', 'BUSY 4/1 kv 1']);
  timers.advance(1_000);
  await until(() => s.stats('h-w0').served === 4);
  expect(reported()).toBe('IDLE 1/0 kv 0.25');
  timers.advance(1_000);
  expect((await Promise.all(answers)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
  expect(reported()).toBe('IDLE 0/0 kv 0');
  // Every change was heard once; the first end handed its slot to the waiting request.
  expect(heard.slice(5)).toEqual(['BUSY 4/0 kv 1', 'IDLE 3/0 kv 0.75', 'IDLE 2/0 kv 0.5', 'IDLE 1/0 kv 0.25', 'IDLE 0/0 kv 0']);
  sim.close();
});

test('a queued request whose client goes away never takes a slot', async () => {
  const timers = new ManualTimers(new ManualClock());
  const s = await startServer({ maxConcurrency: 1, timers });
  const url = s.urlOf('h-w0');
  const running = post(`${url}/v1/chat/completions`, SHORT);
  const controller = new AbortController();
  const quitter = outcomeOf(post(`${url}/v1/chat/completions`, SHORT, controller.signal));
  await until(() => s.stats('h-w0').queued === 1);
  controller.abort();
  expect(await quitter).toBe('failed: AbortError: This operation was aborted');
  await endsReach(1);
  expect(ends).toEqual([{ workerId: 'h-w0', endpoint: 'chat', outcome: 'aborted' }]);
  expect(s.stats('h-w0')).toMatchObject({ inFlight: 1, queued: 0, aborted: 1 });
  timers.advance(1_000);
  expect((await running).status).toBe(200);
  expect(s.stats('h-w0')).toMatchObject({ served: 1, inFlight: 0, peakInFlight: 1 });
});

test('a client that goes away mid-stream stops the generation and frees the slot', async () => {
  const s = await startServer();
  const controller = new AbortController();
  const reader = await openStream(s.urlOf('h-w0'), controller.signal);
  controller.abort();
  await readToTheEnd(reader);
  // A stream of 100,000 tokens 2 ms apart would hold its slot for minutes: its end is the generation stopping.
  expect(await endsReach(1)).toEqual([{ workerId: 'h-w0', endpoint: 'chat', outcome: 'aborted' }]);
  expect(s.stats('h-w0')).toMatchObject({ served: 0, aborted: 1, inFlight: 0 });
  expect((await post(`${s.urlOf('h-w0')}/v1/chat/completions`, SHORT)).status).toBe(200);
});

test('close() cuts a stream being read, and the port stops answering', async () => {
  const s = await startServer();
  const url = s.urlOf('h-w0');
  const reader = await openStream(url);
  await s.close();
  expect(await readToTheEnd(reader)).toBe('failed: TypeError: terminated');
  expect(await endsReach(1)).toEqual([{ workerId: 'h-w0', endpoint: 'chat', outcome: 'aborted' }]);
  expect(await outcomeOf(fetch(`${url}/v1/models`))).toBe('failed: TypeError: fetch failed');
  // close() twice is the same close.
  await s.close();
});

test('kill() cuts one worker like a crash: its stream fails, its next requests fail, the others answer; revive() undoes it', async () => {
  const s = await startServer();
  const reader = await openStream(s.urlOf('h-w0'));
  const bystander = await openStream(s.urlOf('h-w1'));
  s.kill('h-w0');
  expect(await readToTheEnd(reader)).toBe('failed: TypeError: terminated');
  expect(await endsReach(1)).toEqual([{ workerId: 'h-w0', endpoint: 'chat', outcome: 'killed' }]);
  expect(await outcomeOf(post(`${s.urlOf('h-w0')}/v1/chat/completions`, SHORT))).toBe('failed: TypeError: fetch failed');
  expect(await outcomeOf(fetch(`${s.urlOf('h-w0')}/v1/models`))).toBe('failed: TypeError: fetch failed');
  // The other worker's stream on the same server goes on.
  const next = await bystander.read();
  expect(Buffer.from(next.value ?? []).toString()).toMatch(/^data: /);
  await bystander.cancel();
  expect((await post(`${s.urlOf('h-w1')}/v1/chat/completions`, SHORT)).status).toBe(200);
  s.revive('h-w0');
  const revived = await post(`${s.urlOf('h-w0')}/v1/chat/completions`, SHORT);
  expect({ status: revived.status, worker: revived.headers.get('x-simulated-worker') }).toEqual({ status: 200, worker: 'h-w0' });
  // Cut off: the stream and the chat request after the kill (models requests are not counted).
  expect(s.stats('h-w0')).toMatchObject({ served: 1, aborted: 2, inFlight: 0 });
  expect(ends.filter((e) => e.workerId === 'h-w0').map((e) => e.outcome)).toEqual(['killed', 'killed', 'killed', 'served']);
});
