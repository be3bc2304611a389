import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CancelSignal } from './cancel.js';

/** How one request to a worker went, up to its response head. */
export type Exchanged =
  | { readonly kind: 'response'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: Readable }
  | { readonly kind: 'failed'; readonly error: NodeJS.ErrnoException }
  /** `signal` was aborted first: the request to the worker is cancelled. */
  | { readonly kind: 'aborted' };

/** What cancels a request because its client went away (never reported: the worker did nothing wrong). */
class ClientGone extends Error {
  constructor() {
    super('the client went away');
  }
}

/**
 * Sends one request through undici's dispatcher and resolves at its response head, with the body as a Readable
 * that follows the client's pace (a full buffer pauses the worker's connection, reading resumes it). Destroying
 * the body, or aborting `signal` before the head, cancels the request; the worker failing after the head
 * destroys the body with the error.
 */
export function exchange(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: CancelSignal): Promise<Exchanged> {
  return new Promise((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    let body: Readable | undefined;
    let settled = false;
    /** The worker's answer is over (complete or failed): destroying the body then cancels nothing. */
    let ended = false;
    const settle = (outcome: Exchanged): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = (): void => {
      controller?.abort(new ClientGone());
      settle({ kind: 'aborted' });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (started) => {
        controller = started;
        if (settled) started.abort(new ClientGone());
      },
      onResponseStart: (started, status, headers) => {
        // 1xx heads are informational: the real one follows.
        if (status < 200 || settled) return;
        body = new Readable({
          read: () => started.resume(),
          destroy: (error, done) => {
            if (!ended) started.abort(error ?? new ClientGone());
            done(error);
          },
        });
        settle({ kind: 'response', status, headers, body });
      },
      onResponseData: (started, chunk) => {
        if (body?.push(chunk) === false) started.pause();
      },
      onResponseEnd: () => {
        ended = true;
        body?.push(null);
      },
      onResponseError: (_started, error) => {
        ended = true;
        if (body !== undefined) body.destroy(error);
        else if (error instanceof ClientGone) settle({ kind: 'aborted' });
        else settle({ kind: 'failed', error });
      },
    };
    try {
      dispatcher.dispatch(options, handler);
    } catch (error) {
      settle({ kind: 'failed', error: error instanceof Error ? error : new Error(String(error)) });
    }
  });
}
