import { DomainError } from '../common/domain-error.js';
import { quote } from '../registry/ids.js';
import type { AdmissionRefusal, RegistrationMode } from './types.js';

// What every catalog store refuses, and in the same words: the shared catalog tests hold each store to them.

export function alreadyExists(hiveId: string): DomainError {
  return new DomainError('already_exists', `hive_id: hive ${quote(hiveId)} is already in the catalog`);
}

export function notFound(hiveId: string): DomainError {
  return new DomainError('not_found', `hive_id: no hive ${quote(hiveId)} in the catalog`);
}

/** RegisterHive with the catalog full. */
export function catalogFull(maxHives: number | undefined): DomainError {
  return new DomainError(
    'limit_exceeded',
    `hive_id: the catalog holds its maximum of ${maxHives ?? 0} hives (--max-hives); deregister one first`,
  );
}

/**
 * Why a heartbeat stream for `hiveId` may not bind to it, or undefined when it may: in required registration, a
 * hive must be in the catalog; in open registration, a new hive needs room in it.
 */
export function admissionRefusal(
  hiveId: string,
  known: boolean,
  full: boolean,
  registration: RegistrationMode,
  maxHives: number | undefined,
): AdmissionRefusal | undefined {
  if (known) return undefined;
  if (registration === 'required') {
    return {
      reason: 'not_registered',
      message: `hive_id: hive ${quote(hiveId)} is not registered in the catalog, and this queen admits only registered hives (--registration required)`,
    };
  }
  if (full) {
    return {
      reason: 'catalog_full',
      message: `hive_id: the catalog holds its maximum of ${maxHives ?? 0} hives (--max-hives); hive ${quote(hiveId)} cannot join until an operator deregisters one`,
    };
  }
  return undefined;
}
