import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** One server-sent event as a browser's EventSource would see it. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

/** Time allowed for an awaited event before the test fails with a readable message. */
const WAIT_MS = 5_000;

/**
 * A server-sent-event stream read like EventSource reads it (fields `event`, `data`, `id`; comments and `retry`
 * skipped), kept whole so a test can wait for the event it expects and look at what came before.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  private buffer = '';
  private waiters: { predicate: (e: SseEvent) => boolean; from: number; resolve: (e: SseEvent) => void }[] = [];
  private ended = false;

  private constructor(
    private readonly req: ClientRequest,
    readonly response: IncomingMessage,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.take(chunk));
    response.on('end', () => (this.ended = true));
    response.on('error', () => (this.ended = true));
  }

  /** GETs `path` on 127.0.0.1:`port` with `headers`; resolves once the answer's head is in. */
  static open(port: number, path: string, headers: Readonly<Record<string, string>> = {}): Promise<SseStream> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => resolve(new SseStream(req, response)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Whether the server ended the stream. */
  get closed(): boolean {
    return this.ended;
  }

  /** The first event from index `from` on that matches, waiting for it when it has not come yet. */
  next(predicate: (e: SseEvent) => boolean, from = 0, what = 'the awaited event'): Promise<SseEvent> {
    const found = this.events.slice(from).find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms; got ${this.events.length} events`)), WAIT_MS);
      this.waiters.push({
        predicate,
        from,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  /** The `watch` events' data, parsed. */
  watchEvents(from = 0): Record<string, unknown>[] {
    return this.events.slice(from).filter((e) => e.event === 'watch').map((e) => JSON.parse(e.data) as Record<string, unknown>);
  }

  close(): void {
    this.req.destroy();
  }

  private take(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      let fields = 0;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = value;
        else if (name === 'data') data.push(value);
        else if (name === 'id') id = value;
        else continue;
        fields++;
      }
      if (fields === 0 || data.length === 0) continue;
      const parsed: SseEvent = id === undefined ? { event, data: data.join('\n') } : { event, data: data.join('\n'), id };
      this.events.push(parsed);
      const index = this.events.length - 1;
      for (const waiter of [...this.waiters]) {
        if (index >= waiter.from && waiter.predicate(parsed)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(parsed);
        }
      }
    }
  }
}
