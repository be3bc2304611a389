import type { Logger } from 'pino';
import type { Timers } from '../timers.js';
import { WatchedFile } from '../watched-file.js';
import { checkWorkerIds, EngineSpecError, parseEnginesJson, type EngineSpec } from './engine-spec.js';

/** Largest engines file read, in bytes. */
export const MAX_ENGINES_FILE_BYTES = 1024 * 1024;
/** How long after a change event the file is read: an editor's save comes as a burst of events. */
const SETTLE_MS = 50;

export interface EnginesFileOptions {
  readonly hiveId: string;
  readonly logger: Logger;
  readonly timers: Timers;
  /** How often the file is checked besides its change events (one missed event cannot leave it stale), in ms. */
  readonly checkIntervalMs: number;
}

/**
 * `--engines-file FILE`: a JSON array of engine objects, followed like the workers file (rewritten in place or
 * replaced by rename). Each good new version is handed to the listener; a bad one keeps the engines of the last
 * good one (logged once per problem).
 */
export class EnginesFile {
  private readonly file: WatchedFile<EngineSpec[]>;
  private timer: unknown;
  private checkTimer: unknown;
  private current: readonly EngineSpec[] = [];
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly options: EnginesFileOptions,
    private readonly onSpecs: (specs: readonly EngineSpec[]) => void,
  ) {
    this.file = new WatchedFile(path, {
      what: 'engines file',
      maxBytes: MAX_ENGINES_FILE_BYTES,
      logger: options.logger,
      parse: (text) => {
        const specs = parseEnginesJson(text);
        checkWorkerIds(specs, options.hiveId);
        return specs;
      },
    });
  }

  /**
   * Reads `path` and starts following it; `onSpecs` gets every later good version that differs. Rejects with
   * EngineSpecError when the first read fails (a usage error at start).
   */
  static async open(path: string, options: EnginesFileOptions, onSpecs: (specs: readonly EngineSpec[]) => void): Promise<EnginesFile> {
    const file = new EnginesFile(path, options, onSpecs);
    const problem = await file.file.open();
    if (problem !== undefined) throw new EngineSpecError(`--engines-file ${path}: ${problem}`);
    file.current = (await file.file.read()) ?? [];
    file.file.onChange(() => file.schedule(SETTLE_MS));
    file.schedule(options.checkIntervalMs);
    return file;
  }

  /** The engines of the last good version. */
  get specs(): readonly EngineSpec[] {
    return this.current;
  }

  close(): void {
    this.closed = true;
    this.options.timers.clearTimeout(this.timer);
    this.options.timers.clearTimeout(this.checkTimer);
    this.file.close();
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (delayMs === SETTLE_MS) {
      this.options.timers.clearTimeout(this.timer);
      this.timer = this.options.timers.setTimeout(() => void this.check(), delayMs);
    } else {
      this.checkTimer = this.options.timers.setTimeout(() => {
        void this.check().finally(() => this.schedule(this.options.checkIntervalMs));
      }, delayMs);
    }
  }

  private async check(): Promise<void> {
    const specs = await this.file.read();
    if (this.closed || specs === undefined || JSON.stringify(specs) === JSON.stringify(this.current)) return;
    this.current = specs;
    this.options.logger.child({ component: 'agent' }).info({ file: this.path, engines: specs.length }, 'engines file changed');
    this.onSpecs(specs);
  }
}
