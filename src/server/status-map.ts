import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError, type DomainErrorReason } from '../common/domain-error.js';

/** The one table from domain reasons to gRPC codes. */
export const STATUS_BY_REASON: Readonly<Record<DomainErrorReason, status>> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  permission_denied: status.PERMISSION_DENIED,
  failed_precondition: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  no_capacity: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  limit_exceeded: status.RESOURCE_EXHAUSTED,
};

/** A status to end a call with: what grpc-js sends as the call's status code and message. */
export interface CallStatus {
  readonly code: status;
  readonly details: string;
}

/** A grpc-js error object carrying `callStatus`. */
export function serviceError(callStatus: CallStatus): Partial<ServiceError> {
  return { code: callStatus.code, details: callStatus.details, metadata: new Metadata() };
}

/**
 * Maps anything a handler threw to a status. Domain errors keep their message (it was written for clients);
 * anything else is logged and becomes INTERNAL with a generic message, so no internals reach the client.
 */
export function statusOf(error: unknown, logger: Logger, rpc: string): CallStatus {
  if (error instanceof DomainError) return { code: STATUS_BY_REASON[error.reason], details: error.message };
  logger.error({ err: error, rpc }, 'unexpected error in handler');
  return { code: status.INTERNAL, details: 'internal error' };
}
