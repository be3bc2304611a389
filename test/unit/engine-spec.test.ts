import {
  baseWorkerId,
  checkDistinct,
  checkWorkerIds,
  parseEngineSpec,
  parseEnginesJson,
  portOf,
} from '../../src/agent/engines/engine-spec';
import { advertisedUrl, isLocalEngine, pollUrl } from '../../src/agent/engines/engine-url';

describe('parseEngineSpec', () => {
  it.each([
    ['http://127.0.0.1:8000', { url: 'http://127.0.0.1:8000' }],
    ['http://127.0.0.1:8000/', { url: 'http://127.0.0.1:8000' }],
    ['https://gpu-1.lan/vllm/', { url: 'https://gpu-1.lan/vllm' }],
    ['HTTP://[::1]:8080', { url: 'http://[::1]:8080' }],
    [
      'url=http://127.0.0.1:8080,kind=llama.cpp,id=big-llama,device=1,backend=CUDA,max-concurrency=8',
      { url: 'http://127.0.0.1:8080', kind: 'llama.cpp', id: 'big-llama', device: 1, backend: 'cuda', maxConcurrency: 8 },
    ],
    ['url=http://10.0.0.5:11434, kind=ollama', { url: 'http://10.0.0.5:11434', kind: 'ollama' }],
  ])('%s', (text, spec) => {
    expect(parseEngineSpec(text)).toEqual(spec);
  });

  it.each([
    ['kind=vllm', 'url: required'],
    ['url=ftp://127.0.0.1:21', 'url: must be http or https, got "ftp"'],
    ['url=127.0.0.1:8000', 'url: must be an absolute http(s) URL'],
    ['url=http://127.0.0.1:8000?x=1', 'url: must not have a query or fragment'],
    ['url=http://user:pw@127.0.0.1:8000', 'url: must not carry credentials'],
    ['url=http://127.0.0.1:8000,kind=triton', 'kind: must be one of vllm, llama.cpp, ollama, sglang, tgi, got "triton"'],
    ['url=http://127.0.0.1:8000,id=has space', 'id: must contain only the characters [A-Za-z0-9._:-]'],
    ['url=http://127.0.0.1:8000,device=-1', 'device: must be a whole number from 0 to 4294967295, got "-1"'],
    ['url=http://127.0.0.1:8000,backend=tpu', 'backend: must be one of cpu, cuda, metal, rocm, got "tpu"'],
    ['url=http://127.0.0.1:8000,max-concurrency=0', 'max-concurrency: must be a whole number from 1 to 4096, got "0"'],
    ['url=http://127.0.0.1:8000,max-concurrency=5000', 'max-concurrency: must be a whole number from 1 to 4096, got "5000"'],
    ['url=http://127.0.0.1:8000,colour=blue', 'unknown key "colour": the keys are url, kind, id, device, backend, max-concurrency'],
    ['url=http://127.0.0.1:8000,kind=vllm,kind=tgi', 'kind: given twice'],
    ['127.0.0.1:8000', '"127.0.0.1:8000" is not key=value'],
  ])('rejects %s naming the key', (text, message) => {
    expect(() => parseEngineSpec(text)).toThrow(message);
  });
});

describe('parseEnginesJson', () => {
  it('reads an array of engine objects', () => {
    expect(
      parseEnginesJson('[{"url":"http://127.0.0.1:8000","kind":"vllm","device":0},{"url":"http://127.0.0.1:11434","maxConcurrency":2}]'),
    ).toEqual([
      { url: 'http://127.0.0.1:8000', kind: 'vllm', device: 0 },
      { url: 'http://127.0.0.1:11434', maxConcurrency: 2 },
    ]);
    expect(parseEnginesJson('[]')).toEqual([]);
  });

  it.each([
    ['{"url":"http://127.0.0.1:8000"}', 'must be a JSON array of engine objects'],
    ['[{"url":', 'invalid JSON'],
    ['["http://127.0.0.1:8000"]', '[0]: must be an object'],
    ['[{"url":"http://127.0.0.1:8000"},{"kind":"vllm"}]', '[1].url: required'],
    ['[{"url":"http://127.0.0.1:8000","max-concurrency":2}]', '[0].max-concurrency: unknown key'],
    ['[{"url":"http://127.0.0.1:8000","maxConcurrency":"lots"}]', '[0].maxConcurrency: must be a whole number from 1 to 4096, got "lots"'],
    ['[{"url":"http://127.0.0.1:8000","device":true}]', '[0].device: must be a number'],
    ['[{"url":"http://127.0.0.1:8000","maxConcurrency":1.5}]', '[0].maxConcurrency: must be a whole number'],
    ['[{"url":"http://127.0.0.1:8000"},{"url":"http://127.0.0.1:8000/"}]', 'url: http://127.0.0.1:8000 is given twice'],
    ['[{"url":"http://127.0.0.1:1","id":"x"},{"url":"http://127.0.0.1:2","id":"x"}]', 'id: "x" is given twice'],
  ])('rejects %s naming the entry and key', (text, message) => {
    expect(() => parseEnginesJson(text)).toThrow(message);
  });
});

describe('worker ids and ports', () => {
  it('defaults to <hive-id>-<port>, the scheme port when the URL has none', () => {
    expect(baseWorkerId({ url: 'http://127.0.0.1:8000' }, 'gpu-1')).toBe('gpu-1-8000');
    expect(baseWorkerId({ url: 'https://engine.lan' }, 'gpu-1')).toBe('gpu-1-443');
    expect(baseWorkerId({ url: 'http://engine.lan', id: 'mine' }, 'gpu-1')).toBe('mine');
    expect(portOf('http://engine.lan/x')).toBe(80);
    expect(baseWorkerId({ url: 'http://127.0.0.1:8000' }, 'h'.repeat(128))).toHaveLength(128);
  });

  it('refuses two engines that would report the same worker id', () => {
    expect(() => checkWorkerIds([{ url: 'http://127.0.0.1:8000' }, { url: 'http://10.0.0.2:8000' }], 'gpu-1')).toThrow(
      'id: http://10.0.0.2:8000 and http://127.0.0.1:8000 would both be worker "gpu-1-8000"; give one of them id=',
    );
    expect(() => checkWorkerIds([{ url: 'http://127.0.0.1:8000' }, { url: 'http://10.0.0.2:8000', id: 'remote' }], 'gpu-1')).not.toThrow();
    expect(() => checkDistinct(Array.from({ length: 1025 }, (_, i) => ({ url: `http://127.0.0.1:${i + 1}` })))).toThrow('at most 1024 engines');
  });
});

describe('engine URLs', () => {
  it('polls a wildcard engine on loopback', () => {
    expect(pollUrl('http://0.0.0.0:8000')).toBe('http://127.0.0.1:8000');
    expect(pollUrl('http://[::]:8000/v')).toBe('http://[::1]:8000/v');
    expect(pollUrl('http://10.1.2.3:8000')).toBe('http://10.1.2.3:8000');
  });

  it('reports a loopback or wildcard host as the advertised host, and other hosts as given', () => {
    expect(advertisedUrl('http://127.0.0.1:8000', '10.0.0.7')).toBe('http://10.0.0.7:8000');
    expect(advertisedUrl('http://localhost:8000/vllm', 'gpu-1.lan')).toBe('http://gpu-1.lan:8000/vllm');
    expect(advertisedUrl('http://0.0.0.0:8000', 'fd00::7')).toBe('http://[fd00::7]:8000');
    expect(advertisedUrl('http://[::1]:8000', '10.0.0.7')).toBe('http://10.0.0.7:8000');
    expect(advertisedUrl('http://10.1.2.3:8000', '10.0.0.7')).toBe('http://10.1.2.3:8000');
    expect(advertisedUrl('http://127.0.0.1:8000', undefined)).toBe('http://127.0.0.1:8000');
  });

  it('tells engines on this machine by their host', () => {
    const local = new Set(['10.0.0.7']);
    expect(isLocalEngine('http://127.0.0.1:8000', local)).toBe(true);
    expect(isLocalEngine('http://0.0.0.0:8000', local)).toBe(true);
    expect(isLocalEngine('http://10.0.0.7:8000', local)).toBe(true);
    expect(isLocalEngine('http://10.0.0.8:8000', local)).toBe(false);
  });
});
