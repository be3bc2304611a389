import { normalizeLabels, type Labels } from './labels.js';
import type { CatalogRecord } from './types.js';

// How a catalog record is made and how a heartbeat changes it, the same in every store.

/** A hive an operator registers now (`nowMs`, wall clock): never seen yet, not cordoned. */
export function registeredRecord(hiveId: string, labels: Labels, description: string, nowMs: number): CatalogRecord {
  return {
    hiveId,
    labels: normalizeLabels(labels),
    description,
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    lastPeer: '',
    cordoned: false,
  };
}

/** A hive that joins by its first accepted heartbeat (open registration), at `wallMs` from `peer`. */
export function joinedRecord(hiveId: string, wallMs: number, peer: string): CatalogRecord {
  return {
    hiveId,
    labels: Object.freeze({}),
    description: '',
    createdAtMs: wallMs,
    updatedAtMs: wallMs,
    lastSeenMs: wallMs,
    lastPeer: peer,
    cordoned: false,
  };
}

/** `current` seen again at `wallMs` from `peer`, or undefined when that changes nothing. */
export function sightedRecord(current: CatalogRecord, wallMs: number, peer: string): CatalogRecord | undefined {
  // A wall clock stepped back must not make last_seen go back.
  const lastSeenMs = Math.max(wallMs, current.lastSeenMs ?? wallMs);
  if (lastSeenMs === current.lastSeenMs && peer === current.lastPeer) return undefined;
  return { ...current, lastSeenMs, lastPeer: peer };
}
