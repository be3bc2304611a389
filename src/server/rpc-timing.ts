import type { DescService } from '@bufbuild/protobuf';
import { status, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';

/** Told of every finished unary call (metrics). */
export interface RpcObserver {
  /** `method`: the RPC's proto name (`GetHiveState`); `code`: the gRPC code's name (`OK`, `NOT_FOUND`). */
  rpcFinished(method: string, code: string, seconds: number): void;
}

/**
 * The name of the code a unary callback's error carries: OK without an error, UNKNOWN for an error without a
 * valid code (what grpc-js sends for one).
 */
export function codeName(error: unknown): string {
  if (error === null || error === undefined) return 'OK';
  const code = (error as { code?: unknown }).code;
  const name = typeof code === 'number' ? (status as unknown as Record<number, unknown>)[code] : undefined;
  return typeof name === 'string' ? name : 'UNKNOWN';
}

type UnaryHandler = (call: unknown, callback: (error: unknown, ...rest: unknown[]) => void) => void;

/**
 * Wraps every unary handler of `service` so that its outcome and duration (from the handler's start to its
 * callback, on the monotonic `nowMs`) reach `observer`. It wraps the handler grpc-js calls, so whatever sits
 * inside (the access layer's refusals included) is measured with the code the client gets. Streams are left as
 * they are: their duration is the life of a hive's connection or a watcher's, not a latency.
 */
export function timeService(
  service: DescService,
  implementation: UntypedServiceImplementation,
  observer: RpcObserver,
  nowMs: () => number,
): UntypedServiceImplementation {
  const timed: Record<string, UntypedHandleCall> = { ...implementation };
  for (const method of service.methods) {
    if (method.methodKind !== 'unary') continue;
    const handler = implementation[method.localName] as unknown as UnaryHandler | undefined;
    if (handler === undefined) continue;
    const wrapped: UnaryHandler = (call, callback) => {
      const startedMs = nowMs();
      handler(call, (error, ...rest) => {
        observer.rpcFinished(method.name, codeName(error), Math.max(0, nowMs() - startedMs) / 1000);
        callback(error, ...rest);
      });
    };
    // grpc-js's handler types differ by method kind; this one stays a unary handler.
    timed[method.localName] = wrapped as unknown as UntypedHandleCall;
  }
  return timed;
}
