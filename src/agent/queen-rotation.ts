/**
 * Which of an agent's queens its next Heartbeat call goes to. A random one first, so a fleet started (or cut off)
 * together spreads over the queens instead of piling onto the first; after each failed connection the next one in
 * list order, wrapping around, so a queen that is gone costs one failed attempt before another is tried.
 */
export class QueenRotation {
  private index: number;

  constructor(
    private readonly queens: readonly string[],
    /** Uniform numbers in [0, 1); drawn once, for the first queen, and only when there are several. */
    rng: () => number,
  ) {
    if (queens.length === 0) throw new RangeError('queens: give at least one HOST:PORT');
    // One queen needs no draw, so the caller's random sequence (the backoff's jitter) is what it was without a list.
    this.index = queens.length === 1 ? 0 : Math.min(queens.length - 1, Math.floor(rng() * queens.length));
  }

  /** The queen the next call goes to. */
  get current(): string {
    return this.queens[this.index] ?? ''; // never '': the index stays within the non-empty list
  }

  /** A connection to the current queen failed: the next call goes to the next queen in the list. */
  moveOn(): void {
    this.index = (this.index + 1) % this.queens.length;
  }
}
