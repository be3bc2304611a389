import { CompactMultimap } from '../common/compact-multimap.js';
import type { Worker } from '../common/worker.js';

/** Tells whether a hive is online, at an instant fixed by whoever made it. */
export type OnlineCheck = (hiveId: string) => boolean;

/** A worker id that `byHive` claimed, in a full snapshot, while the hive holding it was offline. */
export interface Claim {
  readonly workerId: string;
  readonly byHive: string;
}

/**
 * The registry's worker-id index: worker id -> hives whose snapshot holds it. More than one hive holds an id only
 * when all but one of them are offline (a payload claiming an id an online hive holds is rejected), so the common
 * lookups find a single holder and walk nothing. Liveness is not kept here: callers pass an `OnlineCheck`.
 */
export class WorkerHolders {
  private readonly holders = new CompactMultimap<string, string>();

  /**
   * Moves `hiveId`'s holdings from its `previous` snapshot to its `next` one (both sorted by worker id). `claimed`
   * is told of every other hive that also holds one of the ids in `next` (each is offline, see above), whether the
   * id is new here or kept: its snapshot is no longer the truth.
   */
  replace(
    hiveId: string,
    previous: readonly Worker[],
    next: readonly Worker[],
    claimed: (holderHiveId: string, claim: Claim) => void,
  ): void {
    // Walk both sorted lists together and touch the index only where they differ (in steady state a hive reports
    // the same workers, so nothing is touched).
    let i = 0;
    let j = 0;
    while (i < previous.length || j < next.length) {
      const gone = previous[i]?.workerId;
      const added = next[j]?.workerId;
      if (added === undefined || (gone !== undefined && gone < added)) {
        this.remove(gone as string, hiveId);
        i++;
      } else if (gone === undefined || added < gone) {
        this.add(added, hiveId, claimed);
        j++;
      } else {
        // Kept, but another (offline) hive may have claimed it since: this full snapshot takes it back, so that
        // hive's snapshot is no longer the truth either (else a tick could bring it back online holding the id too).
        if (this.holders.count(added) > 1) {
          for (const other of this.holders.values(added)) {
            if (other !== hiveId) claimed(other, { workerId: added, byHive: hiveId });
          }
        }
        i++;
        j++;
      }
    }
  }

  /** Forgets the holdings of a hive that leaves the registry (`workers`: its last snapshot). */
  removeAll(hiveId: string, workers: readonly Worker[]): void {
    for (const worker of workers) this.remove(worker.workerId, hiveId);
  }

  /** The lowest hive id other than `hiveId` that holds `workerId` and is online, or undefined. */
  onlineHolderOtherThan(workerId: string, hiveId: string, isOnline: OnlineCheck): string | undefined {
    const count = this.holders.count(workerId);
    // The common case, a hive reporting its own workers again, needs no walk.
    if (count === 0 || (count === 1 && this.holders.has(workerId, hiveId))) return undefined;
    let found: string | undefined;
    for (const holder of this.holders.values(workerId)) {
      if (holder !== hiveId && isOnline(holder) && (found === undefined || holder < found)) found = holder;
    }
    return found;
  }

  /**
   * The holder of a worker id: the online one if any, else the one with the lowest hive id. Undefined when no
   * hive holds it.
   */
  holderOf(workerId: string, isOnline: OnlineCheck): { readonly hiveId: string; readonly online: boolean } | undefined {
    let best: { hiveId: string; online: boolean } | undefined;
    for (const hiveId of this.holders.values(workerId)) {
      const online = isOnline(hiveId);
      if (
        best === undefined ||
        (online && !best.online) ||
        (online === best.online && hiveId < best.hiveId)
      ) {
        best = { hiveId, online };
      }
    }
    return best;
  }

  private add(workerId: string, hiveId: string, claimed: (holderHiveId: string, claim: Claim) => void): void {
    // Every other holder is offline (an online one would have got this payload rejected): it must resnapshot.
    for (const other of this.holders.values(workerId)) claimed(other, { workerId, byHive: hiveId });
    this.holders.add(workerId, hiveId);
  }

  private remove(workerId: string, hiveId: string): void {
    this.holders.delete(workerId, hiveId);
  }
}
