import type { HiveRegistry } from '../registry/hive-registry.js';
import type { SchedulingIndex } from '../scheduler/scheduling-index.js';
import type { GatewayScheduler } from '../gateway/slot-queue.js';

/**
 * The gateway's view of the queen: the same scheduling index and registry the RPCs answer from, in-process (no
 * gRPC round trip per request). Picks are reserving and loaded-only: the gateway forwards to a worker that has the
 * model, never to one that would have to load it.
 */
export function gatewayScheduler(registry: HiveRegistry, scheduling: SchedulingIndex): GatewayScheduler {
  // For calls about one hive: no closure made per call (heap walks take `onlineCheck()`, one clock read per walk).
  const isOnline = (hiveId: string): boolean => registry.isHiveOnline(hiveId);
  return {
    reserve: (model, ttlMs) =>
      scheduling.pick({ modelId: model, reserve: true, reservationTtlMs: ttlMs, loadedOnly: true }, registry.onlineCheck()),
    reserveOn: (model, hiveId, workerId, ttlMs) => scheduling.reserveOn(hiveId, workerId, model, ttlMs, isOnline),
    standingFor: (model, hiveId, workerId) => scheduling.standingFor(hiveId, workerId, model, isOnline),
    leastLoad: (model) => scheduling.leastLoad(model, registry.onlineCheck()),
    release: (reservationId, success) => {
      scheduling.release(reservationId, success);
    },
    reportFailure: (workerId) => {
      scheduling.reportFailure(workerId);
    },
    modelLoaded: (model) => registry.listWorkers((worker) => worker.modelId === model, false).length > 0,
    onlineModels: () => {
      const models = new Map<string, number>();
      for (const { worker } of registry.listWorkers((w) => w.modelId !== undefined, false)) {
        const model = worker.modelId as string;
        models.set(model, (models.get(model) ?? 0) + 1);
      }
      return models;
    },
    onChange: (listener) => registry.onEvent(listener),
  };
}
