import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { HiveHeartbeatPayloadSchema } from '../../gen/hive/v1/registry_pb.js';
import type { HiveSnapshot, SnapshotProvider } from './hive-snapshot.js';

/** Largest workers file read, in bytes (the queen's default largest message). */
export const DEFAULT_WORKERS_FILE_MAX_BYTES = 4 * 1024 * 1024;

export interface WorkersFileOptions {
  /** Parent logger; the file logs as its child with `component: 'agent'`. */
  readonly logger: Logger;
  /** Largest file accepted, in bytes. Default DEFAULT_WORKERS_FILE_MAX_BYTES. */
  readonly maxBytes?: number;
}

/** The workers file cannot be used: `problem` says why (missing, too large, invalid JSON, not a payload). */
export class WorkersFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`workers file ${path}: ${problem}`);
    this.name = 'WorkersFileError';
  }
}

/** What identifies one version of the file: any change means it must be read again. */
interface Version {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

/**
 * A SnapshotProvider reading a hive.v1.HiveHeartbeatPayload in protobuf JSON form (`workers`, `devices`,
 * `ramTotalBytes`; `hiveId`, `sequence`, `timestamp` and `unchanged` belong to the agent and are ignored; unknown
 * fields are an error).
 *
 * The file may be rewritten in place or replaced by rename (the atomic way: an in-place rewrite can be caught half
 * written). Two signals say it changed, so one missed cannot leave stale data: a watch on its directory (rename
 * and in-place events) and, at each `snapshot()` call, its inode, size and mtime (ns). It is then re-read on
 * that call. A version that is missing, too large or invalid keeps the last good snapshot and logs a warning
 * once per distinct problem; the first read must succeed (`open` rejects with WorkersFileError otherwise).
 */
export class WorkersFile {
  private readonly log: Logger;
  private readonly maxBytes: number;
  private current: HiveSnapshot = { workers: [], devices: [] };
  /** The version last read (good or bad); undefined forces a read. */
  private version: Version | undefined;
  /** Set by the watcher: read again even if the version looks the same (coarse mtime, same size). */
  private changed = false;
  private problem: string | undefined;
  private watcher: FSWatcher | undefined;
  private reading: Promise<HiveSnapshot> | undefined;

  /** The provider to hand to HeartbeatAgent. */
  readonly provider: SnapshotProvider = () => this.snapshot();

  private constructor(
    readonly path: string,
    options: WorkersFileOptions,
  ) {
    this.log = options.logger.child({ component: 'agent' });
    this.maxBytes = options.maxBytes ?? DEFAULT_WORKERS_FILE_MAX_BYTES;
  }

  /** Reads `path` once and starts watching it. Rejects with WorkersFileError if that first read fails. */
  static async open(path: string, options: WorkersFileOptions): Promise<WorkersFile> {
    const file = new WorkersFile(path, options);
    const problem = await file.load();
    if (problem !== undefined) throw new WorkersFileError(path, problem);
    file.watch();
    return file;
  }

  /** The file's latest good content; re-reads it first if it changed since the last read. */
  snapshot(): Promise<HiveSnapshot> {
    this.reading ??= this.refresh().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Stops watching. */
  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async refresh(): Promise<HiveSnapshot> {
    const problem = await this.load();
    if (problem !== undefined) {
      if (problem !== this.problem) {
        this.log.warn({ file: this.path, problem }, 'workers file unusable: keeping its last good content');
      }
    } else if (this.problem !== undefined) {
      this.log.info({ file: this.path }, 'workers file usable again');
    }
    this.problem = problem;
    return this.current;
  }

  /** Reads the file if it changed; returns what is wrong with it, or undefined when `current` is up to date. */
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
    if (version.size > BigInt(this.maxBytes)) return `the file is ${version.size} bytes, at most ${this.maxBytes} allowed`;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      this.version = undefined;
      return describeIoError(error);
    }
    let json: JsonValue;
    try {
      json = JSON.parse(text) as JsonValue;
    } catch (error) {
      return `invalid JSON: ${(error as Error).message}`;
    }
    try {
      const payload = fromJson(HiveHeartbeatPayloadSchema, json, { ignoreUnknownFields: false });
      this.current = { workers: payload.workers, devices: payload.devices, ramTotalBytes: payload.ramTotalBytes };
    } catch (error) {
      return `not a hive.v1.HiveHeartbeatPayload in protobuf JSON: ${(error as Error).message}`;
    }
    return undefined;
  }

  private watch(): void {
    const name = basename(this.path);
    try {
      // The directory, not the file: a rename over the file replaces the inode a file watch would follow.
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) this.changed = true;
      });
    } catch (error) {
      this.log.warn({ file: this.path, err: error }, 'cannot watch the workers file: relying on checks at each read');
      return;
    }
    this.watcher.on('error', (error) => {
      this.log.warn({ file: this.path, err: error }, 'watching the workers file failed: relying on checks at each read');
      this.close();
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
