/**
 * What the slot queue and the upstream pool need of a cancellation: the part of AbortSignal they use, so an
 * AbortSignal works too (tests, embedders).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * One gateway request's cancellation (its client went away): an AbortController without the EventTarget
 * machinery, which costs more than the rest of a request's bookkeeping. At most a couple of listeners are ever
 * registered (the queue wait, then the attempt at a worker); each is called at most once.
 */
export class Cancel implements CancelSignal {
  private listeners: (() => void)[] = [];
  private done = false;

  get aborted(): boolean {
    return this.done;
  }

  /** Cancels: every listener registered now is called once, then forgotten. Idempotent. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }

  addEventListener(_type: 'abort', listener: () => void, _options?: { readonly once?: boolean }): void {
    if (!this.done) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners.indexOf(listener);
    if (index >= 0) this.listeners.splice(index, 1);
  }
}
