import type { ServerResponse } from 'node:http';
import type { GatewayOutcome } from './inference-gateway.js';
import type { Held } from './slot-queue.js';
import { forwardedResponseHeaders, type Attempt } from './upstream.js';

/** A worker's answer, from its response head on. */
export type UpstreamResponse = Extract<Attempt, { readonly kind: 'response' }>;

/** What relaying needs of the gateway: made once, shared by every request. */
export interface RelayContext {
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Longest silence of the worker between two chunks of its answer before it counts as failed. */
  readonly idleTimeoutMs: number;
  /** Ends the request's reservation; `success` clears the worker's failure record. */
  readonly release: (held: Held, success: boolean) => void;
  /** Reports the worker's failure (`what` it did) and ends the reservation. */
  readonly failed: (held: Held, what: string) => void;
}

/**
 * Passes the worker's answer through as it comes (pipe: the client's pace holds the worker back), with the
 * gateway's headers, then releases the slot with the outcome. Whoever breaks off first decides it: the client going
 * away is not the worker's failure; the worker dying, or going silent for the idle timeout, is.
 */
export function relay(answer: UpstreamResponse, response: ServerResponse, held: Held, context: RelayContext): Promise<GatewayOutcome> {
  const { status, body: upstream } = answer;
  const { now, idleTimeoutMs: timeoutMs } = context;
  const headers = forwardedResponseHeaders(answer.headers);
  headers['x-hive-worker'] = held.entry.worker.workerId;
  headers['x-hive-id'] = held.entry.hiveId;
  if (held.prefixBlocks !== undefined && status < 300) headers['x-hive-prefix-blocks'] = String(held.prefixBlocks);
  response.writeHead(status, headers);
  return new Promise((resolve) => {
    let settled = false;
    let lastData = now();
    const settle = (outcome: GatewayOutcome): void => {
      settled = true;
      clearTimeout(idle);
      resolve(outcome);
    };
    // One timer for the whole answer, moved on lazily: a timer per chunk would cost more than the chunk.
    const watch = (): void => {
      const quietMs = now() - lastData;
      if (quietMs < timeoutMs) idle = setTimeout(watch, timeoutMs - quietMs);
      else upstream.destroy(new Error(`no data for ${timeoutMs} ms`));
    };
    let idle = setTimeout(watch, timeoutMs);
    upstream.on('data', () => {
      lastData = now();
    });
    upstream.on('error', (error: Error) => {
      if (settled) return;
      context.failed(held, `failed in the middle of its answer (${error.message})`);
      response.destroy();
      settle('upstream_error');
    });
    response.on('finish', () => {
      if (settled) return;
      if (status < 500) context.release(held, true);
      else context.failed(held, `answered ${status}`);
      settle(status >= 500 ? 'upstream_error' : status >= 400 ? 'client_error' : 'ok');
    });
    response.on('close', () => {
      if (settled || response.writableFinished) return;
      // Settled first: destroying the worker's answer cancels the request to the worker.
      settle('client_closed');
      context.release(held, false);
      upstream.destroy();
    });
    upstream.pipe(response);
  });
}
