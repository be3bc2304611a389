import { status, type ServiceError } from '@grpc/grpc-js';

/**
 * A call that failed: the queen answered with a non-OK status, or could not be reached (UNAVAILABLE), or the
 * deadline passed (DEADLINE_EXCEEDED). `code` is the gRPC status code; the message names it.
 */
export class ClientError extends Error {
  override readonly name = 'ClientError';

  constructor(
    /** The gRPC status code. */
    readonly code: status,
    /** The status message as the queen sent it (or grpc-js wrote it, for transport failures). */
    readonly details: string,
    /** The RPC, as `Service/Method`. */
    readonly rpc: string,
  ) {
    super(`${rpc}: ${status[code] ?? code}: ${details}`);
  }

  /** The code's name, e.g. `NOT_FOUND`. */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }

  /** Wraps what grpc-js reports for a failed call. */
  static from(error: ServiceError, rpc: string): ClientError {
    return new ClientError(error.code, error.details, rpc);
  }
}
