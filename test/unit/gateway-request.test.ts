// What the gateway reads of a request and how it forwards one: body checks, the worker URL + path, headers.
import { parseInferenceRequest } from '../../src/gateway/gateway-request';
import { forwardedRequestHeaders, forwardedResponseHeaders, upstreamUrl } from '../../src/gateway/upstream';
import { UpstreamAllowList } from '../../src/gateway/upstream-allow';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

test('model and stream are read; the body is kept as it came, byte for byte', () => {
  const body = Buffer.from('{ "model" : "org/m", "stream": true, "messages": [] }');
  expect(parseInferenceRequest(body, 'application/json; charset=utf-8')).toEqual({ body, model: 'org/m', stream: true, json: { model: 'org/m', stream: true, messages: [] } });
  expect(parseInferenceRequest(json({ model: 'org/m', stream: null }), undefined)).toMatchObject({ stream: false });
});

test.each([
  ['{', 'application/json', 'body', /^request body: not valid JSON/],
  ['"text"', 'application/json', 'body', /^request body: must be a JSON object/],
  ['null', 'application/json', 'body', /^request body: must be a JSON object/],
  ['{}', 'application/json', 'model', /^model: required$/],
  ['{"model":["a"]}', 'application/json', 'model', /^model: must be a string, got object$/],
  ['{"model":""}', 'application/json', 'model', /^model: must not be empty$/],
  ['{"model":"m","stream":1}', 'application/json', 'stream', /^stream: must be a boolean, got number$/],
  ['{"model":"m"}', 'application/x-www-form-urlencoded', 'content-type', /^content-type: must be application\/json/],
])('%s (%s): 400 naming %s', (body, type, param, message) => {
  const answer = parseInferenceRequest(Buffer.from(body), type);
  expect(answer).toMatchObject({ status: 400, body: { error: { type: 'invalid_request_error', param, message: expect.stringMatching(message) } } });
});

test("upstream URL: the worker's URL path without its trailing slash, then the request's path and query", () => {
  expect(upstreamUrl('http://10.0.0.5:8000', '/v1/chat/completions').href).toBe('http://10.0.0.5:8000/v1/chat/completions');
  expect(upstreamUrl('http://10.0.0.5:8000/', '/v1/embeddings').href).toBe('http://10.0.0.5:8000/v1/embeddings');
  expect(upstreamUrl('https://gpu.example/w/a%3Ab/', '/v1/completions?x=1').href).toBe('https://gpu.example/w/a%3Ab/v1/completions?x=1');
  expect(upstreamUrl('http://h/base?ignored=1', '/v1/completions').href).toBe('http://h/base/v1/completions');
});

test("forwarded request headers: the client's credentials, hop-by-hop headers and Expect stay behind; the length is the body's", () => {
  const headers = forwardedRequestHeaders(
    {
      authorization: 'Bearer gateway-token',
      cookie: 'session=1',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      host: 'queen:9090',
      expect: '100-continue',
      'content-length': '999',
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'x-stainless-lang': 'js',
    },
    42,
  );
  expect(headers).toEqual({ 'content-type': 'application/json', accept: 'text/event-stream', 'x-stainless-lang': 'js', 'content-length': '42' });
});

test('forwarded response headers: hop-by-hop headers stay behind, the rest (content-length included) go through', () => {
  expect(
    forwardedResponseHeaders({ 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked', connection: 'close', 'content-length': '10', 'x-request-id': 'abc' }),
  ).toEqual({ 'content-type': 'text/event-stream', 'content-length': '10', 'x-request-id': 'abc' });
});

describe('--gateway-allow-upstream', () => {
  test('addresses and CIDR blocks, v4 and v6; empty allows everything', () => {
    const list = UpstreamAllowList.parse(' 10.0.0.0/8, 192.168.1.7 ,fd00::/8 ');
    expect([list.allows('10.1.2.3'), list.allows('192.168.1.7'), list.allows('192.168.1.8'), list.allows('fd00::1'), list.allows('::1')]).toEqual([
      true,
      true,
      false,
      true,
      false,
    ]);
    expect(list.allows('not-an-address')).toBe(false);
    expect(UpstreamAllowList.parse('').open).toBe(true);
    expect(UpstreamAllowList.parse('').allows('169.254.169.254')).toBe(true);
  });

  test.each(['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/x', '1.2.3.4,'])('%s is refused, named', (text) => {
    expect(() => UpstreamAllowList.parse(text)).toThrow(/is not an IP address or a CIDR block such as 10\.0\.0\.0\/8/);
  });

  test('host names are resolved, and only allowed addresses are used', async () => {
    const lookup = UpstreamAllowList.parse('127.0.0.0/8').lookup();
    const allowed = await new Promise<unknown>((resolve) => lookup('localhost', { family: 4 }, (error, address) => resolve(error ?? address)));
    expect(allowed).toBe('127.0.0.1');
    const refusing = UpstreamAllowList.parse('10.0.0.0/8').lookup();
    const refused = await new Promise<NodeJS.ErrnoException | null>((resolve) => refusing('localhost', { family: 4 }, (error) => resolve(error)));
    expect(refused?.code).toBe('ERR_UPSTREAM_NOT_ALLOWED');
    expect(refused?.message).toMatch(/^localhost resolves to 127\.0\.0\.1, outside --gateway-allow-upstream 10\.0\.0\.0\/8$/);
  });
});
