// Child process: an HTTP load generator for the gateway benchmark, in its own process.
//   node dist/bench/gateway-load-main.js '<GatewayLoadSpec as JSON>'
// Keeps `inFlight` POSTs outstanding, cycling over `targets` (the gateway's URL, or the workers' own URLs for the
// direct baseline), on kept-alive connections; reads each answer whole. Writes LoadEvent lines on stdout; exits when
// done, on SIGTERM, or when its stdin closes (the parent is gone).
import { Agent, request } from 'node:http';
import { childLifecycle } from './child-lifecycle.js';
import { emit, type LoadResult } from './protocol.js';
import { loadResult, measureWindow, nowMs, Samples } from './stats.js';

/** What one gateway-benchmark load run does. */
export interface GatewayLoadSpec {
  /** Full URLs, used in turn, one per request. */
  readonly targets: readonly string[];
  readonly inFlight: number;
  /**
   * The request body (an OpenAI request, JSON). Each `{n}` in it becomes the request's number, so prompts can differ
   * from their first byte (simulated workers answer a prompt they saw begin sooner: a prefix-cache hit).
   */
  readonly body: string;
  /**
   * The first request's number (default 0): runs against the same workers start far apart, so no prompt of one run
   * is in a worker's prefix cache from an earlier one.
   */
  readonly firstNumber?: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

const MAX_LIFETIME_MS = 120_000;
const MAX_SAMPLES = 1_000_000;
/** A request that takes longer fails instead of hanging the run. */
const TIMEOUT_MS = 10_000;

type Phase = 'warmup' | 'measure' | 'stopping';

async function run(spec: GatewayLoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.inFlight });
  const [head = '', ...rest] = spec.body.split('{n}');
  const bodyOf = rest.length === 0 ? ((): Buffer => Buffer.from(head)) : (n: number): Buffer => Buffer.from(head + rest.map((part) => `${n}${part}`).join(''));
  const samples = new Samples(MAX_SAMPLES);
  let phase: Phase = 'warmup';
  let ops = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  let messageBytes = 0;
  const first = spec.firstNumber ?? 0;
  let next = 0;
  let outstanding = 0;
  let allDone: () => void = () => undefined;

  const fail = (why: string): void => {
    failures++;
    firstFailure ??= why;
  };
  const issue = (): void => {
    const body = bodyOf(first + next);
    const target = spec.targets[next++ % spec.targets.length] ?? '';
    const sentAt = nowMs();
    outstanding++;
    const done = (ok: boolean, bytes: number): void => {
      outstanding--;
      if (ok && phase === 'measure') {
        ops++;
        samples.add(nowMs() - sentAt);
        messageBytes = bytes;
      }
      if (phase !== 'stopping') issue();
      else if (outstanding === 0) allDone();
    };
    const req = request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => {
        const ok = response.statusCode === 200;
        if (!ok) fail(`${target}: HTTP ${response.statusCode}`);
        done(ok, bytes);
      });
      response.on('error', (error) => {
        fail(`${target}: ${error.message}`);
        done(false, 0);
      });
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on('error', (error) => {
      fail(`${target}: ${error.message}`);
      done(false, 0);
    });
    req.end(body);
  };

  for (let i = 0; i < spec.inFlight; i++) issue();
  const { elapsedMs, cpu } = await measureWindow(spec, emit, (p) => (phase = p));
  await new Promise<void>((resolve) => {
    allDone = resolve;
    if (outstanding === 0) resolve();
  });
  agent.destroy();
  return loadResult({ ops, elapsedMs, cpu, failures, firstFailure, samples, messageBytes });
}

async function main(): Promise<void> {
  childLifecycle('gateway-load-main', MAX_LIFETIME_MS);
  const spec = JSON.parse(process.argv[2] ?? '') as GatewayLoadSpec;
  emit({ event: 'result', result: await run(spec) });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({ event: 'failed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
