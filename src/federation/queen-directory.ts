import type { Logger } from 'pino';
import type { EtcdEntry, EtcdStore } from './etcd-store.js';
import { PrefixMirror } from './prefix-mirror.js';

/** One queen of a federation as it announces itself in etcd (`<prefix>queens/<queen id>`, under its lease). */
export interface QueenRecord {
  readonly queenId: string;
  /** HOST:PORT of its gRPC listener, as agents and operators reach it. */
  readonly address: string;
  /** HOST:PORT of its HTTP listener; '' without one. */
  readonly httpAddress: string;
  readonly startedAtMs: number;
}

/** Another live queen already holds this queen id. */
export class QueenIdTakenError extends Error {
  constructor(readonly queenId: string, waitedMs: number) {
    super(
      `--queen-id: queen id "${queenId}" is held by a live queen of this federation (its lease did not expire within ${waitedMs} ms); give each queen its own id`,
    );
    this.name = 'QueenIdTakenError';
  }
}

/** How often a queen whose id is taken looks again while it waits for the old lease to expire. */
const TAKEN_RETRY_MS = 250;

function decodeQueen(entry: EtcdEntry): QueenRecord | undefined {
  try {
    const value = JSON.parse(entry.value.toString('utf8')) as Partial<QueenRecord>;
    if (typeof value.queenId !== 'string' || typeof value.address !== 'string') return undefined;
    return {
      queenId: value.queenId,
      address: value.address,
      httpAddress: typeof value.httpAddress === 'string' ? value.httpAddress : '',
      startedAtMs: typeof value.startedAtMs === 'number' ? value.startedAtMs : 0,
    };
  } catch {
    return undefined;
  }
}

/**
 * The queens of a federation: this queen's own key (written under its lease, so it leaves when the lease does)
 * and every live queen's, mirrored from etcd for ListQueens.
 */
export class QueenDirectory {
  private readonly queens = new Map<string, QueenRecord>();
  private readonly mirror: PrefixMirror;

  constructor(
    private readonly store: EtcdStore,
    private readonly prefix: string,
    private readonly self: QueenRecord,
    private readonly logger: Logger,
  ) {
    this.mirror = new PrefixMirror(
      store,
      `${prefix}queens/`,
      {
        reset: (entries) => {
          this.queens.clear();
          for (const entry of entries) this.put(entry);
        },
        put: (entry) => this.put(entry),
        delete: (key) => {
          this.queens.delete(key.slice(`${prefix}queens/`.length));
        },
      },
      logger,
    );
  }

  private get key(): string {
    return `${this.prefix}queens/${this.self.queenId}`;
  }

  /**
   * Claims this queen's id under `lease`. An id held by another lease is waited for up to `waitMs` (a queen
   * restarted under the same id waits for its old lease to expire), then QueenIdTakenError.
   */
  async join(lease: string, waitMs: number, now: () => number): Promise<void> {
    const deadline = now() + waitMs;
    for (;;) {
      if (await this.claim(lease)) break;
      if (now() >= deadline) throw new QueenIdTakenError(this.self.queenId, waitMs);
      await new Promise((resolve) => setTimeout(resolve, TAKEN_RETRY_MS).unref());
    }
    await this.mirror.start();
  }

  /** After a new lease: the key went with the old one; write it again. False when another queen holds the id. */
  async rejoin(lease: string): Promise<boolean> {
    const claimed = await this.claim(lease);
    if (!claimed) {
      this.logger.error(
        { queenId: this.self.queenId },
        'another live queen announced this queen id while this queen was cut off from etcd; ListQueens shows that one',
      );
    }
    return claimed;
  }

  /** Every live queen, sorted by queen id (this one included once it joined). */
  list(): QueenRecord[] {
    const all = new Map(this.queens);
    all.set(this.self.queenId, this.self);
    return [...all.values()].sort((a, b) => (a.queenId < b.queenId ? -1 : a.queenId > b.queenId ? 1 : 0));
  }

  /** Lists again (a queen back from a partition). */
  relist(): Promise<void> {
    return this.mirror.relist();
  }

  stop(): void {
    this.mirror.stop();
  }

  private async claim(lease: string): Promise<boolean> {
    const value = JSON.stringify(this.self);
    const result = await this.store.txn(
      [{ key: this.key, target: 'create', op: '=', revision: 0n }],
      [{ put: this.key, value, lease }],
      [{ get: this.key }],
    );
    if (result.succeeded) return true;
    const current = result.gets[0];
    if (current === undefined) return this.claim(lease);
    // Our own key under the same lease (a retried call that did land): ours.
    if (current.lease === lease) return true;
    // Our own key under an older lease that etcd still keeps (it was down while this queen gave that lease up):
    // this very queen (same start time), so it moves to the new lease.
    const held = decodeQueen(current);
    if (held?.queenId === this.self.queenId && held.startedAtMs === this.self.startedAtMs && held.address === this.self.address) {
      const moved = await this.store.txn(
        [{ key: this.key, target: 'mod', op: '=', revision: current.modRevision }],
        [{ put: this.key, value, lease }],
      );
      return moved.succeeded || this.claim(lease);
    }
    return false;
  }

  private put(entry: EtcdEntry): void {
    const queen = decodeQueen(entry);
    if (queen === undefined) {
      this.logger.warn({ key: entry.key }, 'unreadable queen record in etcd: skipped');
      return;
    }
    this.queens.set(queen.queenId, queen);
  }
}
