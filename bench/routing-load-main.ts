// Child process: the routing scenario's load generator, in its own process.
//   node dist/bench/routing-load-main.js '<RoutingLoadSpec as JSON>'
// Sends `requests` streamed chat completions, `inFlight` at a time, cycling over `targets` (the workers' own URLs
// for round robin, or the gateway's), on kept-alive connections; times each request's first `data:` chunk and last
// byte and notes who answered and the prefix headers. Writes one {"event":"result","figures":...} line (or
// {"event":"failed",...}) on stdout; exits when done, on SIGTERM, or when its stdin closes (the parent is gone).
import { Agent, request, type IncomingMessage } from 'node:http';
import { childLifecycle } from './child-lifecycle.js';
import { policyFigures, type PolicyFigures, type RequestRecord } from './routing-figures.js';
import { RoutingWorkload, type WorkloadSpec } from './routing-workload.js';
import { nowMs } from './stats.js';

/** Where a request goes: a full URL, and the worker behind it when the URL is one worker's own. */
export interface RoutingTarget {
  readonly url: string;
  readonly workerId?: string;
}

/** What one policy's load run does. */
export interface RoutingLoadSpec {
  /** Used in turn, one per request. */
  readonly targets: readonly RoutingTarget[];
  /** Every worker of the hive, for the in-flight mean across workers. */
  readonly workerIds: readonly string[];
  readonly model: string;
  readonly requests: number;
  readonly inFlight: number;
  readonly maxTokens: number;
  readonly workload: WorkloadSpec;
}

const MAX_LIFETIME_MS = 120_000;
/** A request that takes longer fails instead of hanging the run. */
const TIMEOUT_MS = 10_000;
/** How much of a body's start is kept while looking for the first `data:` (it may straddle two chunks). */
const CARRY_CHARS = 4;

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function prefixCacheOf(response: IncomingMessage): 'hit' | 'miss' | undefined {
  const value = header(response, 'x-simulated-prefix-cache');
  return value === 'hit' || value === 'miss' ? value : undefined;
}

function prefixBlocksOf(response: IncomingMessage): number | undefined {
  const value = header(response, 'x-hive-prefix-blocks');
  const blocks = value === undefined ? Number.NaN : Number(value);
  return Number.isInteger(blocks) && blocks >= 0 ? blocks : undefined;
}

async function run(spec: RoutingLoadSpec, stopped: () => boolean): Promise<PolicyFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.inFlight });
  const workload = new RoutingWorkload(spec.workload);
  const records: RequestRecord[] = [];
  let firstFailure: string | undefined;
  let issued = 0;
  let outstanding = 0;
  let allDone: () => void = () => undefined;

  const issue = (): void => {
    const target = spec.targets[issued % spec.targets.length];
    if (target === undefined) throw new Error('no targets');
    issued++;
    const body = Buffer.from(
      JSON.stringify({ model: spec.model, messages: workload.next(), max_tokens: spec.maxTokens, stream: true }),
    );
    outstanding++;
    let workerId = target.workerId;
    let firstDataMs: number | undefined;
    let prefixCache: 'hit' | 'miss' | undefined;
    let prefixBlocks: number | undefined;
    let settled = false;
    const sentMs = nowMs();
    const done = (ok: boolean, failure?: string): void => {
      if (settled) return;
      settled = true;
      records.push({ workerId, sentMs, firstDataMs, endMs: nowMs(), ok, prefixCache, prefixBlocks });
      if (!ok) firstFailure ??= `${target.url}: ${failure ?? 'failed'}`;
      outstanding--;
      if (issued < spec.requests && !stopped()) issue();
      else if (outstanding === 0) allDone();
    };
    const headers = { 'content-type': 'application/json', 'content-length': body.length };
    const req = request(target.url, { method: 'POST', agent, headers }, (response) => {
      workerId ??= header(response, 'x-hive-worker');
      prefixCache = prefixCacheOf(response);
      prefixBlocks = prefixBlocksOf(response);
      let carry = '';
      response.on('data', (chunk: Buffer) => {
        if (firstDataMs !== undefined) return;
        const text = carry + chunk.toString('latin1');
        if (text.includes('data:')) firstDataMs = nowMs();
        else carry = text.slice(-CARRY_CHARS);
      });
      response.on('end', () => {
        const ok = response.statusCode === 200;
        done(ok, ok ? undefined : `HTTP ${response.statusCode}`);
      });
      response.on('error', (error) => done(false, error.message));
    });
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on('error', (error) => done(false, error.message));
    req.end(body);
  };

  await new Promise<void>((resolve) => {
    allDone = resolve;
    for (let i = 0; i < Math.min(spec.inFlight, spec.requests); i++) issue();
  });
  agent.destroy();
  if (stopped()) throw new Error(`stopped after ${records.length} of ${spec.requests} requests`);
  return policyFigures(records, spec.workerIds, firstFailure);
}

async function main(): Promise<void> {
  const { stopped } = childLifecycle('routing-load-main', MAX_LIFETIME_MS);
  const spec = JSON.parse(process.argv[2] ?? '') as RoutingLoadSpec;
  const figures = await run(spec, stopped);
  process.stdout.write(`${JSON.stringify({ event: 'result', figures })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stdout.write(`${JSON.stringify({ event: 'failed', error: message })}\n`);
    process.exit(1);
  },
);
