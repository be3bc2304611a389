import { create, type DescMessage, type Message, type MessageShape } from '@bufbuild/protobuf';
import type { handleUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DomainError } from '../common/domain-error.js';
import { checkId, checkModelId } from '../registry/ids.js';
import { serviceError, statusOf } from './status-map.js';

/** Wraps a synchronous handler: request in, response out, any thrown error mapped through the status table. */
export function unary<I extends Message, O extends DescMessage>(
  rpc: string,
  logger: Logger,
  schema: O,
  handler: (request: I) => Parameters<typeof create<O>>[1],
): handleUnaryCall<I, MessageShape<O>> {
  return (call, callback) => {
    let response: MessageShape<O>;
    try {
      response = create(schema, handler(call.request));
    } catch (error) {
      const callStatus = statusOf(error, logger, rpc);
      logger.debug({ rpc, code: callStatus.code, details: callStatus.details }, 'request failed');
      callback(serviceError(callStatus));
      return;
    }
    callback(null, response);
  };
}

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
