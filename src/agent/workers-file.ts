import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { HiveHeartbeatPayloadSchema } from '../../gen/hive/v1/registry_pb.js';
import type { HiveSnapshot, SnapshotProvider } from './hive-snapshot.js';
import { WatchedFile } from './watched-file.js';

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
  private readonly file: WatchedFile<HiveSnapshot>;

  /** The provider to hand to HeartbeatAgent. */
  readonly provider: SnapshotProvider = () => this.snapshot();

  private constructor(
    readonly path: string,
    options: WorkersFileOptions,
  ) {
    this.file = new WatchedFile(path, {
      what: 'workers file',
      parse: parseWorkersFile,
      maxBytes: options.maxBytes ?? DEFAULT_WORKERS_FILE_MAX_BYTES,
      logger: options.logger,
    });
  }

  /** Reads `path` once and starts watching it. Rejects with WorkersFileError if that first read fails. */
  static async open(path: string, options: WorkersFileOptions): Promise<WorkersFile> {
    const file = new WorkersFile(path, options);
    const problem = await file.file.open();
    if (problem !== undefined) throw new WorkersFileError(path, problem);
    return file;
  }

  /** The file's latest good content; re-reads it first if it changed since the last read. */
  async snapshot(): Promise<HiveSnapshot> {
    return (await this.file.read()) ?? { workers: [], devices: [] };
  }

  /** Stops watching. */
  close(): void {
    this.file.close();
  }
}

/** A hive.v1.HiveHeartbeatPayload in protobuf JSON form, as a snapshot; throws saying what is wrong. */
function parseWorkersFile(text: string): HiveSnapshot {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new Error(`invalid JSON: ${(error as Error).message}`);
  }
  try {
    const payload = fromJson(HiveHeartbeatPayloadSchema, json, { ignoreUnknownFields: false });
    return { workers: payload.workers, devices: payload.devices, ramTotalBytes: payload.ramTotalBytes };
  } catch (error) {
    throw new Error(`not a hive.v1.HiveHeartbeatPayload in protobuf JSON: ${(error as Error).message}`);
  }
}
