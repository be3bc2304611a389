import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type CallOptions,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  HiveRegistry,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
  type WatchEvent,
  type WatchRequest,
} from '../gen/hive/v1/registry_pb.js';
import { grpcServiceDefinition } from '../src/server/grpc-service.js';

/** A grpc-js generic client for hive.v1.HiveRegistry, from the same definition the servers use. */
const RegistryClient = makeGenericClientConstructor(grpcServiceDefinition(HiveRegistry), HiveRegistry.name);

export type UnaryCallback = (error: ServiceError | null, response?: unknown) => void;
type RawUnary = (request: unknown, metadata: Metadata, options: CallOptions, callback: UnaryCallback) => unknown;
type RawBidi = (metadata?: Metadata) => ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;
type RawServerStream = (request: WatchRequest, metadata?: Metadata) => ClientReadableStream<WatchEvent>;

/**
 * Opens a channel to `address`. `ownConnection` gives it its own subchannel (its own TCP connection) instead of
 * sharing grpc-js's process-wide one, as separate machines would.
 */
export function openClient(address: string, ownConnection: boolean): Client {
  return new RegistryClient(
    address,
    credentials.createInsecure(),
    ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {},
  );
}

/** Opens one Heartbeat stream on `client` (with `metadata`: a hive token against the production queen). */
export function openHeartbeat(client: Client, metadata = new Metadata()): ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck> {
  const method = (client as unknown as Record<string, RawBidi | undefined>)['heartbeat'];
  if (method === undefined) throw new Error('generic client has no heartbeat method');
  return method.call(client, metadata);
}

/** Opens one Watch call on `client`. */
export function openWatch(client: Client, request: WatchRequest, metadata = new Metadata()): ClientReadableStream<WatchEvent> {
  const method = (client as unknown as Record<string, RawServerStream | undefined>)['watch'];
  if (method === undefined) throw new Error('generic client has no watch method');
  return method.call(client, request, metadata);
}

/** A bound unary method of `client`, by lowerCamel name, each call with a copy of `metadata`. */
export function unaryMethod(
  client: Client,
  name: string,
  metadata = new Metadata(),
): (request: unknown, deadlineMs: number, callback: UnaryCallback) => void {
  const method = (client as unknown as Record<string, RawUnary | undefined>)[name];
  if (method === undefined) throw new Error(`generic client has no method ${name}`);
  return (request, deadlineMs, callback) => {
    method.call(client, request, metadata.clone(), { deadline: Date.now() + deadlineMs }, callback);
  };
}
