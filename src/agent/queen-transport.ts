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
 * Heartbeat calls to the queen at `address` (HOST:PORT), or to any of several queens over one fleet: each call goes
 * to the queen the agent names (see HeartbeatTransport.queens), the first when it names none. Throws at once for
 * an empty list or an address grpc-js cannot parse.
 *
 * Every call after the first gets a fresh channel: grpc-js channels keep their own reconnect backoff (1 s growing
 * to 120 s), which would stack on the agent's and could keep a restarted queen unreachable long after the
 * agent's 10 s cap. A new channel dials at once, so the agent's jittered backoff is the only one.
 */
export function queenTransport(address: string | readonly string[], options: QueenTransportOptions = {}): HeartbeatTransport {
  const queens = typeof address === 'string' ? [address] : [...address];
  const first = queens[0];
  if (first === undefined) throw new RangeError('address: give at least one queen (HOST:PORT)');
  const channelCredentials = options.credentials ?? grpcCredentials.createInsecure();
  const newClient = (queen: string): Client => new HiveRegistryClient(queen, channelCredentials, options.channelOptions ?? {});
  // A channel only dials when a call starts: making one per queen now checks every address, not just the first.
  for (const queen of queens.slice(1)) newClient(queen).close();
  const metadataSource = options.metadata;
  const metadata: () => Metadata =
    metadataSource === undefined
      ? () => new Metadata()
      : typeof metadataSource === 'function'
        ? metadataSource
        : () => metadataSource.clone();
  let client: Client | undefined = newClient(first);
  let used = false;
  return {
    queens,
    open(queen = first): HeartbeatCall {
      if (client === undefined) throw new Error('the transport is closed');
      if (!queens.includes(queen)) throw new Error(`${JSON.stringify(queen)} is not one of this transport's queens`);
      // Before the channel is replaced: a failure here (an unreadable token file) leaves the transport as it was.
      const callMetadata = metadata();
      // The channel made up front is for the first queen; the agent's first call may go to another.
      if (used || queen !== first) {
        client.close();
        client = newClient(queen);
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
