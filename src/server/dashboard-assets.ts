import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

/** One file of the dashboard, held in memory (the whole page is a few tens of kilobytes). */
export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  /** Strong ETag: a hash of the body, so a browser revalidates cheaply and never runs a stale script. */
  readonly etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The page may load and run only what this listener serves: no inline script, no other origin, no framing. The
 * dashboard needs nothing else (it is built from our own files, with no CDN).
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Where `npm run build` puts the dashboard: dist/dashboard under the package root, found from this file whether it
 * runs compiled (dist/src/server) or from source (src/server, under ts-jest).
 */
export function defaultAssetsDir(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return join(__dirname, 'dashboard');
    dir = parent;
  }
  return join(dir, 'dist', 'dashboard');
}

/**
 * The built dashboard files by name (`index.html`, `app.js`, ...), or the reason there are none (the page then
 * answers 503 saying how to build it). Source maps and other kinds of file are not served.
 */
export function loadAssets(dir: string): ReadonlyMap<string, Asset> | { readonly missing: string } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { missing: `the dashboard is not built (no ${dir}): run npm run build` };
  }
  const assets = new Map<string, Asset>();
  for (const name of names) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType === undefined) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  if (!assets.has('index.html')) return { missing: `the dashboard is not built (no index.html in ${dir}): run npm run build` };
  return assets;
}
