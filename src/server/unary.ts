import { create, type DescMessage, type Message, type MessageShape } from '@bufbuild/protobuf';
import type { handleUnaryCall, ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import { checkId, checkModelId } from '../registry/ids.js';
import { serviceError, statusOf } from './status-map.js';

/**
 * Wraps a handler: request in, response out, any thrown error (or rejection) mapped through the status table. A
 * handler that answers synchronously (the lookups: a hot path) is answered in the same turn, with no promise made;
 * one that returns a promise (a catalog write committed to its store) is answered when it settles.
 */
export function unary<I extends Message, O extends DescMessage>(
  rpc: string,
  logger: Logger,
  schema: O,
  handler: (request: I) => ResponseInit<O> | Promise<ResponseInit<O>>,
): handleUnaryCall<I, MessageShape<O>> {
  return (call, callback) => {
    let response: MessageShape<O>;
    try {
      const init = handler(call.request);
      if (init instanceof Promise) {
        init.then((resolved) => {
          let built: MessageShape<O>;
          try {
            built = create(schema, resolved);
          } catch (error) {
            fail(rpc, logger, callback, error);
            return;
          }
          callback(null, built);
        }, (error: unknown) => fail(rpc, logger, callback, error));
        return;
      }
      response = create(schema, init);
    } catch (error) {
      fail(rpc, logger, callback, error);
      return;
    }
    callback(null, response);
  };
}

/**
 * As `unary`, for a synchronous handler that answers with the response already encoded (wire-splice.ts): the
 * service's serializer sends bytes as they are (grpc-service.ts).
 */
export function unaryEncoded<I extends Message, O extends DescMessage>(
  rpc: string,
  logger: Logger,
  handler: (request: I) => Uint8Array,
): handleUnaryCall<I, MessageShape<O>> {
  return (call, callback) => {
    let response: Uint8Array;
    try {
      response = handler(call.request);
    } catch (error) {
      fail(rpc, logger, callback, error);
      return;
    }
    // The typed callback wants the message; its serializer takes the bytes as they are.
    callback(null, response as unknown as MessageShape<O>);
  };
}

/** Answers a call with the status its error maps to (no closure made per call: lookups are a hot path). */
function fail(rpc: string, logger: Logger, callback: (error: Partial<ServiceError>) => void, error: unknown): void {
  const callStatus = statusOf(error, logger, rpc);
  logger.debug({ rpc, code: callStatus.code, details: callStatus.details }, 'request failed');
  callback(serviceError(callStatus));
}

/** What a handler answers: the response message's fields. */
type ResponseInit<O extends DescMessage> = Parameters<typeof create<O>>[1];

/** Throws INVALID_ARGUMENT naming `field` unless `problem` is undefined. */
export function requireValid(problem: string | undefined): void {
  if (problem !== undefined) throw new DomainError('invalid_argument', problem);
}

/** A hive or worker id, or INVALID_ARGUMENT naming the field. */
export function requireId(field: string, value: string): string {
  requireValid(checkId(field, value));
  return value;
}

/** A model id, or INVALID_ARGUMENT naming the field. */
export function requireModelId(field: string, value: string): string {
  requireValid(checkModelId(field, value));
  return value;
}
