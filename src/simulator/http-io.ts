import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Timers } from '../agent/timers.js';

/**
 * HTTP plumbing of simulated inference, each piece bounded and abortable: read a body under a size limit, wait
 * without outliving the client, write with backpressure.
 */

/**
 * Bytes of an oversized body read and thrown away before answering 413, so the client (still sending) reads the
 * answer instead of a reset. Past this the connection is closed after the answer.
 */
export const DISCARD_LIMIT_BYTES = 16 * 1024 * 1024;

export type BodyRead =
  | { readonly kind: 'ok'; readonly body: Buffer }
  /** Over the limit; `drained` says the whole body was read (the connection may be reused). */
  | { readonly kind: 'too_large'; readonly drained: boolean }
  /** The client went away before the end of its body. */
  | { readonly kind: 'aborted' };

/** Reads `req`'s body, keeping at most `limitBytes` of it. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limitBytes + DISCARD_LIMIT_BYTES) return Promise.resolve({ kind: 'too_large', drained: false });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const settle = (result: BodyRead): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      // Whatever comes after an early answer is discarded, not buffered.
      if (result.kind === 'too_large' && !result.drained) req.resume();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes <= limitBytes) chunks.push(chunk);
      else if (bytes > limitBytes + DISCARD_LIMIT_BYTES) settle({ kind: 'too_large', drained: false });
      else chunks.length = 0;
    };
    req.on('data', onData);
    req.once('end', () => settle(bytes > limitBytes ? { kind: 'too_large', drained: true } : { kind: 'ok', body: Buffer.concat(chunks) }));
    req.once('error', () => settle({ kind: 'aborted' }));
    req.once('close', () => settle({ kind: 'aborted' }));
  });
}

/** Sends `body` as JSON with `status`; a no-op when the client is gone. */
export function sendJson(res: ServerResponse, status: number, body: object, headers: OutgoingHttpHeaders = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** An AbortSignal that aborts when `res` closes before its end was written: the client went away or was cut off. */
export function clientGone(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (the timer is cleared then). */
export function sleep(timers: Timers, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      timers.clearTimeout(handle);
      resolve(false);
    };
    const handle = timers.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Writes `text` and resolves true once more may be written: at once if the socket's buffer has room, after
 * 'drain' if not (so a slow reader slows the generation down instead of filling memory). False if `signal`
 * aborts first.
 */
export function write(res: ServerResponse, text: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted || res.destroyed) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onAbort = (): void => done(false);
    res.on('drain', onDrain);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
