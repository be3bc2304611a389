import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { credentials, Metadata, status, type Client, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { Health } from '../../gen/grpc/health/v1/health_pb';
import {
  HiveHeartbeatPayloadSchema,
  HiveRegistry,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
} from '../../gen/hive/v1/registry_pb';
import { HiveCatalog } from '../../gen/hive/v1/catalog_pb';
import type { ClientError } from '../../src/client/client-error';
import { rawClient as grpcClient, unaryMethods, type UnaryMethods } from '../../src/client/unary-client';

/** Deadline of every unary call: a hung server fails the call instead of the whole jest run. */
const UNARY_DEADLINE_MS = 5_000;
/** How long `nextAck` waits for an ack before failing with a readable message. */
const ACK_TIMEOUT_MS = 5_000;

/**
 * Tests drive the queen at the protobuf level with the typed client's own unary layer: each method takes the
 * request's init shape and resolves with the response message, or rejects with ClientError (code, details).
 */
type MethodsOf<S> = S extends GenService<infer M> ? UnaryMethods<M> : never;
export type RegistryClient = MethodsOf<typeof HiveRegistry>;
export type CatalogClient = MethodsOf<typeof HiveCatalog>;
export type HealthClient = MethodsOf<typeof Health>;

function rawClient(service: typeof HiveRegistry | typeof HiveCatalog | typeof Health, address: string): Client {
  return grpcClient(service, address, credentials.createInsecure());
}

function unaryClient<S extends typeof HiveRegistry | typeof HiveCatalog | typeof Health>(
  service: S,
  raw: Client,
  metadata?: () => Metadata,
): MethodsOf<S> {
  return unaryMethods(service as GenService<never>, raw, UNARY_DEADLINE_MS, metadata) as MethodsOf<S>;
}

/** Metadata carrying `authorization: Bearer <token>`, or none without a token. */
export function bearer(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export type PayloadInit = MessageInitShape<typeof HiveHeartbeatPayloadSchema>;

/**
 * The client side of one Heartbeat stream. `send` writes a payload and resolves with its ack (acks come in payload
 * order, so the n-th `nextAck` is the n-th payload's); `status` resolves with the call's final status however it
 * ended (server status, half-close answered with OK, or local cancel).
 */
export class HeartbeatStream {
  private readonly queued: HeartbeatAck[] = [];
  private readonly waiters: { resolve: (ack: HeartbeatAck) => void; reject: (error: Error) => void }[] = [];
  private finalStatus: StatusObject | undefined;
  /** The call's final status. */
  readonly status: Promise<StatusObject>;

  constructor(private readonly call: ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>) {
    call.on('data', (ack: HeartbeatAck) => {
      const waiter = this.waiters.shift();
      if (waiter === undefined) this.queued.push(ack);
      else waiter.resolve(ack);
    });
    // grpc-js also emits a non-OK status as 'error'; `status` reports it, the listener only keeps it from throwing.
    call.on('error', () => undefined);
    this.status = new Promise((resolve) => {
      call.on('status', (callStatus: StatusObject) => {
        this.finalStatus = callStatus;
        resolve(callStatus);
        // Acks delivered in the same tick as the status are handed out first.
        setImmediate(() => {
          for (const waiter of this.waiters.splice(0)) {
            waiter.reject(
              new Error(`stream ended with ${status[callStatus.code]} "${callStatus.details}" before the ack arrived`),
            );
          }
        });
      });
    });
  }

  /** True once the call has a final status. */
  get ended(): boolean {
    return this.finalStatus !== undefined;
  }

  /** Writes one payload without waiting for its ack. */
  write(init: PayloadInit): void {
    this.call.write(create(HiveHeartbeatPayloadSchema, init));
  }

  /** The next ack in order; rejects if the stream ends first or no ack comes within ACK_TIMEOUT_MS. */
  nextAck(): Promise<HeartbeatAck> {
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.finalStatus !== undefined) {
      return Promise.reject(new Error(`stream already ended with ${status[this.finalStatus.code]}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no ack within ${ACK_TIMEOUT_MS} ms`));
      }, ACK_TIMEOUT_MS);
      const waiter = {
        resolve: (ack: HeartbeatAck) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Writes one payload and resolves with its ack. */
  send(init: PayloadInit): Promise<HeartbeatAck> {
    this.write(init);
    return this.nextAck();
  }

  /** Half-closes the client side: a clean goodbye. */
  end(): void {
    this.call.end();
  }

  /** Cancels the call locally (the server learns it asynchronously). */
  cancel(): void {
    this.call.cancel();
  }
}

/**
 * One connection to a queen: the registry's and the catalog's unary RPCs, plus heartbeat streams tracked for
 * cleanup.
 */
export class QueenClient {
  readonly rpc: RegistryClient;
  readonly catalog: CatalogClient;
  private readonly raw: Client;
  private readonly rawCatalog: Client;
  private readonly streams = new Set<HeartbeatStream>();

  /** With `token`, every call (streams included) carries it as `authorization: Bearer <token>`. */
  constructor(
    address: string,
    private readonly token?: string,
  ) {
    this.raw = rawClient(HiveRegistry, address);
    this.rpc = unaryClient(HiveRegistry, this.raw, () => bearer(token));
    this.rawCatalog = rawClient(HiveCatalog, address);
    this.catalog = unaryClient(HiveCatalog, this.rawCatalog, () => bearer(token));
  }

  /** Opens a new Heartbeat stream (with the client's token, or `token` when given). */
  heartbeat(token: string | undefined = this.token): HeartbeatStream {
    const method = (this.raw as unknown as Record<string, ((metadata: Metadata) => unknown) | undefined>)['heartbeat'];
    if (method === undefined) throw new Error('generic client has no heartbeat method');
    const stream = new HeartbeatStream(
      method.call(this.raw, bearer(token)) as ClientDuplexStream<HiveHeartbeatPayload, HeartbeatAck>,
    );
    this.streams.add(stream);
    return stream;
  }

  /** Cancels every stream still open and closes the channel. */
  close(): void {
    for (const stream of this.streams) if (!stream.ended) stream.cancel();
    this.streams.clear();
    this.raw.close();
    this.rawCatalog.close();
  }
}

/** A client for grpc.health.v1.Health; close it with `close()`. */
export function healthClient(address: string): { readonly health: HealthClient; close(): void } {
  const raw = rawClient(Health, address);
  return { health: unaryClient(Health, raw), close: () => raw.close() };
}

/** Awaits a call that must fail and returns its error (fails the test if the call succeeded). */
export async function rpcError(call: Promise<unknown>): Promise<ClientError> {
  let response: unknown;
  try {
    response = await call;
  } catch (error) {
    return error as ClientError;
  }
  throw new Error(`expected the call to fail, but it returned ${JSON.stringify(response, bigintJson)}`);
}

/**
 * Asserts that `call` fails with `code` and details matching `details`. Compares code names, so a failure reads
 * "NOT_FOUND" rather than 5.
 */
export async function expectRpcError(call: Promise<unknown>, code: status, details: RegExp): Promise<ClientError> {
  const error = await rpcError(call);
  expect({ code: status[error.code], details: error.details }).toEqual({
    code: status[code],
    details: expect.stringMatching(details),
  });
  return error;
}

/** Asserts a final stream status by code name and details. */
export function expectStatus(actual: StatusObject, code: status, details?: RegExp): void {
  expect({ code: status[actual.code], details: actual.details }).toEqual({
    code: status[code],
    details: details === undefined ? expect.any(String) : expect.stringMatching(details),
  });
}

/**
 * Polls `condition` until it holds, for events that reach the server asynchronously (a client cancel). Bounded:
 * gives up after `timeoutMs`, and returns whether the condition held.
 */
export async function eventually(condition: () => Promise<boolean>, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
