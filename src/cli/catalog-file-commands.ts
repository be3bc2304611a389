import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { CatalogDocumentError, catalogDocumentJson, parseCatalogDocument } from '../catalog/catalog-document.js';
import { CatalogOpenError, CatalogStore, IN_MEMORY } from '../catalog/catalog-store.js';
import { DomainError } from '../common/domain-error.js';
import { EXIT_OK, EXIT_QUEEN, EXIT_USAGE, type CommandIo } from './command-run.js';

/** The catalog file `serve` uses when neither --db nor the environment names one. */
const DEFAULT_DB = './data/hive-registry.db';
const DB_ENV = 'HIVE_REGISTRY_DB';
/** Largest document `catalog import` reads, in bytes. */
const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024;

interface FileFlags {
  readonly db?: string;
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
  const dbOf = (flags: FileFlags): string => flags.db ?? (env[DB_ENV] || DEFAULT_DB);
  catalog
    .command('export')
    .description(`print the catalog's file (--db, env ${DB_ENV}, default ${DEFAULT_DB}) as one JSON document: hives and live token hashes`)
    .option('--db <path>', 'the catalog file to read')
    .allowExcessArguments(false)
    .action((flags: FileFlags) => exit(exportCatalog(dbOf(flags), io)));
  catalog
    .command('import')
    .description('add the hives and token hashes of a `catalog export` document to a catalog file (created if missing), all or none')
    .argument('<file>', 'the document (- for standard input)')
    .option('--db <path>', 'the catalog file to write')
    .allowExcessArguments(false)
    .action((file: string, flags: FileFlags) => exit(importCatalog(file, dbOf(flags), io)));
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
  let document;
  try {
    document = parseCatalogDocument(text);
  } catch (error) {
    if (!(error instanceof CatalogDocumentError)) throw error;
    io.err(`hive-registry ${name}: ${file}: ${error.message}\n`);
    return EXIT_USAGE;
  }
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

function openStore(name: string, path: string, io: CommandIo): CatalogStore | undefined {
  try {
    return CatalogStore.open(path, io.nowMs());
  } catch (error) {
    if (!(error instanceof CatalogOpenError)) throw error;
    io.err(`hive-registry ${name}: ${error.message}\n`);
    return undefined;
  }
}
