import type { EtcdCompare } from '../federation/etcd-store.js';
import type { EtcdCatalogCache } from './etcd-catalog-cache.js';
import { absent, encodeHive, encodeToken, MAX_TXN_KEYS, unchangedSince, type CatalogKeys } from './etcd-catalog-keys.js';
import type { EtcdCatalogSync } from './etcd-catalog-sync.js';

/** Transactions of one flush that may lose a compare (another queen wrote one of their keys) before it gives up. */
const MAX_FLUSH_CONFLICTS = 3;

/** One key a flush writes: its guard, its value, what to note once committed, and how to try it again. */
interface FlushWrite {
  readonly hiveId: string;
  readonly key: string;
  readonly guard: EtcdCompare;
  readonly value: string;
  /** Written only if absent: a hive that joined here by heartbeat and is not in etcd yet. */
  readonly creates: boolean;
  committed(revision: bigint): void;
  /** Its compare lost: back among what the flush still has to write. */
  again(): void;
}

export interface FlushPace {
  /** Wall-clock epoch ms, now. */
  readonly now: number;
  /** Least time between two writes of one hive's `last_seen` (or one token's last use) while it stays online. */
  readonly intervalMs: number;
}

/**
 * Writes what heartbeats changed and is due: a hive's `last_seen`/`last_peer` when it is not in etcd yet (created
 * if still absent), when its stream on this queen ended, or when this queen last wrote it `intervalMs` ago or more;
 * a token's last use on the same pace. Each key is guarded by its mod revision: a compare lost to another queen's
 * write reads the key again and writes the merge (the newer sighting wins; every other field stays theirs). Up to
 * MAX_TXN_KEYS keys per transaction. Resolves with how many keys were written; rejects DomainError('unavailable')
 * when etcd does not answer, keeping what is not written for the next flush.
 */
export async function flushSightings(
  sync: EtcdCatalogSync,
  cache: EtcdCatalogCache,
  keys: CatalogKeys,
  { now, intervalMs }: FlushPace,
): Promise<number> {
  // A wall clock stepped back counts as time passed: a write too many rather than one missed.
  const due = (writtenAt: number | undefined): boolean =>
    writtenAt === undefined || now - writtenAt >= intervalMs || now < writtenAt;
  const hives = new Set(
    [...cache.seenChanged].filter(
      (id) => cache.storedHive(id) === undefined || cache.streamEnded.has(id) || due(cache.seenWrittenAt.get(id)),
    ),
  );
  const tokens = new Set([...cache.useChanged].filter((id) => due(cache.useWrittenAt.get(id))));
  let written = 0;
  let conflicts = 0;
  while (conflicts <= MAX_FLUSH_CONFLICTS) {
    const batch = nextBatch(sync, cache, keys, hives, tokens, now);
    if (batch.length === 0) break;
    const releases = [...new Set(batch.map((write) => write.hiveId))].map((hiveId) => sync.hold(hiveId).release);
    try {
      const result = await sync.commit(
        batch.map((write) => write.guard),
        batch.map((write) => ({ put: write.key, value: write.value })),
        batch.map((write) => ({ get: write.key })),
      );
      if (result.succeeded) {
        for (const write of batch) write.committed(result.revision);
        written += batch.length;
      } else {
        conflicts += 1;
        batch.forEach((write, i) => {
          const current = result.gets[i];
          // A key still absent is no news for a hive that joined here (it was never in etcd): taken for a deletion,
          // it would deregister the hive, and end its stream, because another key of the batch lost its compare.
          if (current !== undefined || !write.creates) sync.learnEntry(write.key, current, result.revision);
          write.again();
        });
      }
    } finally {
      for (const release of releases) release();
    }
  }
  return written;
}

/**
 * Up to MAX_TXN_KEYS writes taken out of `hives` and `tokens`, built from what is known now. What another write of
 * this queen holds is left for a later flush; what no longer needs writing is dropped.
 */
function nextBatch(
  sync: EtcdCatalogSync,
  cache: EtcdCatalogCache,
  keys: CatalogKeys,
  hives: Set<string>,
  tokens: Set<string>,
  now: number,
): FlushWrite[] {
  const batch: FlushWrite[] = [];
  for (const hiveId of hives) {
    if (batch.length >= MAX_TXN_KEYS) return batch;
    if (sync.isWriting(hiveId)) continue;
    hives.delete(hiveId);
    // The view: etcd's record as known here, with this queen's newer sighting (or the whole record of a hive that
    // joined by heartbeat and is not in etcd yet).
    const record = cache.get(hiveId);
    if (record === undefined || !cache.seenChanged.has(hiveId)) continue;
    const stored = cache.storedHive(hiveId);
    const key = keys.hive(hiveId);
    batch.push({
      hiveId,
      key,
      guard: stored === undefined ? absent(key) : unchangedSince(key, stored.revision),
      value: encodeHive(record),
      creates: stored === undefined,
      committed: (revision) => {
        cache.applyHive(hiveId, record, revision);
        cache.seenWrittenAt.set(hiveId, now);
      },
      again: () => hives.add(hiveId),
    });
  }
  for (const tokenId of tokens) {
    if (batch.length >= MAX_TXN_KEYS) return batch;
    const stored = cache.storedToken(tokenId);
    const record = cache.liveToken(tokenId);
    if (stored !== undefined && sync.isWriting(stored.record.hiveId)) continue;
    tokens.delete(tokenId);
    if (stored === undefined || record === undefined || !cache.useChanged.has(tokenId)) continue;
    const hiveId = stored.record.hiveId;
    const key = keys.token(hiveId, tokenId);
    batch.push({
      hiveId,
      key,
      guard: unchangedSince(key, stored.revision),
      value: encodeToken(record),
      creates: false,
      committed: (revision) => {
        cache.applyToken(hiveId, tokenId, record, revision);
        cache.useWrittenAt.set(tokenId, now);
      },
      again: () => tokens.add(tokenId),
    });
  }
  return batch;
}
