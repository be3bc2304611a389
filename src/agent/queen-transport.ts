import {
  credentials as grpcCredentials,
  makeGenericClientConstructor,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ClientDuplexStream,
} from '@grpc/grpc-js';
import { HiveRegistry, type HeartbeatAck, type HiveHeartbeatPayload } from '../../gen/hive/v1/registry_pb.js';
import { grpcServiceDefinition } from '../server/grpc-service.js';
import type { HeartbeatCall, HeartbeatTransport } from './heartbeat-transport.js';

/** How the agent reaches its queen over grpc-js. */
export interface QueenTransportOptions {
  /** Channel credentials. Default insecure (plaintext), for a queen on loopback. */
  readonly credentials?: ChannelCredentials;
  /** Extra grpc-js channel options (keepalive, message size, ...). Default none. */
  readonly channelOptions?: ChannelOptions;
  /**
   * Metadata sent when each Heartbeat call opens, such as the hive token (`authorization: Bearer <token>`). A
   * function is called at every open, so a rotated token is picked up at the next reconnect; if it throws, that
   * open fails and the agent backs off and tries again. A Metadata object is sent as it is (a copy) every time.
   * Default none.
   */
  readonly metadata?: Metadata | (() => Metadata);
}

type OpenHeartbeat = (metadata: Metadata) => ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>;

const HiveRegistryClient = makeGenericClientConstructor(grpcServiceDefinition(HiveRegistry), HiveRegistry.name);

/**
 * Heartbeat calls to the queen at `address` (HOST:PORT). Throws at once for an address grpc-js cannot parse.
 *
 * Every call after the first gets a fresh channel: grpc-js channels keep their own reconnect backoff (1 s growing
 * to 120 s), which would stack on the agent's and could keep a restarted queen unreachable long after the
 * agent's 10 s cap. A new channel dials at once, so the agent's jittered backoff is the only one.
 */
export function queenTransport(address: string, options: QueenTransportOptions = {}): HeartbeatTransport {
  const channelCredentials = options.credentials ?? grpcCredentials.createInsecure();
  const newClient = (): Client => new HiveRegistryClient(address, channelCredentials, options.channelOptions ?? {});
  const metadataSource = options.metadata;
  const metadata: () => Metadata =
    metadataSource === undefined
      ? () => new Metadata()
      : typeof metadataSource === 'function'
        ? metadataSource
        : () => metadataSource.clone();
  let client: Client | undefined = newClient();
  let used = false;
  return {
    open(): HeartbeatCall {
      if (client === undefined) throw new Error('the transport is closed');
      // Before the channel is replaced: a failure here (an unreadable token file) leaves the transport as it was.
      const callMetadata = metadata();
      if (used) {
        client.close();
        client = newClient();
      }
      used = true;
      const method = (client as unknown as Record<string, OpenHeartbeat | undefined>)['heartbeat'];
      if (method === undefined) throw new Error('generic client has no heartbeat method');
      // Typed as grpc-js's own stream, so the compiler checks that it satisfies HeartbeatCall.
      const call: HeartbeatCall = method.call(client, callMetadata);
      return call;
    },
    close(): void {
      client?.close();
      client = undefined;
    },
  };
}
