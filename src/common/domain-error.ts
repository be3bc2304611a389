/**
 * Why a domain operation failed. A closed set: src/server/status-map.ts maps each reason to one gRPC code, and
 * nothing else decides codes.
 */
export type DomainErrorReason =
  /** The caller sent something malformed or out of range. */
  | 'invalid_argument'
  /** The named thing does not exist. */
  | 'not_found'
  /** The thing to create exists already. */
  | 'already_exists'
  /** The caller is known but may not do this (a hive not admitted by the catalog, ...). */
  | 'permission_denied'
  /** The system is not in a state that allows the operation. */
  | 'failed_precondition'
  /** A newer holder took over (a newer stream for the same hive), or the holder was removed. */
  | 'aborted'
  /** Candidates exist but none has capacity now (every eligible worker busy or loading). */
  | 'no_capacity'
  /** Nothing can serve the request (no eligible worker at all), or the service is shutting down. */
  | 'unavailable'
  /** A configured limit was reached (streams per process, ...). */
  | 'limit_exceeded';

/** The one error type the domain throws. `message` names the field and the limit; it is safe to send to clients. */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly reason: DomainErrorReason,
    message: string,
  ) {
    super(message);
  }
}
