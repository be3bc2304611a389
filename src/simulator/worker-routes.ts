import { InferenceProblem } from './inference-problem.js';

/**
 * Paths of simulated inference: `/w/<encodeURIComponent(workerId)>` then an OpenAI path. Pure, so every odd
 * request line can be tested without a socket.
 */

/** What a worker serves: chat completions, (text) completions, embeddings, its model list. */
export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'models';

const ENDPOINTS: Readonly<Record<string, { readonly endpoint: Endpoint; readonly method: 'GET' | 'POST' }>> = {
  '/v1/chat/completions': { endpoint: 'chat', method: 'POST' },
  '/v1/completions': { endpoint: 'completions', method: 'POST' },
  '/v1/embeddings': { endpoint: 'embeddings', method: 'POST' },
  '/v1/models': { endpoint: 'models', method: 'GET' },
};

/** A worker's path prefix: its URL is the server's origin followed by this (no trailing slash). */
export function workerPath(workerId: string): string {
  return `/w/${encodeURIComponent(workerId)}`;
}

/**
 * Where a request goes: a worker (by id, when the path names a known one) and an endpoint, or the problem to
 * answer (404 unknown worker or path, 405 wrong method with the `allow` header's value).
 */
export interface Route {
  readonly workerId?: string;
  readonly endpoint?: Endpoint;
  readonly problem?: InferenceProblem;
  readonly allow?: string;
}

/** Routes `method` and `url` (the request target: origin form, or absolute form as proxies send it). */
export function routeOf(method: string, url: string, isWorker: (workerId: string) => boolean): Route {
  let path = url.split('?')[0] ?? '';
  if (!path.startsWith('/')) {
    try {
      path = new URL(url).pathname;
    } catch {
      // not a URL either: left as is, it matches nothing below
    }
  }
  const unknownUrl = (): InferenceProblem =>
    new InferenceProblem(404, 'unknown_url', `Invalid URL (${method} ${clip(path)}): worker paths are /w/<worker id>/v1/...`);
  const match = /^\/w\/([^/]+)(\/.*)?$/.exec(path);
  if (match === null) return { problem: unknownUrl() };
  let workerId: string;
  try {
    workerId = decodeURIComponent(match[1] ?? '');
  } catch {
    return { problem: new InferenceProblem(404, 'worker_not_found', `worker id: not a valid percent-encoding, got ${clip(match[1] ?? '')}`) };
  }
  if (!isWorker(workerId)) {
    return { problem: new InferenceProblem(404, 'worker_not_found', `no simulated worker ${JSON.stringify(clip(workerId))} here`) };
  }
  const target = ENDPOINTS[match[2] ?? ''];
  if (target === undefined) return { workerId, problem: unknownUrl() };
  if (method !== target.method) {
    const problem = new InferenceProblem(405, 'method_not_allowed', `${match[2]}: method must be ${target.method}, got ${clip(method)}`);
    return { workerId, endpoint: target.endpoint, problem, allow: target.method };
  }
  return { workerId, endpoint: target.endpoint };
}

/** Caller-chosen text in a message, bounded. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}
