import type { HeartbeatRejectionReason } from '../registry/types.js';

/**
 * Why a heartbeat payload was not accepted, as a closed set of classes (metrics label values: never ids or free
 * text). The registry's own reasons, plus what the stream adapter refuses before the registry sees a payload:
 * `invalid_payload` also covers fields that fail validation; `wrong_hive` a payload for another hive than the
 * stream's token; `throttled` the stream's rate limit; `not_admitted` a hive not in the catalog under
 * `--registration required`; `max_hives` the catalog's limit as well as the registry's; `internal` an unexpected
 * error (the stream is ended).
 */
export type HeartbeatRejectionClass = HeartbeatRejectionReason | 'throttled' | 'not_admitted' | 'internal';

/** Every class, so counters can start at 0 for each (a rate over a series that does not exist yet is empty). */
export const HEARTBEAT_REJECTION_CLASSES: readonly HeartbeatRejectionClass[] = [
  'invalid_payload',
  'sequence',
  'wrong_hive',
  'worker_claimed',
  'max_hives',
  'throttled',
  'not_admitted',
  'internal',
];

/** Told of every payload's outcome (metrics); called synchronously on the heartbeat path, so it must be cheap. */
export interface HeartbeatObserver {
  accepted(): void;
  rejected(reason: HeartbeatRejectionClass): void;
}
