import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { HiveDetail } from './fleet-details.js';
import { WatchCursor, type WatchEncoding } from './watch-cursor.js';
import { parseEventId, sseWatchEncoding } from './watch-json.js';

export interface DashboardFeedOptions {
  /** The queen's Watch epoch: a page resuming with another gets RESYNC and a snapshot. */
  readonly epoch: string;
  /** Most live events a page may have waiting before its stream is ended (it reconnects and resumes). */
  readonly maxQueuedEvents: number;
  /** How often the details (heartbeat ages, reservations, exclusions, catalog) are sent; default 1,000 ms. */
  readonly detailsIntervalMs?: number;
}

/** Delay of the details sent when a hive comes or goes: the hive's whole snapshot is in by then. */
const SOON_MS = 50;

/** How soon a browser reconnects after its stream ends, in ms (EventSource's `retry`). */
const RECONNECT_MS = 1_000;

/** Each hive's details as JSON, by hive id. */
function encodeDetails(details: ReadonlyMap<string, HiveDetail>): Map<string, string> {
  const encoded = new Map<string, string>();
  for (const [hiveId, detail] of details) encoded.set(hiveId, JSON.stringify(detail));
  return encoded;
}

interface Page {
  readonly response: ServerResponse;
  cursor?: WatchCursor<string>;
  blocked: boolean;
  /** The details JSON last sent per hive id, so each tick sends only what changed. */
  readonly sent: Map<string, string>;
}

/**
 * The dashboard's live feed, `GET /api/events`: server-sent events carrying the Watch stream (event `watch`, each
 * a WatchEvent in protobuf JSON form, with the same snapshot, replay and SYNCED/RESYNC semantics) and, every
 * second, event `details`: `{serverTimeMs, hives: [HiveDetail changed since the last one sent], gone: [hive ids]}`.
 * A browser's EventSource reconnects by itself and sends Last-Event-ID, so a page resumes from the last revision
 * it held whole, without a reload. A page that falls `maxQueuedEvents` behind has its stream ended (it resumes);
 * details are skipped while its connection is full.
 */
export class DashboardFeed {
  private readonly pages = new Set<Page>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly encoding: WatchEncoding<string>;

  constructor(
    private readonly registry: HiveRegistry,
    private readonly details: () => Map<string, HiveDetail>,
    private readonly wallNow: () => number,
    private readonly options: DashboardFeedOptions,
    private readonly logger: Logger,
  ) {
    this.encoding = sseWatchEncoding(options.epoch);
  }

  /** Open pages. */
  get size(): number {
    return this.pages.size;
  }

  /**
   * Serves one page's stream until it goes away or `close`. It resumes after the Last-Event-ID header (sent by
   * EventSource when it reconnects by itself) or else after `since` (`?since=` of a page that opened a new
   * EventSource, which sends no header); with neither, or one that is not ours, it starts from a snapshot.
   */
  open(request: IncomingMessage, response: ServerResponse, since?: string): void {
    const lastEventId = request.headers['last-event-id'];
    const resumeFrom = parseEventId(typeof lastEventId === 'string' ? lastEventId : since);
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // Proxies (nginx) would otherwise hold events back to fill their buffers.
      'X-Accel-Buffering': 'no',
    });
    response.write(`retry: ${RECONNECT_MS}\n\n`);
    const page: Page = { response, blocked: false, sent: new Map() };
    this.pages.add(page);
    response.on('close', () => this.forget(page));
    response.on('drain', () => {
      page.blocked = false;
      page.cursor?.resume();
    });
    this.sendDetails(page, encodeDetails(this.details()));
    page.cursor = new WatchCursor(
      this.registry,
      {
        filter: { hivesOnly: false, loadChangeThreshold: 0 },
        startRevision: resumeFrom?.revision ?? 0n,
        epoch: resumeFrom?.epoch ?? '',
      },
      this.options.epoch,
      this.encoding,
      {
        write: (frame) => this.write(page, frame),
        overflow: (maxQueued) => {
          this.logger.info({ maxQueued }, 'dashboard stream fell behind: ended, the page resumes from its last revision');
          response.end();
        },
      },
      this.options.maxQueuedEvents,
    );
    this.timer ??= setInterval(() => this.tick(), this.options.detailsIntervalMs ?? 1_000).unref();
    // A hive that comes or goes gets its details at once rather than at the next tick (other changes wait for it).
    this.unsubscribe ??= this.registry.onEvent((event) => {
      if (event.type === 'hive_online' || event.type === 'hive_removed') {
        this.soon ??= setTimeout(() => {
          this.soon = undefined;
          this.tick();
        }, SOON_MS).unref();
      }
    });
  }

  /** Ends every page's stream (the listener is closing). */
  close(): void {
    for (const page of [...this.pages]) {
      this.forget(page);
      page.response.end();
    }
  }

  private tick(): void {
    if (this.pages.size === 0) return;
    // Encoded once for every page: each page only compares strings.
    const details = encodeDetails(this.details());
    for (const page of this.pages) if (!page.blocked) this.sendDetails(page, details);
  }

  /** The details that changed since this page's last ones, and the hives gone since. */
  private sendDetails(page: Page, details: ReadonlyMap<string, string>): void {
    const hives: string[] = [];
    for (const [hiveId, json] of details) {
      if (page.sent.get(hiveId) === json) continue;
      page.sent.set(hiveId, json);
      hives.push(json);
    }
    const gone: string[] = [];
    for (const hiveId of page.sent.keys()) {
      if (!details.has(hiveId)) gone.push(hiveId);
    }
    for (const hiveId of gone) page.sent.delete(hiveId);
    const data = `{"serverTimeMs":${this.wallNow()},"hives":[${hives.join(',')}],"gone":${JSON.stringify(gone)}}`;
    this.write(page, `event: details\ndata: ${data}\n\n`);
  }

  private write(page: Page, frame: string): boolean {
    const taken = page.response.write(frame);
    if (!taken) page.blocked = true;
    return taken;
  }

  private forget(page: Page): void {
    if (!this.pages.delete(page)) return;
    page.cursor?.close();
    if (this.pages.size > 0) return;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.unsubscribe?.();
    this.timer = undefined;
    this.soon = undefined;
    this.unsubscribe = undefined;
  }
}
