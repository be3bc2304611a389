import { Client, credentials, Metadata, status, type CallOptions, type ServiceError, type StatusObject } from '@grpc/grpc-js';

/**
 * gRPC calls whose message bodies are raw bytes: the client's serializers are the identity, so whatever bytes a
 * test makes reach the server's deserializer as they are, and replies come back undecoded.
 */

const identity = (bytes: Buffer): Buffer => bytes;
/** Bounds every raw call, so a server that never answers fails the property instead of hanging jest. */
const CALL_DEADLINE_MS = 5_000;
const deadline = (): CallOptions => ({ deadline: Date.now() + CALL_DEADLINE_MS });

export interface RawReply {
  readonly code: status;
  readonly details: string;
  readonly response?: Buffer;
}

/** A generic grpc-js client (no service definition) on `address`; close it with `close()`. */
export function rawClient(address: string): Client {
  return new Client(address, credentials.createInsecure());
}

/** One unary call with `body` as the request message; resolves with the status (OK with the response bytes). */
export function rawUnary(client: Client, path: string, body: Buffer): Promise<RawReply> {
  return new Promise((resolve) => {
    const done = (error: ServiceError | null, response?: Buffer): void => {
      if (error) resolve({ code: error.code, details: error.details });
      else resolve({ code: status.OK, details: '', response });
    };
    client.makeUnaryRequest(path, identity, identity, body, new Metadata(), deadline(), done);
  });
}

export interface RawStreamResult {
  /** Every message the server sent back, undecoded. */
  readonly replies: readonly Buffer[];
  readonly status: StatusObject;
}

/**
 * A bidirectional stream on `path`: writes every body, half-closes, and resolves once the call has a final status
 * (the server's, or DEADLINE_EXCEEDED after CALL_DEADLINE_MS).
 */
export function rawBidi(client: Client, path: string, bodies: readonly Buffer[]): Promise<RawStreamResult> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(path, identity, identity, new Metadata(), deadline());
    const replies: Buffer[] = [];
    call.on('data', (reply: Buffer) => replies.push(reply));
    // A non-OK status is also emitted as 'error'; the status event reports it.
    call.on('error', () => undefined);
    call.on('status', (callStatus: StatusObject) => {
      // Replies that arrive in the same tick as the status are still counted.
      setImmediate(() => resolve({ replies, status: callStatus }));
    });
    for (const body of bodies) call.write(body);
    call.end();
  });
}

/** A server-streaming call with `body` as its request: collects replies for `listenMs`, then cancels. */
export function rawServerStream(client: Client, path: string, body: Buffer, listenMs: number): Promise<RawStreamResult> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, body, new Metadata(), deadline());
    const replies: Buffer[] = [];
    call.on('data', (reply: Buffer) => replies.push(reply));
    call.on('error', () => undefined);
    const timer = setTimeout(() => call.cancel(), listenMs);
    call.on('status', (callStatus: StatusObject) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ replies, status: callStatus }));
    });
  });
}
