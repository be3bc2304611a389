import type { Labels } from './labels.js';

// The catalog's public types: the durable record of one hive, and how hives are admitted.

/** One hive as the catalog keeps it. Plain data, never mutated once built. Times are wall-clock epoch ms. */
export interface CatalogRecord {
  readonly hiveId: string;
  /** Sorted by key, frozen. */
  readonly labels: Labels;
  readonly description: string;
  readonly createdAtMs: number;
  /** When labels or description (or cordon) last changed. */
  readonly updatedAtMs: number;
  /** The queen's receive time of the hive's last accepted heartbeat; undefined if never seen. */
  readonly lastSeenMs?: number;
  /** Remote address of the hive's last heartbeat stream; '' if never seen. */
  readonly lastPeer: string;
  readonly cordoned: boolean;
}

/**
 * How hives enter the catalog. `open`: a hive is added on its first accepted heartbeat. `required`: only hives
 * an operator registered may stream heartbeats.
 */
export type RegistrationMode = 'open' | 'required';
export const REGISTRATION_MODES: readonly RegistrationMode[] = ['open', 'required'];

/** Why a Heartbeat stream may not bind to a hive: not in the catalog (required registration), or no room left. */
export interface AdmissionRefusal {
  readonly reason: 'not_registered' | 'catalog_full';
  /** For the ack and the stream's status; names the field and the limit. */
  readonly message: string;
}

/** What an operator may change with UpdateHive; a field left undefined is kept. */
export interface CatalogPatch {
  readonly labels?: Labels;
  readonly description?: string;
}

/**
 * A live hive token as the catalog keeps it: never the token itself, only its SHA-256. Times are wall-clock
 * epoch ms.
 */
export interface HiveTokenRecord {
  readonly tokenId: string;
  readonly hiveId: string;
  /** SHA-256 of the token's UTF-8 bytes, 32 bytes. */
  readonly sha256: Buffer;
  readonly createdAtMs: number;
  /** When a Heartbeat stream last opened with it; undefined if never. */
  readonly lastUsedAtMs?: number;
}
