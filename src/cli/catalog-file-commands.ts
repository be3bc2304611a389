import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import {
  CatalogDocumentError,
  catalogDocumentJson,
  parseCatalogDocument,
  type CatalogDocument,
} from '../catalog/catalog-document.js';
import { importIntoEtcd, loadEtcdCatalog } from '../catalog/etcd-catalog-document.js';
import { EtcdUnavailableError } from '../federation/etcd-store.js';
import { openEtcd } from '../server/federation-side.js';
import type { EtcdSettings } from '../server/server-config.js';
import { parseDuration } from './config.js';
import { checkEtcdPrefix, etcdSetting, parseEtcdEndpoints } from './etcd-settings.js';
import { etcdTls } from './tls-files.js';
import { CatalogOpenError, CatalogStore, IN_MEMORY } from '../catalog/catalog-store.js';
import { DomainError } from '../common/domain-error.js';
import { EXIT_OK, EXIT_QUEEN, EXIT_USAGE, type CommandIo } from './command-run.js';

/** The catalog file `serve` uses when neither --db nor the environment names one. */
const DEFAULT_DB = './data/hive-registry.db';
const DB_ENV = 'HIVE_REGISTRY_DB';
const ETCD_ENV = etcdSetting('etcdEndpoints').env;
const ETCD_PREFIX_ENV = etcdSetting('etcdPrefix').env;
const DEFAULT_ETCD_PREFIX = etcdSetting('etcdPrefix').defaultValue;
/** Largest document `catalog import` reads, in bytes. */
const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024;

interface FileFlags {
  readonly db?: string;
  readonly etcd?: string;
  readonly etcdPrefix?: string;
  readonly etcdTimeout?: string;
  readonly etcdCa?: string;
  readonly etcdCert?: string;
  readonly etcdKey?: string;
}

/** Where `catalog export` and `import` read and write: a SQLite file, or a federation's catalog in etcd. */
type CatalogTarget = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'etcd'; readonly settings: EtcdSettings };

/** The target the flags and environment name, or every problem with them. */
function targetOf(flags: FileFlags, env: Readonly<Record<string, string | undefined>>): CatalogTarget | { problems: string[] } {
  const etcdRaw = flags.etcd ?? (env[ETCD_ENV] || undefined);
  if (etcdRaw === undefined) {
    const stray = (['etcdPrefix', 'etcdTimeout', 'etcdCa', 'etcdCert', 'etcdKey'] as const).filter(
      (flag) => flags[flag] !== undefined,
    );
    if (stray.length > 0) return { problems: stray.map((flag) => `--${kebab(flag)} needs --etcd (or ${ETCD_ENV})`) };
    return { kind: 'file', path: flags.db ?? (env[DB_ENV] || DEFAULT_DB) };
  }
  const problems: string[] = [];
  const dbFrom = flags.db !== undefined ? '--db' : env[DB_ENV] ? DB_ENV : undefined;
  if (dbFrom !== undefined) problems.push(`--etcd and ${dbFrom} exclude each other: name one catalog`);
  const { endpoints, problems: bad } = parseEtcdEndpoints(etcdRaw);
  for (const text of bad) problems.push(`--etcd: ${text}`);
  if (endpoints.length === 0) problems.push('--etcd: names no endpoint');
  const prefix = flags.etcdPrefix ?? (env[ETCD_PREFIX_ENV] || DEFAULT_ETCD_PREFIX);
  const badPrefix = checkEtcdPrefix(prefix);
  if (badPrefix !== undefined) problems.push(`--etcd-prefix: ${badPrefix}`);
  const timeoutMs = parseDuration(flags.etcdTimeout ?? '5s');
  if (timeoutMs === undefined || timeoutMs <= 0) problems.push(`--etcd-timeout: must be a duration such as 5s, got ${JSON.stringify(flags.etcdTimeout)}`);
  const tls = etcdTls(
    { etcdCaPath: flags.etcdCa ?? '', etcdCertPath: flags.etcdCert ?? '', etcdKeyPath: flags.etcdKey ?? '' },
    problems,
  );
  if (problems.length > 0) return { problems };
  return {
    kind: 'etcd',
    settings: {
      endpoints,
      prefix,
      leaseTtlMs: 10_000,
      timeoutMs: timeoutMs ?? 5_000,
      ...(tls === undefined ? {} : { tls }),
    },
  };
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * `catalog export` and `catalog import FILE`: the catalog's file itself, read or written directly (no queen): every
 * hive with its labels, description, cordon and last sighting, and every live hive token's hash. Export reads a
 * file a queen may be using (SQLite lets a reader in beside the writer); import writes one transaction, and a queen
 * already running on that file does not see it until it restarts: import before starting the queen.
 */
export function addCatalogFileCommands(
  catalog: Command,
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
  exit: (code: number) => void,
): void {
  const withEtcd = (command: Command): Command =>
    command
      .option('--etcd <urls>', `a federation's catalog in etcd instead of a file: its client URLs, comma-separated (env ${ETCD_ENV})`)
      .option('--etcd-prefix <prefix>', `the federation's key prefix (env ${ETCD_PREFIX_ENV}, default ${DEFAULT_ETCD_PREFIX})`)
      .option('--etcd-timeout <duration>', 'deadline of each call to etcd (default 5s)')
      .option('--etcd-ca <file>', "TLS to etcd: the PEM CA of etcd's certificate")
      .option('--etcd-cert <file>', 'TLS to etcd: a PEM client certificate (with --etcd-key)')
      .option('--etcd-key <file>', 'the PEM private key of --etcd-cert');
  /** Runs `work` on the flags' target; a bad combination of flags exits 2 listing every problem. */
  const run = (name: string, flags: FileFlags, work: (target: CatalogTarget) => Promise<number>): Promise<void> => {
    const target = targetOf(flags, env);
    if ('problems' in target) {
      io.err(`hive-registry ${name}: bad flags\n${target.problems.map((p) => `  - ${p}\n`).join('')}`);
      exit(EXIT_USAGE);
      return Promise.resolve();
    }
    return work(target).then(exit);
  };
  withEtcd(
    catalog
      .command('export')
      .description(
        `print the catalog as one JSON document (hives and live token hashes): its file (--db, env ${DB_ENV}, default ${DEFAULT_DB}) or a federation's (--etcd)`,
      )
      .option('--db <path>', 'the catalog file to read'),
  )
    .allowExcessArguments(false)
    .action((flags: FileFlags) =>
      run('catalog export', flags, async (target) =>
        target.kind === 'file' ? exportCatalog(target.path, io) : exportEtcdCatalog(target.settings, io),
      ),
    );
  withEtcd(
    catalog
      .command('import')
      .description(
        "add the hives and token hashes of a `catalog export` document to a catalog file (created if missing; all or none) or to a federation's catalog in etcd (--etcd)",
      )
      .argument('<file>', 'the document (- for standard input)')
      .option('--db <path>', 'the catalog file to write'),
  )
    .allowExcessArguments(false)
    .action((file: string, flags: FileFlags) =>
      run('catalog import', flags, async (target) =>
        target.kind === 'file' ? importCatalog(file, target.path, io) : importEtcdCatalog(file, target.settings, io),
      ),
    );
}

/** Prints a federation's catalog as a document; the exit code. */
export async function exportEtcdCatalog(settings: EtcdSettings, io: CommandIo): Promise<number> {
  const store = openEtcd(settings);
  try {
    const { hives, tokens, skipped } = await loadEtcdCatalog(store, settings.prefix);
    for (const problem of skipped) io.err(`hive-registry catalog export: skipped an unreadable record: ${problem}\n`);
    io.out(catalogDocumentJson({ hives, tokens }, io.nowMs()));
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof EtcdUnavailableError)) throw error;
    io.err(`hive-registry catalog export: ${error.message}\n`);
    return EXIT_QUEEN;
  } finally {
    store.close();
  }
}

/** Adds the document in `file` to a federation's catalog; the exit code. */
export async function importEtcdCatalog(file: string, settings: EtcdSettings, io: CommandIo): Promise<number> {
  const document = readDocument('catalog import', file, io);
  if (typeof document === 'number') return document;
  const store = openEtcd(settings);
  try {
    await importIntoEtcd(store, settings.prefix, document.hives, document.tokens);
  } catch (error) {
    if (!(error instanceof DomainError) && !(error instanceof EtcdUnavailableError)) throw error;
    io.err(`hive-registry catalog import: ${error.message}\n`);
    return EXIT_QUEEN;
  } finally {
    store.close();
  }
  io.out(
    `imported ${document.hives.length} hives and ${document.tokens.length} tokens into etcd ${settings.endpoints.join(',')} ${settings.prefix}\n`,
  );
  return EXIT_OK;
}

/** Prints the catalog at `path` as a document; the exit code. */
export function exportCatalog(path: string, io: CommandIo): number {
  if (path === IN_MEMORY || !existsSync(path)) {
    io.err(`hive-registry catalog export: --db ${path}: no such catalog file\n`);
    return EXIT_USAGE;
  }
  const store = openStore('catalog export', path, io);
  if (store === undefined) return EXIT_USAGE;
  try {
    io.out(catalogDocumentJson({ hives: store.loadAll(), tokens: store.loadLiveTokens() }, io.nowMs()));
    return EXIT_OK;
  } finally {
    store.close();
  }
}

/** Adds the document in `file` to the catalog at `path`; the exit code. */
export function importCatalog(file: string, path: string, io: CommandIo): number {
  const name = 'catalog import';
  const document = readDocument(name, file, io);
  if (typeof document === 'number') return document;
  if (path === IN_MEMORY) {
    io.err(`hive-registry ${name}: --db ${IN_MEMORY} would keep nothing: name a file\n`);
    return EXIT_USAGE;
  }
  const store = openStore(name, path, io);
  if (store === undefined) return EXIT_USAGE;
  try {
    store.importAll(document.hives, document.tokens);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    io.err(`hive-registry ${name}: ${error.message}\n`);
    return EXIT_QUEEN;
  } finally {
    store.close();
  }
  io.out(`imported ${document.hives.length} hives and ${document.tokens.length} tokens into ${path}\n`);
  return EXIT_OK;
}

/** The document in `file` (`-`: standard input), or the exit code after saying what is wrong with it. */
function readDocument(name: string, file: string, io: CommandIo): CatalogDocument | number {
  let text: string;
  try {
    const source = file === '-' ? 0 : file;
    if (source !== 0 && statSync(source).size > MAX_DOCUMENT_BYTES) {
      io.err(`hive-registry ${name}: ${file}: over ${MAX_DOCUMENT_BYTES} bytes\n`);
      return EXIT_USAGE;
    }
    text = readFileSync(source, 'utf8');
  } catch (error) {
    io.err(`hive-registry ${name}: ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`);
    return EXIT_USAGE;
  }
  try {
    return parseCatalogDocument(text);
  } catch (error) {
    if (!(error instanceof CatalogDocumentError)) throw error;
    io.err(`hive-registry ${name}: ${file}: ${error.message}\n`);
    return EXIT_USAGE;
  }
}

function openStore(name: string, path: string, io: CommandIo): CatalogStore | undefined {
  try {
    return CatalogStore.open(path, io.nowMs());
  } catch (error) {
    if (!(error instanceof CatalogOpenError)) throw error;
    io.err(`hive-registry ${name}: ${error.message}\n`);
    return undefined;
  }
}
