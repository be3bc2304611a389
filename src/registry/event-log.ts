import type { RegistryEvent } from './types.js';

/** An event before the log numbers it (Omit applied to each member of the union). */
export type PendingEvent = RegistryEvent extends infer E ? (E extends unknown ? Omit<E, 'revision'> : never) : never;

/** Told of each event; see `EventLog.subscribe`. */
export type EventListener = (event: RegistryEvent) => void;

/** Events replayable by default (the Watch contract's history). */
export const DEFAULT_HISTORY_SIZE = 10_000;

/**
 * The registry's change log: numbers events (revision = previous + 1, from 1), keeps the latest `historySize` of
 * them in a ring for replay, and hands each to every listener, synchronously, in revision order.
 *
 * Delivery is queued: events appended while listeners are being called (a listener that mutates the registry)
 * are delivered after the ones already in progress, so every listener still sees revision order.
 */
export class EventLog {
  private lastRevision = 0;
  /** Event of revision r at index (r - 1) % historySize; filled by push until full, then overwritten. */
  private readonly ring: RegistryEvent[] = [];
  private readonly listeners = new Set<EventListener>();
  private readonly undelivered: RegistryEvent[] = [];
  private delivering = false;

  constructor(private readonly historySize = DEFAULT_HISTORY_SIZE) {
    if (!Number.isSafeInteger(historySize) || historySize < 1) {
      throw new RangeError(`historySize must be an integer >= 1, got ${historySize}`);
    }
  }

  /** The revision of the latest event; 0 before the first. */
  get revision(): number {
    return this.lastRevision;
  }

  /**
   * Numbers `events` in order and records them all, then delivers them. The caller has finished its state change:
   * a listener reads the state after the whole mutation, and `revision` is already the last of `events`.
   */
  append(events: readonly PendingEvent[]): void {
    if (events.length === 0) return;
    for (const pending of events) {
      const event = { revision: ++this.lastRevision, ...pending } as RegistryEvent;
      if (this.ring.length < this.historySize) this.ring.push(event);
      else this.ring[(event.revision - 1) % this.historySize] = event;
      this.undelivered.push(event);
    }
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let i = 0; i < this.undelivered.length; i++) this.deliver(this.undelivered[i] as RegistryEvent);
    } finally {
      this.undelivered.length = 0;
      this.delivering = false;
    }
  }

  /**
   * The events after `revision`, oldest first: [] when `revision` is the current one. Undefined when some of them
   * are no longer in the history (`revision` is below the oldest retained revision - 1), or `revision` is not an
   * integer from 0 to the current revision.
   */
  eventsAfter(revision: number): RegistryEvent[] | undefined {
    const retained = this.ring.length;
    if (!Number.isInteger(revision) || revision > this.lastRevision || revision < this.lastRevision - retained) {
      return undefined;
    }
    const events: RegistryEvent[] = [];
    for (let r = revision + 1; r <= this.lastRevision; r++) {
      events.push(this.ring[(r - 1) % this.historySize] as RegistryEvent);
    }
    return events;
  }

  /**
   * Calls `listener` with every event after the current revision (also when subscribing from inside a listener,
   * while earlier events are still being delivered); returns the unsubscribe function (idempotent).
   * Listeners must not throw: a throw is caught and ignored, so the mutation and the other listeners go on
   * (the domain has no logger: a listener that can fail catches and logs its own errors).
   */
  subscribe(listener: EventListener): () => void {
    const after = this.lastRevision;
    // A wrapper per subscription: the same function subscribed twice is called twice, each unsubscribe removes one.
    const entry: EventListener = (event) => {
      if (event.revision > after) listener(event);
    };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  private deliver(event: RegistryEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // Ignored by contract (see subscribe): the registry's state is already changed and must stay consistent.
      }
    }
  }
}
