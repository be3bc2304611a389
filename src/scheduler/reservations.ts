import { IndexedHeap } from './indexed-heap.js';

/** One live reservation: a slot of a worker held until `expiresAt` (monotonic ms) or its release. */
export interface Reservation {
  readonly reservationId: string;
  readonly hiveId: string;
  readonly workerId: string;
  readonly expiresAt: number;
}

/** The key of a worker on a hive (a worker id may be held by two hives while one of them is offline). */
export function slotKey(hiveId: string, workerId: string): string {
  return `${hiveId}\u0000${workerId}`;
}

/**
 * Live reservations and how many each worker holds. Expiry is a heap on `expiresAt`: `expire(now)` pops exactly
 * the reservations that ended, never scanning the others.
 */
/** A live reservation and its place in the expiry heap. */
interface Entry {
  readonly reservation: Reservation;
  index: number;
}

export class Reservations {
  private readonly byId = new Map<string, Entry>();
  private readonly held = new Map<string, number>();
  private readonly expiry = new IndexedHeap<Entry>((a, b) => a.reservation.expiresAt - b.reservation.expiresAt, {
    get: (entry) => entry.index,
    set: (entry, index) => {
      entry.index = index;
    },
  });

  constructor(private readonly newId: () => string) {}

  /** Live reservations in all. */
  get size(): number {
    return this.byId.size;
  }

  /** Slots of the worker `key` (see slotKey) held now. */
  heldBy(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /** Holds one slot of a worker until `expiresAt`. */
  add(hiveId: string, workerId: string, expiresAt: number): Reservation {
    let reservationId = this.newId();
    while (this.byId.has(reservationId)) reservationId = this.newId();
    const reservation: Reservation = { reservationId, hiveId, workerId, expiresAt };
    const entry: Entry = { reservation, index: -1 };
    this.byId.set(reservationId, entry);
    this.expiry.insert(entry);
    const key = slotKey(hiveId, workerId);
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
    return reservation;
  }

  /** Ends a live reservation; undefined when unknown or already ended. */
  release(reservationId: string): Reservation | undefined {
    const entry = this.byId.get(reservationId);
    if (entry === undefined) return undefined;
    this.drop(entry);
    return entry.reservation;
  }

  /** Ends every reservation whose time is up at `now` (expiresAt <= now); returns them. */
  expire(now: number): Reservation[] {
    const ended: Reservation[] = [];
    for (let next = this.expiry.peek(); next !== undefined && next.reservation.expiresAt <= now; next = this.expiry.peek()) {
      this.drop(next);
      ended.push(next.reservation);
    }
    return ended;
  }

  private drop(entry: Entry): void {
    const { reservation } = entry;
    this.byId.delete(reservation.reservationId);
    this.expiry.remove(entry);
    const key = slotKey(reservation.hiveId, reservation.workerId);
    const count = (this.held.get(key) ?? 1) - 1;
    if (count > 0) this.held.set(key, count);
    else this.held.delete(key);
  }
}
