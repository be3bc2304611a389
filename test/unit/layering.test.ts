// Keeps the dependency direction of STYLE true: the pure domain imports only common/; only server/, agent/,
// simulator/ (gen/ only), client/ (the typed client is a gRPC client) and tests touch gen/ or grpc-js; only catalog/
// touches the SQLite driver; only federation/ touches the etcd client, and catalog/ takes only its types; only
// server/ touches prom-client; the agent's core never imports the simulator (cli/ composes them); nothing imports
// cli/; the dashboard (browser code) imports only itself.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1] ?? '');
}

const files = sourceFiles(SRC).map((file) => ({
  file: relative(SRC, file),
  layer: relative(SRC, file).split('/')[0] ?? '',
  imports: importsOf(file),
}));

/** Which src/ folders each layer may import from. */
const ALLOWED_LAYERS: Record<string, string[]> = {
  common: ['common'],
  registry: ['common', 'registry'],
  scheduler: ['common', 'scheduler'],
  // The etcd catalog is written against federation's EtcdStore interface (types only, see below).
  catalog: ['common', 'registry', 'catalog', 'federation'],
  // etcd behind our own interface: the only layer that imports the etcd client.
  federation: ['common', 'registry', 'federation'],
  server: ['common', 'registry', 'scheduler', 'catalog', 'federation', 'server', 'gateway'],
  // The inference gateway: HTTP in front of the scheduler; metrics through an observer the server implements.
  gateway: ['common', 'registry', 'scheduler', 'gateway'],
  // The agent checks what it reports by the contract's id rules (registry/ids), as the queen will.
  agent: ['common', 'registry', 'server', 'agent'],
  // Simulated workers and their OpenAI server: they fill the agent's snapshot types and use its timers.
  simulator: ['common', 'agent', 'simulator'],
  client: ['common', 'registry', 'catalog', 'server', 'client'],
  cli: [
    'common', 'registry', 'scheduler', 'catalog', 'federation', 'server', 'gateway', 'agent', 'simulator', 'client', 'cli',
  ],
  // The page runs in a browser: it is built on its own and imports nothing else of ours, nor any package.
  dashboard: ['dashboard'],
};

function layerOf(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = relative(SRC, join(SRC, from, '..', specifier));
  return target.startsWith('..') ? `outside:${target.replace(/^(\.\.\/)+/, '')}` : target.split('/')[0];
}

describe('layering', () => {
  test('the scan finds the source files and their imports', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(files.find((f) => f.file === 'server/queen-server.ts')?.imports).toContain('@grpc/grpc-js');
  });

  test.each(files.map((f) => [f.file, f] as const))('%s imports only what its layer may', (_name, f) => {
    const allowed = ALLOWED_LAYERS[f.layer];
    expect(allowed).toBeDefined();
    for (const specifier of f.imports) {
      const layer = layerOf(f.file, specifier);
      if (layer === undefined) {
        // A package: only adapters and entry points may touch the transport; only the catalog the driver.
        if (specifier.startsWith('@grpc/') || specifier === 'grpc-health-check') {
          expect(['server', 'agent', 'client', 'cli']).toContain(f.layer);
        }
        if (specifier === 'better-sqlite3') expect(f.layer).toBe('catalog');
        if (specifier === 'etcd3' || specifier.startsWith('etcd3/') || specifier === 'cockatiel') {
          const found = `${f.file} imports ${specifier}`;
          expect(found).toBe(f.layer === 'federation' ? found : 'the etcd client, from federation/ only');
        }
        // Metrics are the server's: other layers report through observer interfaces (the catalog's checkpointer).
        if (specifier === 'prom-client') expect(f.layer).toBe('server');
        if (['registry', 'scheduler', 'common', 'dashboard'].includes(f.layer)) {
          expect(`${f.file} imports ${specifier}`).toBe(`${f.file} imports nothing outside src/`);
        }
      } else if (layer.startsWith('outside:')) {
        expect(`${f.file}: ${specifier}`).toMatch(/: (\.\.\/)+gen\//);
        expect(['server', 'agent', 'simulator', 'client']).toContain(f.layer);
      } else {
        expect(`${f.file} -> ${layer}`).toBe(allowed?.includes(layer) ? `${f.file} -> ${layer}` : 'an allowed layer');
      }
    }
  });

  test('the agent core never imports the simulator: only cli/ composes them', () => {
    const agentFiles = files.filter((f) => f.layer === 'agent');
    expect(agentFiles.length).toBeGreaterThan(5);
    const intoSimulator = agentFiles.flatMap((f) => f.imports.filter((s) => layerOf(f.file, s) === 'simulator').map((s) => `${f.file} -> ${s}`));
    expect(intoSimulator).toEqual([]);
    expect(files.filter((f) => f.layer === 'simulator').map((f) => f.file)).toContain('simulator/simulated-workers.ts');
  });

  test('catalog/ takes only types from federation/: it never loads the etcd client', () => {
    const valueImports = files
      .filter((f) => f.layer === 'catalog')
      .flatMap((f) => {
        const text = readFileSync(join(SRC, f.file), 'utf8');
        return [...text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)]
          .filter((m) => m[2] === undefined && layerOf(f.file, m[3] ?? '') === 'federation')
          .map((m) => `${f.file} -> ${m[3]}`);
      });
    expect(valueImports).toEqual([]);
  });

  test('the domain never reads the clock or starts timers by itself', () => {
    for (const f of files.filter((x) => x.layer === 'registry' || x.layer === 'scheduler')) {
      const text = readFileSync(join(SRC, f.file), 'utf8');
      expect(`${f.file}: ${/Date\.now|performance\.now|setTimeout|setInterval|Math\.random/.test(text)}`).toBe(
        `${f.file}: false`,
      );
    }
  });

  test('only cli/ reads process.env or argv, or installs process handlers', () => {
    for (const f of files.filter((x) => x.layer !== 'cli')) {
      const text = readFileSync(join(SRC, f.file), 'utf8');
      expect(`${f.file}: ${/process\.(env|argv|on\()/.test(text)}`).toBe(`${f.file}: false`);
    }
  });
});
