import { create, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import {
  makeGenericClientConstructor,
  Metadata,
  status,
  type CallOptions,
  type Client,
  type ChannelCredentials,
  type ServiceError,
} from '@grpc/grpc-js';
import { grpcServiceDefinition } from '../server/grpc-service.js';
import { ClientError } from './client-error.js';

type UnaryMethodName<M extends GenServiceMethods> = {
  [K in keyof M]: M[K]['methodKind'] extends 'unary' ? K : never;
}[keyof M];

/**
 * The unary methods of a protobuf-es service as promises, keyed by lowerCamel method name: request init shape in,
 * response message out; a failed call rejects with ClientError.
 */
export type UnaryMethods<M extends GenServiceMethods> = {
  readonly [K in UnaryMethodName<M>]: (
    init?: MessageInitShape<M[K]['input']>,
  ) => Promise<MessageShape<M[K]['output']>>;
};

type RawUnary = (
  request: unknown,
  metadata: Metadata,
  options: CallOptions,
  callback: (error: ServiceError | null, response?: unknown) => void,
) => unknown;

/** A grpc-js client for `service` (built from its protobuf-es descriptor). */
export function rawClient(
  service: DescService,
  address: string,
  credentials: ChannelCredentials,
  channelOptions: Record<string, string | number> = {},
): Client {
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  return new Ctor(address, credentials, channelOptions);
}

/** gRPC metadata values must be printable ASCII; a space would also split `Bearer <token>` ambiguously. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/**
 * The metadata every call of a client sends: `authorization: Bearer <token>` when a token is given, else nothing.
 * RangeError for a token that metadata cannot carry; the message never includes the token, which may end up in
 * logs.
 */
export function bearerMetadata(token: string | undefined): () => Metadata {
  if (token === undefined) return () => new Metadata();
  if (!TOKEN_PATTERN.test(token)) {
    throw new RangeError('token: must be non-empty printable ASCII without spaces (a gRPC metadata value)');
  }
  const value = `Bearer ${token}`;
  return () => {
    // A fresh object per call: grpc-js may add to the metadata it is given.
    const metadata = new Metadata();
    metadata.set('authorization', value);
    return metadata;
  };
}

/** Promise-returning unary methods over `raw`, each call bounded by `deadlineMs`. */
export function unaryMethods<M extends GenServiceMethods>(
  service: GenService<M>,
  raw: Client,
  deadlineMs: number,
  metadata: () => Metadata = () => new Metadata(),
): UnaryMethods<M> {
  const methods: Record<string, (init?: Record<string, unknown>) => Promise<unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== 'unary') continue;
    const call = (raw as unknown as Record<string, RawUnary | undefined>)[method.localName];
    if (call === undefined) throw new Error(`generic client has no method ${method.localName}`);
    const rpc = `${service.typeName}/${method.name}`;
    methods[method.localName] = (init = {}) =>
      new Promise((resolve, reject) => {
        try {
          call.call(raw, create(method.input, init), metadata(), { deadline: Date.now() + deadlineMs }, (error, response) =>
            error ? reject(ClientError.from(error, rpc)) : resolve(response),
          );
        } catch (error) {
          // grpc-js throws, instead of calling back, on a closed channel.
          reject(new ClientError(status.CANCELLED, error instanceof Error ? error.message : String(error), rpc));
        }
      });
  }
  return methods as unknown as UnaryMethods<M>;
}
