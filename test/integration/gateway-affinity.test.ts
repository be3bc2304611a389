// Prefix affinity through the gateway, against a real queen and simulated workers over HTTP (their simulated
// prefix cache says hit or miss): requests sharing a prompt prefix stick to one worker, affinity yields under load,
// no worker runs more than its slots, the off switch, and hostile bodies.
import { GatewayFleet } from '../helpers/gateway-fleet';
import { httpFetch } from '../helpers/http';
import { parsePrometheusText } from '../helpers/prometheus-text';

const MODEL = 'org/llama';
const SYSTEM_A = `You are the assistant of team A. ${'Answer briefly and cite the manual. '.repeat(40)}`;
const SYSTEM_B = `You are the assistant of team B. ${'Answer at length and ask questions. '.repeat(40)}`;

let fleet: GatewayFleet | undefined;
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

interface Answer {
  readonly status: number;
  readonly worker: string | undefined;
  readonly blocks: string | undefined;
  readonly cache: string | undefined;
  readonly body: string;
}

/** POSTs `body` (an object, or raw text) to the gateway's chat completions. */
async function chat(body: unknown, path = '/v1/chat/completions'): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${fleet!.queen.httpPort}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    worker: response.headers.get('x-hive-worker') ?? undefined,
    blocks: response.headers.get('x-hive-prefix-blocks') ?? undefined,
    cache: response.headers.get('x-simulated-prefix-cache') ?? undefined,
    body: await response.text(),
  };
}

function request(system: string, user: string): object {
  return { model: MODEL, max_tokens: 2, messages: [{ role: 'system', content: system }, { role: 'user', content: user }] };
}

async function counter(name: string): Promise<number | undefined> {
  const scrape = await httpFetch(fleet!.queen.httpPort, '/metrics');
  return parsePrometheusText(scrape.body).value(name, {});
}

async function startFleet(config: Parameters<typeof GatewayFleet.start>[1] = {}, firstByteDelayMs = 1): Promise<void> {
  const workers = ['w-0', 'w-1', 'w-2'].map((workerId) => ({ workerId, modelId: MODEL }));
  fleet = await GatewayFleet.start(workers, config, { firstByteDelayMs });
  await fleet.hive('hive-a', workers);
}

test('requests sharing a prompt prefix stick to one worker, whose cache then hits; the header counts the blocks', async () => {
  await startFleet();
  const answers: Answer[] = [];
  for (const user of ['hello', 'what is a hive?', 'thanks', 'bye']) answers.push(await chat(request(SYSTEM_A, user)));
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
  expect(new Set(answers.map((a) => a.worker)).size).toBe(1);
  expect(answers.map((a) => a.cache)).toEqual(['miss', 'hit', 'hit', 'hit']);
  const fullBlocks = Math.floor(Buffer.byteLength(`system\n${SYSTEM_A}\n`) / 256);
  expect(answers[0]?.blocks).toBe('0');
  for (const a of answers.slice(1)) expect(Number(a.blocks)).toBeGreaterThanOrEqual(fullBlocks);
  expect(await counter('hive_registry_gateway_prefix_hits_total')).toBe(3);
  expect(await counter('hive_registry_gateway_prefix_misses_total')).toBe(1);
  // Another prompt is a miss, and goes by load (the least loaded: all are idle, so the order's first).
  const other = await chat(request(SYSTEM_B, 'hello'));
  expect({ blocks: other.blocks, cache: other.cache }).toEqual({ blocks: '0', cache: 'miss' });
});

test('affinity yields under load: concurrent requests of one prefix spread once the sticky worker is past the slack', async () => {
  await startFleet({}, 400);
  const first = await chat(request(SYSTEM_A, 'warm up'));
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => chat(request(SYSTEM_A, `question ${i}`))));
  expect(answers.every((a) => a.status === 200)).toBe(true);
  const byWorker = new Map<string, number>();
  for (const a of answers) byWorker.set(a.worker ?? '', (byWorker.get(a.worker ?? '') ?? 0) + 1);
  // The sticky worker takes requests while within 0.25 of the least loaded (1 of 4 slots), then the others do.
  expect(byWorker.size).toBeGreaterThan(1);
  expect(byWorker.get(first.worker ?? '')).toBeLessThan(6);
  expect(byWorker.get(first.worker ?? '')).toBeGreaterThanOrEqual(2);
});

test('no worker ever runs more than its slots, with many prefixes at once; every request is answered', async () => {
  await startFleet({}, 50);
  const systems = [SYSTEM_A, SYSTEM_B, `${SYSTEM_A} (variant)`];
  const answers = await Promise.all(Array.from({ length: 36 }, (_, i) => chat(request(systems[i % 3] as string, `turn ${i}`))));
  expect(answers.filter((a) => a.status !== 200)).toEqual([]);
  for (const workerId of ['w-0', 'w-1', 'w-2']) expect(fleet!.inference.stats(workerId).peakInFlight).toBeLessThanOrEqual(4);
  expect(fleet!.queen.queen.scheduling.reservationCount).toBe(0);
});

test('the off switch: no x-hive-prefix-blocks, no prefix counting, and the load order alone spreads one prefix', async () => {
  await startFleet({ gatewayPrefixAffinity: false }, 200);
  const answers = await Promise.all(Array.from({ length: 3 }, (_, i) => chat(request(SYSTEM_A, `question ${i}`))));
  expect(answers.map((a) => a.blocks)).toEqual([undefined, undefined, undefined]);
  // Three at once over three idle workers: one each, whatever their prompt.
  expect(new Set(answers.map((a) => a.worker)).size).toBe(3);
  expect(await counter('hive_registry_gateway_prefix_hits_total')).toBe(0);
  expect(await counter('hive_registry_gateway_prefix_misses_total')).toBe(0);
});

describe('hostile bodies', () => {
  test('a huge prompt is hashed within the body limit; one byte over the limit is 413', async () => {
    await startFleet({ gatewayMaxBodyBytes: 1_048_576 });
    const filler = 'x'.repeat(1_048_576 - 200);
    const big = request(filler, 'hi');
    expect(Buffer.byteLength(JSON.stringify(big))).toBeLessThanOrEqual(1_048_576);
    const first = await chat(big);
    expect(first.status).toBe(200);
    const again = await chat(big);
    expect(Number(again.blocks)).toBe(Math.floor(Buffer.byteLength(`system\n${filler}\nuser\nhi\n`) / 256));
    const over = await chat(request(`${filler}${'y'.repeat(300)}`, 'hi'));
    expect(over.status).toBe(413);
  });

  test('content parts that are not text add nothing to the prompt; text parts do', async () => {
    await startFleet();
    const parts = (extra: object[]) => ({
      model: MODEL,
      max_tokens: 2,
      messages: [{ role: 'user', content: [{ type: 'text', text: SYSTEM_A }, ...extra] }],
    });
    const first = await chat(parts([]));
    const withImage = await chat(parts([{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }, { type: 'input_audio', x: 1 }]));
    expect({ status: withImage.status, worker: withImage.worker }).toEqual({ status: 200, worker: first.worker });
    expect(Number(withImage.blocks)).toBe(Math.floor(Buffer.byteLength(`user\n${SYSTEM_A}\n`) / 256));
    const onlyImage = await chat({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] });
    expect(onlyImage.blocks).toBe('0');
  });

  test('a body without messages is forwarded by load alone; the worker answers it, and the gateway goes on', async () => {
    await startFleet();
    const missing = await chat({ model: MODEL });
    expect(missing.status).toBe(400);
    expect(missing.blocks).toBeUndefined();
    expect(missing.body).toMatch(/messages/);
    const odd = await chat({ model: MODEL, messages: 'not a list' });
    expect(odd.status).toBe(400);
    const fine = await chat(request(SYSTEM_A, 'still here'));
    expect(fine.status).toBe(200);
  });
});
