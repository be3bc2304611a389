import { create, toJsonString } from '@bufbuild/protobuf';
import type { Worker } from '../common/worker.js';
import { WatchEventSchema, WatchEventType, WorkerStateSchema } from '../../gen/hive/v1/registry_pb.js';
import type { RegistryEvent } from '../registry/types.js';
import { workerToProto } from './domain-to-proto.js';
import type { WatchEncoding } from './watch-cursor.js';
import { EVENT_TYPE, headerMessage, type WatchHeader } from './watch-encoding.js';

/**
 * WatchEvents in the protobuf JSON form (what grpcurl and `hive-registry watch --json` print), each as one
 * server-sent event for the dashboard. A live event is encoded once however many dashboards get it, and a
 * snapshot's worker once per Worker object (they are immutable and shared until the worker changes).
 *
 * Event ids: `<epoch>:<revision>` on live and replayed events and on SYNCED, where the page holds the whole state
 * as of that revision, so a browser reconnecting with Last-Event-ID resumes exactly there. Snapshot lines and
 * RESYNC carry none: a page cut off in the middle of a snapshot resumes from the last point it held whole.
 */

const workerJson = new WeakMap<Worker, string>();
const eventFrames = new WeakMap<RegistryEvent, string>();

function encodedWorker(worker: Worker): string {
  let json = workerJson.get(worker);
  if (json === undefined) {
    json = toJsonString(WorkerStateSchema, workerToProto(worker));
    workerJson.set(worker, json);
  }
  return json;
}

function eventJson(header: WatchHeader, worker?: string): string {
  const head = toJsonString(WatchEventSchema, headerMessage(header));
  if (worker === undefined) return head;
  // The head is a JSON object with at least the epoch in it: the worker goes in as its last member.
  return `${head.slice(0, -1)},"worker":${worker}}`;
}

function frame(data: string, id?: string): string {
  return id === undefined ? `event: watch\ndata: ${data}\n\n` : `id: ${id}\nevent: watch\ndata: ${data}\n\n`;
}

/** The id a browser sends back as Last-Event-ID: the epoch and the last revision it holds whole. */
export function eventId(epoch: string, revision: number): string {
  return `${epoch}:${revision}`;
}

/** Reads a Last-Event-ID; undefined when absent or not one of ours (the page then starts from a snapshot). */
export function parseEventId(value: string | undefined): { epoch: string; revision: bigint } | undefined {
  const match = value === undefined ? null : /^([0-9a-f-]{1,64}):(\d{1,19})$/.exec(value);
  if (match === null) return undefined;
  return { epoch: match[1] ?? '', revision: BigInt(match[2] ?? '0') };
}

/** Server-sent-event frames of the Watch stream for one queen's epoch. */
export function sseWatchEncoding(epoch: string): WatchEncoding<string> {
  return {
    event(event) {
      let text = eventFrames.get(event);
      if (text === undefined) {
        const header = { revision: event.revision, epoch, type: EVENT_TYPE[event.type], hiveId: event.hiveId, hiveOnline: event.hiveOnline };
        const worker =
          event.type === 'worker_upserted'
            ? encodedWorker(event.worker)
            : event.type === 'worker_removed'
              ? toJsonString(WorkerStateSchema, create(WorkerStateSchema, { workerId: event.workerId }))
              : undefined;
        text = frame(eventJson(header, worker), eventId(epoch, event.revision));
        eventFrames.set(event, text);
      }
      return text;
    },
    hive: (revision, hiveId, online) =>
      frame(eventJson({ revision, epoch, type: online ? WatchEventType.HIVE_ONLINE : WatchEventType.HIVE_OFFLINE, hiveId, hiveOnline: online })),
    worker: (revision, hiveId, online, worker) =>
      frame(eventJson({ revision, epoch, type: WatchEventType.WORKER_UPSERTED, hiveId, hiveOnline: online }, encodedWorker(worker))),
    synced: (revision) => frame(eventJson({ revision, epoch, type: WatchEventType.SYNCED }), eventId(epoch, revision)),
    resync: (revision) => frame(eventJson({ revision, epoch, type: WatchEventType.RESYNC })),
  };
}
