// The inference gateway through the official OpenAI client (a client nobody here wrote), against a real queen and
// simulated workers answering over HTTP: plain and streaming answers, the models list, failures and the one retry,
// waiting for a slot, errors in the OpenAI form, and the spread of many concurrent requests.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import OpenAI from 'openai';
import { WorkerStatus } from '../../gen/hive/v1/registry_pb';
import type { Caller } from '../../src/server/callers';
import { deadPort } from '../helpers/client-fixtures';
import { GatewayFleet } from '../helpers/gateway-fleet';
import { httpFetch } from '../helpers/http';
import { parsePrometheusText } from '../helpers/prometheus-text';

const LLAMA = 'org/llama';
const QWEN = 'org/qwen';
const MESSAGES = [{ role: 'user' as const, content: 'Say something about hives' }];

let fleet: GatewayFleet | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A worker that answers every request with `status` and an OpenAI error body. */
async function answering(status: number): Promise<string> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { message: `worker says ${status}`, type: 'server_error', code: null } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const scrape = await httpFetch(fleet!.queen.httpPort, '/metrics');
  return parsePrometheusText(scrape.body).value(name, labels);
}

describe('answers', () => {
  beforeEach(async () => {
    fleet = await GatewayFleet.start([
      { workerId: 'a-0', modelId: LLAMA },
      { workerId: 'a-1', modelId: QWEN },
      { workerId: 'b-0', modelId: LLAMA },
    ]);
    await fleet.hive('hive-a', [
      { workerId: 'a-0', modelId: LLAMA, fields: { gpuPercent: 5 } },
      { workerId: 'a-1', modelId: QWEN },
    ]);
    await fleet.hive('hive-b', [{ workerId: 'b-0', modelId: LLAMA, fields: { gpuPercent: 50 } }]);
  });

  test('a chat completion: the worker picked by the scheduler answers, named in x-hive-worker and x-hive-id', async () => {
    const { data, response } = await fleet!.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES, max_tokens: 6 }).withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe(LLAMA);
    expect(data.choices[0]?.message.content?.split(' ')).toHaveLength(6);
    expect(data.usage).toMatchObject({ completion_tokens: 6 });
    expect({ worker: response.headers.get('x-hive-worker'), hive: response.headers.get('x-hive-id') }).toEqual({ worker: 'a-0', hive: 'hive-a' });
    expect(fleet!.inference.stats('a-0').served).toBe(1);
    expect(fleet!.queen.queen.scheduling.reservationCount).toBe(0);
  });

  test('a streaming chat completion passes through chunk by chunk; the text is the plain answer', async () => {
    const client = fleet!.openai();
    const plain = await client.chat.completions.create({ model: QWEN, messages: MESSAGES, max_tokens: 12 });
    const stream = await client.chat.completions.create({ model: QWEN, messages: MESSAGES, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
    const deltas: string[] = [];
    let finish: string | null | undefined;
    let usage: unknown;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas.length).toBe(plain.usage?.completion_tokens);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(plain.choices[0]?.message.content);
    expect(finish).toBe(plain.choices[0]?.finish_reason);
    expect(usage).toEqual(plain.usage);
    expect(fleet!.queen.queen.scheduling.reservationCount).toBe(0);
  });

  test('completions and embeddings go through the same way', async () => {
    const client = fleet!.openai();
    const completion = await client.completions.create({ model: LLAMA, prompt: 'Once upon a time', max_tokens: 3 });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text.trim().split(' ')).toHaveLength(3);
    const embedding = await client.embeddings.create({ model: QWEN, input: ['one', 'two'] });
    expect(embedding.data.map((d) => d.index)).toEqual([0, 1]);
    expect(embedding.data[0]?.embedding.length).toBeGreaterThan(0);
  });

  test('GET /v1/models lists exactly the models loaded on online workers, each once', async () => {
    const models = await fleet!.openai().models.list();
    expect(models.data.map((m) => [m.id, m.object, m.owned_by])).toEqual([
      [LLAMA, 'model', 'hive-registry'],
      [QWEN, 'model', 'hive-registry'],
    ]);
    expect((models.data[0] as unknown as { workers: number }).workers).toBe(2);
  });

  test('a model loaded nowhere is 404 model_not_found; bad input is 400 naming the field', async () => {
    const client = fleet!.openai();
    const notFound = await client.chat.completions.create({ model: 'org/nowhere', messages: MESSAGES }).catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
    expect((notFound as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const port = fleet!.queen.httpPort;
    const cases: [string, string | undefined, number, RegExp][] = [
      ['{not json', 'application/json', 400, /^request body: not valid JSON/],
      ['[1,2]', 'application/json', 400, /^request body: must be a JSON object/],
      ['{"messages":[]}', 'application/json', 400, /^model: required/],
      ['{"model":7}', 'application/json', 400, /^model: must be a string, got number/],
      ['{"model":"a b"}', 'application/json', 400, /^model: must not contain whitespace/],
      [`{"model":"${LLAMA}","stream":"yes"}`, 'application/json', 400, /^stream: must be a boolean/],
      [`{"model":"${LLAMA}"}`, 'text/plain', 400, /^content-type: must be application\/json/],
    ];
    for (const [body, type, status, message] of cases) {
      const answer = await httpFetch(port, '/v1/chat/completions', { method: 'POST', body, headers: type === undefined ? {} : { 'content-type': type } });
      expect({ body, status: answer.status }).toEqual({ body, status });
      expect(JSON.parse(answer.body).error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(message) });
    }
    const wrongMethod = await httpFetch(port, '/v1/chat/completions');
    expect({ status: wrongMethod.status, allow: wrongMethod.headers['allow'] }).toEqual({ status: 405, allow: 'POST' });
  });

  test('a body over --gateway-max-body is 413, unread', async () => {
    await fleet!.stop();
    fleet = await GatewayFleet.start([{ workerId: 'a-0', modelId: LLAMA }], { gatewayMaxBodyBytes: 1_000 });
    await fleet.hive('hive-a', [{ workerId: 'a-0', modelId: LLAMA }]);
    const answer = await httpFetch(fleet.queen.httpPort, '/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: LLAMA, messages: [{ role: 'user', content: 'x'.repeat(2_000) }] }),
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.message).toBe('request body: must be at most 1000 bytes');
  });

  test("a worker's 4xx goes back as it is and counts as the worker's success", async () => {
    const answer = await fleet!
      .openai()
      .chat.completions.create({ model: LLAMA, messages: [] as never, max_tokens: -1 })
      .catch((e: unknown) => e);
    expect(answer).toBeInstanceOf(OpenAI.BadRequestError);
    expect((answer as InstanceType<typeof OpenAI.BadRequestError>).headers.get('x-hive-worker')).toBe('a-0');
    expect(fleet!.queen.queen.scheduling.failureOf('a-0')).toBeUndefined();
    expect(await metric('hive_registry_gateway_requests_total', { endpoint: 'chat_completions', outcome: 'client_error' })).toBe(1);
  });
});

describe('failures', () => {
  test('a worker that refuses connections is reported and the request goes to another: the client sees success', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'good', modelId: LLAMA }]);
    const refusing = `http://127.0.0.1:${await deadPort()}`;
    // The refusing worker has the lower GPU load: it is picked first.
    await fleet.hive('hive-a', [
      { workerId: 'dead', modelId: LLAMA, url: refusing, fields: { gpuPercent: 1 } },
      { workerId: 'good', modelId: LLAMA, fields: { gpuPercent: 60 } },
    ]);
    const { data, response } = await fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES, max_tokens: 2 }).withResponse();
    expect(data.choices[0]?.message.content).toBeTruthy();
    expect(response.headers.get('x-hive-worker')).toBe('good');
    const scheduling = fleet.queen.queen.scheduling;
    expect(scheduling.failureOf('dead')).toMatchObject({ failures: 1 });
    expect(scheduling.failureOf('good')).toBeUndefined();
    expect(scheduling.reservationCount).toBe(0);
    expect(await metric('hive_registry_gateway_retries_total', { reason: 'refused' })).toBe(1);
    expect(await metric('hive_registry_gateway_requests_total', { endpoint: 'chat_completions', outcome: 'ok' })).toBe(1);
  });

  test('a worker that resets the connection before answering, or never answers, is retried on another', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'good', modelId: LLAMA }], { gatewayResponseTimeoutMs: 300 });
    const resetting = createServer().on('connection', (socket) => socket.once('data', () => socket.resetAndDestroy()));
    const silent = createServer(() => undefined);
    for (const server of [resetting, silent]) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
    }
    const url = (server: Server) => `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await fleet.hive('hive-a', [
      { workerId: 'resetting', modelId: LLAMA, url: url(resetting), fields: { gpuPercent: 1 } },
      { workerId: 'good', modelId: LLAMA, fields: { gpuPercent: 60 } },
    ]);
    await fleet.hive('hive-b', [
      { workerId: 'silent', modelId: QWEN, url: url(silent), fields: { gpuPercent: 1 } },
      { workerId: 'good-qwen', modelId: QWEN, url: fleet.inference.urlOf('good'), fields: { gpuPercent: 60 } },
    ]);
    const afterReset = await fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES, max_tokens: 1 }).withResponse();
    expect(afterReset.response.headers.get('x-hive-worker')).toBe('good');
    expect(await metric('hive_registry_gateway_retries_total', { reason: 'reset' })).toBe(1);
    // The simulated worker only has LLAMA: for QWEN it answers 404, a 4xx that goes back as it is (and no retry).
    const afterSilence = await fleet.openai().chat.completions.create({ model: QWEN, messages: MESSAGES, max_tokens: 1 }).catch((e: unknown) => e);
    expect(afterSilence).toBeInstanceOf(OpenAI.NotFoundError);
    expect((afterSilence as InstanceType<typeof OpenAI.NotFoundError>).headers.get('x-hive-worker')).toBe('good-qwen');
    expect(await metric('hive_registry_gateway_retries_total', { reason: 'timeout' })).toBe(1);
    const scheduling = fleet.queen.queen.scheduling;
    expect([scheduling.failureOf('resetting')?.failures, scheduling.failureOf('silent')?.failures]).toEqual([1, 1]);
    expect(scheduling.reservationCount).toBe(0);
  });

  test('5xx before any byte is retried once on another worker; two failures give the last answer back', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'good', modelId: LLAMA }]);
    await fleet.hive('hive-a', [
      { workerId: 'broken', modelId: LLAMA, url: await answering(500), fields: { gpuPercent: 1 } },
      { workerId: 'good', modelId: LLAMA, fields: { gpuPercent: 60 } },
    ]);
    const first = await fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES, max_tokens: 2 }).withResponse();
    expect(first.response.headers.get('x-hive-worker')).toBe('good');
    expect(await metric('hive_registry_gateway_retries_total', { reason: 'status_5xx' })).toBe(1);

    await fleet.hive('hive-b', [
      { workerId: 'broken-1', modelId: QWEN, url: await answering(503), fields: { gpuPercent: 1 } },
      { workerId: 'broken-2', modelId: QWEN, url: await answering(500), fields: { gpuPercent: 2 } },
    ]);
    const failed = await fleet.openai().chat.completions.create({ model: QWEN, messages: MESSAGES }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.InternalServerError);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    expect((failed as InstanceType<typeof OpenAI.APIError>).headers?.get('x-hive-worker')).toBe('broken-2');
    const scheduling = fleet.queen.queen.scheduling;
    expect([scheduling.failureOf('broken-1')?.failures, scheduling.failureOf('broken-2')?.failures]).toEqual([1, 1]);
    expect(scheduling.reservationCount).toBe(0);
    expect(await metric('hive_registry_gateway_requests_total', { endpoint: 'chat_completions', outcome: 'upstream_error' })).toBe(1);
  });

  test('a worker killed in the middle of a stream: the client sees an error, the slot is released, the worker excluded', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'w', modelId: LLAMA }], {}, { chunkDelayMs: 20 });
    await fleet.hive('hive-a', [{ workerId: 'w', modelId: LLAMA }]);
    const stream = await fleet.openai().chat.completions.create({
      model: LLAMA,
      messages: MESSAGES,
      stream: true,
      max_tokens: 1_000,
      // The simulated worker's vLLM-style flag: exactly max_tokens tokens, a stream that would last 20 s.
      ignore_eos: true,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let chunks = 0;
    const read = (async () => {
      for await (const chunk of stream) {
        chunks++;
        if (chunks === 3) fleet!.inference.kill('w');
        void chunk;
      }
    })();
    await expect(read).rejects.toThrow();
    expect(chunks).toBeGreaterThanOrEqual(3);
    const scheduling = fleet.queen.queen.scheduling;
    expect(scheduling.reservationCount).toBe(0);
    expect(scheduling.failureOf('w')).toMatchObject({ failures: 1 });
    expect(await metric('hive_registry_gateway_requests_total', { endpoint: 'chat_completions', outcome: 'upstream_error' })).toBe(1);
  });

  test('a client that goes away cancels the request to the worker and releases the slot (no failure reported)', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'w', modelId: LLAMA }], {}, { chunkDelayMs: 20 });
    await fleet.hive('hive-a', [{ workerId: 'w', modelId: LLAMA }]);
    const abort = new AbortController();
    const stream = await fleet.openai().chat.completions.create(
      { model: LLAMA, messages: MESSAGES, stream: true, max_tokens: 1_000, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsStreaming,
      { signal: abort.signal },
    );
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        void chunk;
        if (++chunks === 3) abort.abort();
      }
    } catch {
      // An aborted stream may end quietly or with an abort error, by the client's own choice.
    }
    expect(chunks).toBe(3);
    const scheduling = fleet.queen.queen.scheduling;
    for (let i = 0; i < 100 && (scheduling.reservationCount > 0 || fleet.inference.stats('w').aborted === 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(scheduling.reservationCount).toBe(0);
    expect(fleet.inference.stats('w')).toMatchObject({ aborted: 1, inFlight: 0 });
    expect(scheduling.failureOf('w')).toBeUndefined();
  });
});

describe('--gateway-allow-upstream', () => {
  test('a worker URL outside the list gets nothing sent: reported, retried elsewhere, 502 naming the flag', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'local', modelId: LLAMA }], { gatewayAllowUpstream: '10.0.0.0/8' });
    const port = fleet.inference.address.port;
    await fleet.hive('hive-a', [
      { workerId: 'local', modelId: LLAMA, fields: { gpuPercent: 1 } },
      { workerId: 'by-name', modelId: LLAMA, url: `http://localhost:${port}/w/local`, fields: { gpuPercent: 2 } },
    ]);
    const refused = await fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const error = refused as InstanceType<typeof OpenAI.APIError>;
    expect({ status: error.status, code: error.code }).toEqual({ status: 502, code: 'upstream_failed' });
    expect(error.message).toMatch(/worker by-name on hive hive-a has a URL outside --gateway-allow-upstream/);
    expect(fleet.inference.stats('local').served).toBe(0);
    expect(await metric('hive_registry_gateway_retries_total', { reason: 'not_allowed' })).toBe(1);
    const scheduling = fleet.queen.queen.scheduling;
    expect([scheduling.failureOf('local')?.failures, scheduling.failureOf('by-name')?.failures]).toEqual([1, 1]);
  });

  test('inside the list, by address or by name, requests go through', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'local', modelId: LLAMA }], { gatewayAllowUpstream: '127.0.0.0/8,::1' });
    const port = fleet.inference.address.port;
    await fleet.hive('hive-a', [{ workerId: 'by-name', modelId: LLAMA, url: `http://localhost:${port}/w/local` }]);
    const { response } = await fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES, max_tokens: 1 }).withResponse();
    expect(response.headers.get('x-hive-worker')).toBe('by-name');
    expect(fleet.inference.stats('local').served).toBe(1);
  });
});

describe('waiting for a slot', () => {
  test('no free slot: the request waits, and gets the slot when it comes free', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'w', modelId: LLAMA }]);
    await fleet.hive('hive-a', [{ workerId: 'w', modelId: LLAMA, fields: { maxConcurrency: 1 } }]);
    const held = await fleet.queen.rpc.findBestWorkerForModel({ modelId: LLAMA, reserve: true });
    const answer = fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES, max_tokens: 1 });
    for (let i = 0; i < 100 && Number(await metric('hive_registry_gateway_requests_waiting', {})) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await metric('hive_registry_gateway_requests_waiting', {})).toBe(1);
    expect(fleet.inference.stats('w').served).toBe(0);
    await fleet.queen.rpc.releaseWorker({ reservationId: held.reservationId, success: true });
    expect((await answer).choices).toHaveLength(1);
  });

  test('none within --gateway-queue-timeout: 503 with Retry-After, in the OpenAI form', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'w', modelId: LLAMA }], { gatewayQueueTimeoutMs: 200 });
    await fleet.hive('hive-a', [{ workerId: 'w', modelId: LLAMA, fields: { state: WorkerStatus.BUSY } }]);
    const refused = await fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const error = refused as InstanceType<typeof OpenAI.APIError>;
    expect({ status: error.status, code: error.code, retryAfter: error.headers?.get('retry-after') }).toEqual({ status: 503, code: 'no_capacity', retryAfter: '1' });
    expect(error.message).toMatch(/no worker with model "org\/llama" had a free slot within 200 ms/);
    expect(await metric('hive_registry_gateway_requests_total', { endpoint: 'chat_completions', outcome: 'no_capacity' })).toBe(1);
  });

  test('1,000 concurrent requests over 20 workers: every one answered, each worker within 2x of the mean', async () => {
    const workers = Array.from({ length: 20 }, (_, i) => ({ workerId: `w-${i}`, modelId: LLAMA }));
    fleet = await GatewayFleet.start(workers, {}, { firstByteDelayMs: 2, chunkDelayMs: 1 });
    for (let h = 0; h < 5; h++) await fleet.hive(`hive-${h}`, workers.slice(h * 4, h * 4 + 4));
    const client = fleet.openai();
    const answers = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        client.chat.completions.create({ model: LLAMA, messages: [{ role: 'user', content: `request ${i}` }], max_tokens: 2 }).withResponse(),
      ),
    );
    const counts = new Map<string, number>();
    for (const { data, response } of answers) {
      expect(data.choices).toHaveLength(1);
      const worker = response.headers.get('x-hive-worker') ?? '';
      counts.set(worker, (counts.get(worker) ?? 0) + 1);
    }
    expect(counts.size).toBe(20);
    const mean = 1_000 / 20;
    for (const [worker, count] of counts) {
      expect({ worker, within: count >= mean / 2 && count <= mean * 2 }).toEqual({ worker, within: true });
    }
    for (const { workerId } of workers) expect(fleet.inference.stats(workerId).peakInFlight).toBeLessThanOrEqual(4);
    expect(fleet.queen.queen.scheduling.reservationCount).toBe(0);
  }, 60_000);
});

describe('with auth on', () => {
  const READ = 'gateway-read-token';
  const ADMIN = 'gateway-admin-token';
  const caller = (name: string, role: Caller['role'], token: string): Caller => ({ name, role, tokenSha256: createHash('sha256').update(token).digest() });
  const callers = [caller('app', 'read', READ), caller('ops', 'admin', ADMIN)];

  test('a read token as the API key gets in; none or an unknown one is 401 in the OpenAI form', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'w', modelId: LLAMA }], { callers });
    const admin = fleet.queen.newClient(ADMIN);
    await admin.catalog.registerHive({ hiveId: 'hive-a' });
    const issued = await admin.catalog.issueHiveToken({ hiveId: 'hive-a' });
    expect((await fleet.openai(READ).models.list()).data).toEqual([]);
    const refused = await fleet.openai('wrong').models.list().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((refused as InstanceType<typeof OpenAI.AuthenticationError>).error).toMatchObject({ type: 'authentication_error' });
    const hiveToken = await fleet.openai(issued.token).models.list().catch((e: unknown) => e);
    expect(hiveToken).toBeInstanceOf(OpenAI.PermissionDeniedError);
  });
});

describe('shutdown', () => {
  test('from the moment the queen drains, a request waiting for a slot gets 503 shutting_down', async () => {
    fleet = await GatewayFleet.start([{ workerId: 'w', modelId: LLAMA }]);
    await fleet.hive('hive-a', [{ workerId: 'w', modelId: LLAMA, fields: { state: WorkerStatus.BUSY } }]);
    const waiting = fleet.openai().chat.completions.create({ model: LLAMA, messages: MESSAGES }).catch((e: unknown) => e);
    for (let i = 0; i < 100 && Number(await metric('hive_registry_gateway_requests_waiting', {})) === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const stopping = fleet.queen.stop();
    const refused = (await waiting) as InstanceType<typeof OpenAI.APIError>;
    expect({ status: refused.status, code: refused.code, retryAfter: refused.headers?.get('retry-after') }).toEqual({
      status: 503,
      code: 'shutting_down',
      retryAfter: '1',
    });
    await stopping;
  });
});
