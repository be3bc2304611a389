import { RequestSlots } from './request-slots.js';

/** A worker's requests at one instant. */
export interface RequestCounts {
  /** Holding one of its slots (being answered). */
  readonly running: number;
  /** Waiting for a slot, in arrival order. */
  readonly waiting: number;
}

/**
 * The requests of a hive's simulated workers, as SimulatedWorkers reads and drives them: SimulatedInference's
 * (real HTTP requests, see its `requests`), or a RequestBoard of its own when nothing answers.
 */
export interface WorkerRequests {
  /** The worker's counts now; throws RangeError for a worker it does not know. */
  countsOf(workerId: string): RequestCounts;
  /** Background requests filling every slot of the worker (RequestSlots.occupy) until the returned function is called. */
  occupy(workerId: string): () => void;
  /**
   * Calls `listener` with the worker's id after every change of its running or waiting count (synchronously, the
   * counts already up to date; it must not throw). Returns the function that unsubscribes it.
   */
  onCountsChange(listener: (workerId: string) => void): () => void;
}

/** The request slots of several workers (`limit` each) and one change signal over all of them. */
export class RequestBoard implements WorkerRequests {
  private readonly slots = new Map<string, RequestSlots>();
  private readonly listeners = new Set<{ readonly call: (workerId: string) => void }>();

  constructor(workerIds: Iterable<string>, limit: number) {
    for (const workerId of workerIds) {
      this.slots.set(workerId, new RequestSlots(limit, () => this.changed(workerId)));
    }
  }

  /** The worker's slots; throws RangeError for a worker it does not know. */
  slotsOf(workerId: string): RequestSlots {
    const slots = this.slots.get(workerId);
    if (slots === undefined) throw new RangeError(`workerId: no simulated worker ${JSON.stringify(workerId)}`);
    return slots;
  }

  countsOf(workerId: string): RequestCounts {
    const slots = this.slotsOf(workerId);
    return { running: slots.inFlight, waiting: slots.queued };
  }

  occupy(workerId: string): () => void {
    return this.slotsOf(workerId).occupy();
  }

  onCountsChange(listener: (workerId: string) => void): () => void {
    // Wrapped, so the same function subscribed twice is called twice and unsubscribed one at a time.
    const entry = { call: listener };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  private changed(workerId: string): void {
    for (const listener of [...this.listeners]) listener.call(workerId);
  }
}
