import { create, toBinary } from '@bufbuild/protobuf';
import type { Device, Worker, WorkerEntry } from '../common/worker.js';
import {
  DeviceSchema,
  FindBestWorkerForModelResponseSchema,
  HiveStateSchema,
  WorkerEntrySchema,
  WorkerStateSchema,
} from '../../gen/hive/v1/registry_pb.js';
import type { HiveView } from '../registry/types.js';
import { varintLength, writeVarint } from './varint.js';
import { deviceToProto, resourcesToProto, uint32, wallMsToProto, wallTimeToProto, workerToProto } from './domain-to-proto.js';

/**
 * Responses spliced from bytes encoded once. Workers and devices are immutable and shared by every snapshot until
 * they change, so each is encoded once per object and its bytes reused by every answer and every watcher that
 * carries it; an answer encodes only its own small fields and splices the rest in. Protobuf allows this: fields
 * may come in any order, repeated fields are their elements one after another, and a length-delimited field is its
 * tag, its length and its bytes. The result decodes to exactly the message the plain encoder would have made
 * (tests compare them), and grpc-js sends it as it is (grpc-service.ts passes bytes through).
 */

const workerBytes = new WeakMap<Worker, Uint8Array>();
const deviceBytes = new WeakMap<Device, Uint8Array>();

/** A worker's WorkerState bytes, encoded once per Worker object. */
export function encodedWorker(worker: Worker): Uint8Array {
  let bytes = workerBytes.get(worker);
  if (bytes === undefined) {
    bytes = toBinary(WorkerStateSchema, workerToProto(worker));
    workerBytes.set(worker, bytes);
  }
  return bytes;
}

function encodedDevice(device: Device): Uint8Array {
  let bytes = deviceBytes.get(device);
  if (bytes === undefined) {
    bytes = toBinary(DeviceSchema, deviceToProto(device));
    deviceBytes.set(device, bytes);
  }
  return bytes;
}

/** The tag of a length-delimited field (wire type 2). */
function tag(field: number): number {
  return (field << 3) | 2;
}

/** Bytes to write one after another: plain runs, or length-delimited fields (field number, then bytes). */
export class Splice {
  private readonly fields: number[] = [];
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  /** Appends `bytes` as they are (field 0), or as length-delimited field `field` (tags here are below 128). */
  add(bytes: Uint8Array, field = 0): this {
    this.fields.push(field);
    this.parts.push(bytes);
    this.length += field === 0 ? bytes.byteLength : 1 + varintLength(bytes.byteLength) + bytes.byteLength;
    return this;
  }

  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    let at = 0;
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i] as Uint8Array;
      const field = this.fields[i] as number;
      if (field !== 0) {
        out[at++] = tag(field);
        at = writeVarint(out, at, part.byteLength);
      }
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }
}

/** HiveState's field numbers of what is spliced in. */
const HIVE_STATE_WORKERS = 2;
const HIVE_STATE_DEVICES = 9;
/** GetHiveStateResponse.hive, WorkerEntry.worker, FindBestWorkerForModelResponse.entry. */
const RESPONSE_HIVE = 1;
const ENTRY_WORKER = 2;
const RESPONSE_ENTRY = 1;

/** A hive's HiveState bytes, as hiveToProto would encode (`queenId`: the answering queen unless the view names one). */
export function hiveStateBytes(hive: HiveView, queenId: string): Buffer {
  const head = toBinary(
    HiveStateSchema,
    create(HiveStateSchema, {
      hiveId: hive.hiveId,
      workerCount: uint32(hive.workers.length),
      online: hive.online,
      lastHeartbeat: wallMsToProto(hive.lastHeartbeatWallMs),
      senderTimestamp: hive.senderTime === undefined ? undefined : wallTimeToProto(hive.senderTime),
      sequence: hive.sequence,
      resources: resourcesToProto(hive.resources),
      queenId: hive.owner ?? queenId,
    }),
  );
  const splice = new Splice().add(head);
  for (const worker of hive.workers) splice.add(encodedWorker(worker), HIVE_STATE_WORKERS);
  for (const device of hive.devices) splice.add(encodedDevice(device), HIVE_STATE_DEVICES);
  return splice.bytes();
}

/** GetHiveStateResponse's bytes for `hive`. */
export function getHiveStateResponseBytes(hive: HiveView, queenId: string): Buffer {
  return new Splice().add(hiveStateBytes(hive, queenId), RESPONSE_HIVE).bytes();
}

/** FindBestWorkerForModelResponse's bytes: the picked entry (`queenId`: its hive's owner) and the pick's outcome. */
export function findBestResponseBytes(
  entry: WorkerEntry,
  queenId: string,
  modelLoaded: boolean,
  reservationId: string,
): Buffer {
  const entryHead = toBinary(
    WorkerEntrySchema,
    create(WorkerEntrySchema, { hiveId: entry.hiveId, hiveOnline: entry.hiveOnline, queenId: entry.queenId ?? queenId }),
  );
  const entryBytes = new Splice().add(entryHead).add(encodedWorker(entry.worker), ENTRY_WORKER).bytes();
  const head = toBinary(FindBestWorkerForModelResponseSchema, create(FindBestWorkerForModelResponseSchema, { modelLoaded, reservationId }));
  return new Splice().add(head).add(entryBytes, RESPONSE_ENTRY).bytes();
}
