import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BestAnswer } from './dashboard-best.js';
import { DASHBOARD_CSP, type Asset } from './dashboard-assets.js';
import type { DashboardFeed } from './dashboard-feed.js';

/** What the dashboard's paths are served from. */
export interface DashboardSources {
  /** The built files by name, or why there are none. */
  readonly assets: ReadonlyMap<string, Asset> | { readonly missing: string };
  readonly feed: DashboardFeed;
  /** `GET /api/best?model=M`. */
  best(model: string | null): { status: number; body: BestAnswer | { error: { message: string } } };
}

/** Asset names the page may ask for: plain file names, nothing that climbs out of the directory. */
const ASSET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

/**
 * The dashboard on the HTTP listener: `/` (the page), `/assets/<file>` (its script and styles), `/api/events` (the
 * live feed, server-sent events) and `/api/best` (the scheduler's answer for a model, with reasons). The listener
 * has already checked the method (GET or HEAD) and access.
 */
export class DashboardRoutes {
  constructor(private readonly sources: DashboardSources) {}

  /** Serves `path` when it is one of the dashboard's; false otherwise (the listener answers 404). */
  handle(path: string, query: URLSearchParams, request: IncomingMessage, response: ServerResponse): boolean {
    if (path === '/' || path === '/index.html') {
      this.asset('index.html', request, response);
      return true;
    }
    if (path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      if (!ASSET_NAME.test(name) || name === 'index.html') return false;
      return this.asset(name, request, response);
    }
    if (path === '/api/events') {
      if (request.method === 'HEAD') {
        response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
        response.end();
      } else {
        this.sources.feed.open(request, response, query.get('since') ?? undefined);
      }
      return true;
    }
    if (path === '/api/best') {
      const answer = this.sources.best(query.get('model'));
      response.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8' });
      response.end(request.method === 'HEAD' ? undefined : JSON.stringify(answer.body));
      return true;
    }
    return false;
  }

  /** Closes every live feed (the listener is closing). */
  close(): void {
    this.sources.feed.close();
  }

  private asset(name: string, request: IncomingMessage, response: ServerResponse): boolean {
    const { assets } = this.sources;
    if ('missing' in assets) {
      response.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(`${assets.missing}\n`);
      return true;
    }
    const asset = assets.get(name);
    if (asset === undefined) return false;
    // Revalidated at every load (cheap: 304 on the same ETag), so a new build is never mixed with an old one.
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('ETag', asset.etag);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    if (name === 'index.html') {
      response.setHeader('Content-Security-Policy', DASHBOARD_CSP);
      response.setHeader('X-Frame-Options', 'DENY');
    }
    if (request.headers['if-none-match'] === asset.etag) {
      response.writeHead(304);
      response.end();
      return true;
    }
    response.writeHead(200, { 'Content-Type': asset.contentType, 'Content-Length': asset.body.length });
    response.end(request.method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}
