import { create, toBinary } from '@bufbuild/protobuf';
import type { Worker } from '../common/worker.js';
import { WatchEventSchema, WatchEventType, WorkerStateSchema, type WatchEvent } from '../../gen/hive/v1/registry_pb.js';
import type { RegistryEvent, RegistryEventType } from '../registry/types.js';
import { encodedWorker, Splice } from './wire-splice.js';

/**
 * WatchEvents encoded once, however many watchers get them. A live event goes to every watcher as the same bytes
 * (cached per registry event); a snapshot's worker is encoded once per Worker object (they are immutable and
 * shared by every snapshot until the worker changes) and spliced behind each watcher's event header: protobuf
 * fields may come in any order, and a length-delimited field is its tag, its length and its bytes.
 */

/** The Watch event type of each registry event type. */
export const EVENT_TYPE: Readonly<Record<RegistryEventType, WatchEventType>> = {
  hive_online: WatchEventType.HIVE_ONLINE,
  hive_offline: WatchEventType.HIVE_OFFLINE,
  hive_removed: WatchEventType.HIVE_REMOVED,
  worker_upserted: WatchEventType.WORKER_UPSERTED,
  worker_removed: WatchEventType.WORKER_REMOVED,
};

/** WatchEvent.worker's field number. */
const WORKER_FIELD = 6;

const eventBytes = new WeakMap<RegistryEvent, Buffer>();

/** The fields of a WatchEvent but its worker. */
export interface WatchHeader {
  readonly revision: number;
  readonly epoch: string;
  readonly type: WatchEventType;
  readonly hiveId?: string;
  readonly hiveOnline?: boolean;
}

/** A WatchEvent with the header's fields and no worker (both encodings add the worker themselves). */
export function headerMessage(header: WatchHeader): WatchEvent {
  return create(WatchEventSchema, {
    revision: BigInt(header.revision),
    epoch: header.epoch,
    type: header.type,
    hiveId: header.hiveId ?? '',
    hiveOnline: header.hiveOnline ?? false,
  });
}

/** A WatchEvent's bytes: the header fields, then `worker` (already encoded) when given. */
function encode(header: WatchHeader, worker?: Uint8Array): Buffer {
  const head = toBinary(WatchEventSchema, headerMessage(header));
  if (worker === undefined) return Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  return new Splice().add(head).add(worker, WORKER_FIELD).bytes();
}

/** A live event, encoded once for every watcher. */
export function encodeRegistryEvent(event: RegistryEvent, epoch: string): Buffer {
  let bytes = eventBytes.get(event);
  if (bytes === undefined) {
    const header = {
      revision: event.revision,
      epoch,
      type: EVENT_TYPE[event.type],
      hiveId: event.hiveId,
      hiveOnline: event.hiveOnline,
    };
    bytes =
      event.type === 'worker_upserted'
        ? encode(header, encodedWorker(event.worker))
        : event.type === 'worker_removed'
          ? encode(header, toBinary(WorkerStateSchema, create(WorkerStateSchema, { workerId: event.workerId })))
          : encode(header);
    eventBytes.set(event, bytes);
  }
  return bytes;
}

/** A snapshot's hive line: HIVE_ONLINE or HIVE_OFFLINE at the snapshot's revision. */
export function encodeSnapshotHive(revision: number, epoch: string, hiveId: string, online: boolean): Buffer {
  return encode({ revision, epoch, type: online ? WatchEventType.HIVE_ONLINE : WatchEventType.HIVE_OFFLINE, hiveId, hiveOnline: online });
}

/** A snapshot's worker line: WORKER_UPSERTED at the snapshot's revision. */
export function encodeSnapshotWorker(revision: number, epoch: string, hiveId: string, online: boolean, worker: Worker): Buffer {
  return encode(
    { revision, epoch, type: WatchEventType.WORKER_UPSERTED, hiveId, hiveOnline: online },
    encodedWorker(worker),
  );
}

/** SYNCED or RESYNC at `revision`. */
export function encodeMarker(type: WatchEventType.SYNCED | WatchEventType.RESYNC, revision: number, epoch: string): Buffer {
  return encode({ revision, epoch, type });
}
