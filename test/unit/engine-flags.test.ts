import { buildAgentConfig } from '../../src/cli/agent-command';

const config = (flags: Record<string, unknown>, env: Record<string, string> = {}) =>
  buildAgentConfig({ hiveId: 'gpu-1', ...flags }, env, '127.0.0.1:50051');

describe('agent flags for engines', () => {
  it('takes --engine SPECs with their defaults', () => {
    const parsed = config({ engine: ['http://127.0.0.1:8000', 'url=http://127.0.0.1:8080,kind=llama.cpp,id=qwen'] });
    expect(parsed.ok && parsed.config.source).toEqual({
      kind: 'engines',
      specs: [{ url: 'http://127.0.0.1:8000' }, { url: 'http://127.0.0.1:8080', kind: 'llama.cpp', id: 'qwen' }],
      pollIntervalMs: 1_000,
      pollTimeoutMs: 2_000,
      gpuStats: 'auto',
    });
  });

  it('takes the engines file, the poll timings, GPU stats and the advertised host (flag over env)', () => {
    const parsed = config(
      { enginesFile: '/etc/hive/engines.json', pollInterval: '500ms', pollTimeout: '3s', gpuStats: 'rocm' },
      { HIVE_REGISTRY_ADVERTISE_HOST: '10.0.0.7' },
    );
    expect(parsed.ok && parsed.config.source).toEqual({
      kind: 'engines',
      specs: [],
      file: '/etc/hive/engines.json',
      advertiseHost: '10.0.0.7',
      pollIntervalMs: 500,
      pollTimeoutMs: 3_000,
      gpuStats: 'rocm',
    });
    const flag = config({ engine: ['http://127.0.0.1:8000'], advertiseHost: '[fd00::7]' }, { HIVE_REGISTRY_ADVERTISE_HOST: '10.0.0.7' });
    expect(flag.ok && flag.config.source.kind === 'engines' && flag.config.source.advertiseHost).toBe('fd00::7');
  });

  it('lists every problem at once, each naming its flag or key', () => {
    const parsed = config({
      engine: ['url=http://127.0.0.1:8000,colour=blue', 'http://127.0.0.1:8001'],
      pollInterval: '10ms',
      pollTimeout: 'soon',
      gpuStats: 'cuda',
      advertiseHost: 'not a host',
    });
    expect(parsed.ok ? [] : parsed.problems).toEqual([
      '--engine #1 "url=http://127.0.0.1:8000,colour=blue": unknown key "colour": the keys are url, kind, id, device, backend, max-concurrency',
      '--poll-interval: must be a duration from 100ms to 3600s such as 500ms or 2s, got "10ms"',
      '--poll-timeout: must be a duration from 100ms to 60s such as 500ms or 2s, got "soon"',
      '--gpu-stats: must be one of auto, nvidia-smi, rocm, none, got "cuda"',
      '--advertise-host: must be a host name or an IP address, got "not a host"',
    ]);
  });

  it('refuses two engines with one worker id, mixed sources, and engine flags without engines', () => {
    const clash = config({ engine: ['http://127.0.0.1:8000', 'http://10.0.0.9:8000'] });
    expect(clash.ok ? [] : clash.problems).toEqual([
      '--engine: id: http://10.0.0.9:8000 and http://127.0.0.1:8000 would both be worker "gpu-1-8000"; give one of them id=',
    ]);
    const mixed = config({ engine: ['http://127.0.0.1:8000'], workersFile: 'w.json' });
    expect(mixed.ok ? [] : mixed.problems).toEqual(['give exactly one of --simulate N, --workers-file FILE, or --engine SPEC (repeatable) / --engines-file FILE']);
    const stray = config({ simulate: '2', pollInterval: '1s', advertiseHost: 'x' });
    expect(stray.ok ? [] : stray.problems).toEqual(['--advertise-host goes with --engine or --engines-file', '--poll-interval goes with --engine or --engines-file']);
    const simOnly = config({ engine: ['http://127.0.0.1:8000'], steady: true });
    expect(simOnly.ok ? [] : simOnly.problems).toEqual(['--steady goes with --simulate, not --engine']);
  });
});
