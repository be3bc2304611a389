import type { Worker } from '../../src/common/worker';
import { compareIds } from '../../src/registry/ids';
import type { RegistryEvent, WatchSnapshot } from '../../src/registry/types';

/**
 * What a watcher that saw every event from revision 0 holds: hives with their announced liveness and workers, built
 * from the events alone. The Watch contract says it always equals the registry's watch snapshot.
 */
export class EventReplica {
  private readonly hives = new Map<string, { online: boolean; workers: Map<string, Worker> }>();
  private readonly seen: RegistryEvent[] = [];
  private readonly problems: string[] = [];

  /** Every event so far, in order. */
  get events(): readonly RegistryEvent[] {
    return this.seen;
  }

  /** What was wrong with the events so far (none expected). */
  get eventProblems(): readonly string[] {
    return this.problems;
  }

  /** Applies one event; records what is wrong with it, if anything (listeners must not throw). */
  apply(event: RegistryEvent): void {
    const problem = this.problemWith(event);
    if (problem !== undefined) this.problems.push(`revision ${event.revision}: ${problem}`);
  }

  /** The replica in the watch snapshot's shape, sorted the same way. */
  asWatchSnapshot(): WatchSnapshot {
    const hives = [...this.hives]
      .sort(([a], [b]) => compareIds(a, b))
      .map(([hiveId, h]) => ({
        hiveId,
        online: h.online,
        workers: [...h.workers.values()].sort((a, b) => compareIds(a.workerId, b.workerId)),
      }));
    return { revision: this.seen.length, hives };
  }

  private problemWith(event: RegistryEvent): string | undefined {
    this.seen.push(event);
    if (event.revision !== this.seen.length) return `expected revision ${this.seen.length}`;
    const hive = this.hives.get(event.hiveId);
    switch (event.type) {
      case 'hive_online':
        if (hive === undefined) this.hives.set(event.hiveId, { online: true, workers: new Map() });
        else hive.online = true;
        break;
      case 'hive_offline':
        if (hive === undefined) return 'hive_offline for a hive the watcher does not know';
        hive.online = false;
        break;
      case 'hive_removed':
        if (!this.hives.delete(event.hiveId)) return 'hive_removed for a hive the watcher does not know';
        break;
      case 'worker_upserted':
        if (hive === undefined) return 'worker_upserted for a hive the watcher does not know';
        hive.workers.set(event.worker.workerId, event.worker);
        break;
      case 'worker_removed':
        if (hive?.workers.delete(event.workerId) !== true) return `worker_removed for unknown worker ${event.workerId}`;
        break;
    }
    const online = this.hives.get(event.hiveId)?.online ?? false;
    if (event.hiveOnline === online) return undefined;
    return `hiveOnline ${event.hiveOnline}, but the hive is now ${online ? 'online' : 'offline'}`;
  }
}
