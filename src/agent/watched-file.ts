import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

/** What identifies one version of a file: any change means it must be read again. */
interface Version {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

export interface WatchedFileOptions<T> {
  /** What the file is, for logs: "workers file", "engines file". */
  readonly what: string;
  /** Turns the file's text into its value; throws an Error whose message says what is wrong. */
  readonly parse: (text: string) => T;
  /** Largest file accepted, in bytes. */
  readonly maxBytes: number;
  /** Logs as its child with `component: 'agent'`. */
  readonly logger: Logger;
}

/**
 * A file the agent follows: its latest good content, re-read when it changes, whether rewritten in place or
 * replaced by rename (the atomic way: an in-place rewrite can be caught half written). Two signals say it changed,
 * so one missed cannot leave stale data: a watch on its directory (rename and in-place events) and, at each
 * read(), its inode, size and mtime (ns). A version that is missing, too large or does not parse keeps the last
 * good content and logs a warning once per distinct problem.
 */
export class WatchedFile<T> {
  private readonly log: Logger;
  private value: T | undefined;
  /** The version last read (good or bad); undefined forces a read. */
  private version: Version | undefined;
  /** Set by the watcher: read again even if the version looks the same (coarse mtime, same size). */
  private changed = false;
  private problem: string | undefined;
  private watcher: FSWatcher | undefined;
  private reading: Promise<T | undefined> | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly path: string,
    private readonly options: WatchedFileOptions<T>,
  ) {
    this.log = options.logger.child({ component: 'agent' });
  }

  /** Reads the file for the first time and starts watching it; resolves with what is wrong, or undefined. */
  async open(): Promise<string | undefined> {
    const problem = await this.load();
    if (problem === undefined) this.watch();
    return problem;
  }

  /** The latest good content (re-read first if the file changed); undefined only before a first good read. */
  read(): Promise<T | undefined> {
    this.reading ??= this.refresh().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Calls `listener` when the directory watch says the file may have changed (call read() to find out). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Stops watching. */
  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners.clear();
  }

  private async refresh(): Promise<T | undefined> {
    const problem = await this.load();
    if (problem !== undefined) {
      if (problem !== this.problem) {
        this.log.warn({ file: this.path, problem }, `${this.options.what} unusable: keeping its last good content`);
      }
    } else if (this.problem !== undefined) {
      this.log.info({ file: this.path }, `${this.options.what} usable again`);
    }
    this.problem = problem;
    return this.value;
  }

  /** Reads the file if it changed; returns what is wrong with it, or undefined when `value` is up to date. */
  private async load(): Promise<string | undefined> {
    let version: Version;
    try {
      const s = await stat(this.path, { bigint: true });
      version = { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs };
    } catch (error) {
      this.version = undefined;
      return describeIoError(error);
    }
    if (!this.changed && this.version !== undefined && sameVersion(version, this.version)) return this.problem;
    // Cleared before reading: a change while we read marks the file again.
    this.changed = false;
    this.version = version;
    const maxBytes = this.options.maxBytes;
    if (version.size > BigInt(maxBytes)) return `the file is ${version.size} bytes, at most ${maxBytes} allowed`;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      this.version = undefined;
      return describeIoError(error);
    }
    try {
      this.value = this.options.parse(text);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    return undefined;
  }

  private watch(): void {
    const name = basename(this.path);
    try {
      // The directory, not the file: a rename over the file replaces the inode a file watch would follow.
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, filename) => {
        if (filename !== null && filename !== name) return;
        this.changed = true;
        for (const listener of [...this.listeners]) listener();
      });
    } catch (error) {
      this.log.warn({ file: this.path, err: error }, `cannot watch the ${this.options.what}: relying on checks at each read`);
      return;
    }
    this.watcher.on('error', (error) => {
      this.log.warn({ file: this.path, err: error }, `watching the ${this.options.what} failed: relying on checks at each read`);
      this.watcher?.close();
      this.watcher = undefined;
    });
  }
}

function sameVersion(a: Version, b: Version): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot read: ${error instanceof Error ? error.message : String(error)}`;
}
