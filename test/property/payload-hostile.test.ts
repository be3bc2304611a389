import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import {
  DeviceSchema,
  HiveHeartbeatPayloadSchema,
  WorkerStateSchema,
  type HiveHeartbeatPayload,
} from '../../gen/hive/v1/registry_pb';
import { DomainError } from '../../src/common/domain-error';
import type { Heartbeat } from '../../src/registry/types';
import { deviceToProto, workerToProto } from '../../src/server/domain-to-proto';
import { payloadToHeartbeat, type PayloadLimits } from '../../src/server/payload-to-heartbeat';
import { propertyParams } from '../helpers/property-params';
import { wireDevice, wireWorker } from '../helpers/wire-builders';
import { fieldOf, fieldVerdicts, problemsOf } from './payload-oracle';
import { hostilePayload, hostileWorker, validDevices, validId, validWorkers } from './wire-arbitraries';

/** Small limits, so that payloads over them are as common as payloads under them. */
const LIMITS: PayloadLimits = { maxWorkersPerHive: 4, maxDevicesPerHive: 2 };
/** The problems one rejection lists at most (payload-to-heartbeat.ts). */
const MAX_PROBLEMS = 8;
/**
 * A rejection message stays this short whatever the payload's size: each problem quotes at most 64 characters of
 * a client's value (escaped, up to 6 characters each), so a hive cannot flood acks and logs through it.
 */
const MAX_MESSAGE_LENGTH = MAX_PROBLEMS * 600;

/** A field path of HiveHeartbeatPayload, as problems name them. */
const FIELD_PATH = /^(hive_id|timestamp|ram_total_bytes|workers|devices|workers\[\d+\]\.[a-z_]+|devices\[\d+\]\.[a-z_]+)$/;

type Conversion = { readonly heartbeat: Heartbeat } | { readonly rejection: string };

/** Converts, turning the one allowed failure into a value and letting any other exception fail the property. */
function convert(payload: HiveHeartbeatPayload, limits = LIMITS): Conversion {
  try {
    return { heartbeat: payloadToHeartbeat(payload, limits) };
  } catch (error) {
    if (error instanceof DomainError && error.reason === 'invalid_argument') return { rejection: error.message };
    const what = `payloadToHeartbeat threw something other than DomainError('invalid_argument'): ${String(error)}`;
    throw new Error(what, { cause: error });
  }
}

/** The payload as the server would receive it: encoded and decoded again (strings become well-formed UTF-8). */
function overTheWire(payload: HiveHeartbeatPayload): HiveHeartbeatPayload {
  return fromBinary(HiveHeartbeatPayloadSchema, toBinary(HiveHeartbeatPayloadSchema, payload));
}

/** The conversion agrees with the contract's field rules; see fieldVerdicts. */
function expectVerdict(payload: HiveHeartbeatPayload, limits = LIMITS): void {
  const result = convert(payload, limits);
  const { bad, either } = fieldVerdicts(payload, limits);
  if ('heartbeat' in result) {
    expect({ acceptedDespite: bad }).toStrictEqual({ acceptedDespite: [] });
    expectFaithful(payload, result.heartbeat);
    return;
  }
  const message = result.rejection;
  const named = problemsOf(message).map(fieldOf);
  expect(message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
  const unknownFields = named.filter((f) => !FIELD_PATH.test(f));
  expect({ message, unknownFields }).toStrictEqual({ message, unknownFields: [] });
  // Only fields that really break a rule are named, one problem per field, as many as fit.
  const allowed = new Set([...bad, ...either]);
  expect({ message, namedButValid: named.filter((f) => !allowed.has(f)) }).toStrictEqual({ message, namedButValid: [] });
  expect(new Set(named).size).toBe(named.length);
  expect(named.length).toBeGreaterThanOrEqual(Math.min(MAX_PROBLEMS, new Set(bad).size));
  expect(named.length).toBeLessThanOrEqual(MAX_PROBLEMS);
}

/** An accepted payload's heartbeat carries exactly what the payload said. */
function expectFaithful(payload: HiveHeartbeatPayload, heartbeat: Heartbeat): void {
  expect({
    hiveId: heartbeat.hiveId,
    sequence: heartbeat.sequence,
    unchanged: heartbeat.unchanged,
    ramTotalBytes: heartbeat.ramTotalBytes,
    senderTime: heartbeat.senderTime,
  }).toStrictEqual({
    hiveId: payload.hiveId,
    sequence: payload.sequence,
    unchanged: payload.unchanged,
    ramTotalBytes: payload.ramTotalBytes === undefined ? undefined : Number(payload.ramTotalBytes),
    senderTime:
      payload.timestamp === undefined
        ? undefined
        : { seconds: Number(payload.timestamp.seconds), nanos: payload.timestamp.nanos },
  });
  expect(heartbeat.workers).toHaveLength(payload.workers.length);
  heartbeat.workers.forEach((worker, i) => {
    const sent = payload.workers[i] ?? create(WorkerStateSchema);
    const sameAsSent = equals(WorkerStateSchema, workerToProto(worker), sent);
    expect({ i, sameAsSent }).toStrictEqual({ i, sameAsSent: true });
  });
  expect(heartbeat.devices).toHaveLength(payload.devices.length);
  heartbeat.devices.forEach((device, i) => {
    const sent = payload.devices[i] ?? create(DeviceSchema);
    const sameAsSent = equals(DeviceSchema, deviceToProto(device), sent);
    expect({ i, sameAsSent }).toStrictEqual({ i, sameAsSent: true });
  });
}

describe('payloadToHeartbeat with hostile payloads', () => {
  it('converts or throws DomainError(invalid_argument) naming only faulty fields, in memory and after the wire', () => {
    fc.assert(
      fc.property(hostilePayload(LIMITS.maxWorkersPerHive + 2, LIMITS.maxDevicesPerHive + 1), (init) => {
        const payload = create(HiveHeartbeatPayloadSchema, init);
        // In memory first: lone surrogates and other values that UTF-8 encoding would repair reach the adapter only
        // from an in-process caller, but the adapter must not depend on that.
        expectVerdict(payload);
        expectVerdict(overTheWire(payload));
      }),
      propertyParams(300),
    );
  });

  it('accepts valid payloads and keeps every field as sent', () => {
    const payload = fc.record({
      hiveId: validId,
      workers: validWorkers('w-', LIMITS.maxWorkersPerHive),
      devices: validDevices.map((devices) => devices.slice(0, LIMITS.maxDevicesPerHive)),
      sequence: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      unchanged: fc.boolean(),
    });
    fc.assert(
      fc.property(payload, (init) => {
        const result = convert(overTheWire(create(HiveHeartbeatPayloadSchema, init)));
        if (!('heartbeat' in result)) throw new Error(`a valid payload was refused: ${result.rejection}`);
        expectFaithful(overTheWire(create(HiveHeartbeatPayloadSchema, init)), result.heartbeat);
      }),
      propertyParams(150),
    );
  });

  it('refuses huge repeated fields by their count, with a short message', () => {
    const limits: PayloadLimits = { maxWorkersPerHive: 1_024, maxDevicesPerHive: 64 };
    fc.assert(
      fc.property(hostileWorker, fc.integer({ min: 1_025, max: 5_000 }), fc.nat({ max: 200 }), (worker, workers, devices) => {
        const payload = create(HiveHeartbeatPayloadSchema, {
          hiveId: 'h-1',
          workers: Array.from({ length: workers }, () => worker),
          devices: Array.from({ length: devices }, (_, i) => wireDevice(i, 1n)),
        });
        const result = convert(payload, limits);
        if ('heartbeat' in result) throw new Error(`${workers} workers were accepted over a limit of 1024`);
        expect(problemsOf(result.rejection).map(fieldOf)).toContain('workers');
        expect(result.rejection).toContain(`workers: at most 1024 per hive, got ${workers}`);
        expect(result.rejection.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
        expectVerdict(payload, limits);
      }),
      propertyParams(10),
    );
  });

  // Limits count characters (code points), as model ids do: an emoji is one character, two UTF-16 units.
  it('counts device name and URL lengths in characters (code points), as model ids are', () => {
    fc.assert(
      fc.property(fc.integer({ min: 129, max: 256 }), (n) => {
        const name = '😀'.repeat(n);
        const url = `http://10.0.0.1/${'😀'.repeat(2_048 - 16 - n)}`;
        const payload = create(HiveHeartbeatPayloadSchema, {
          hiveId: 'h-1',
          workers: [wireWorker('w-1', { url })],
          devices: [wireDevice(0, 1n, { name })],
        });
        expect(convert(payload)).toMatchObject({ heartbeat: { devices: [{ name }], workers: [{ url }] } });
      }),
      propertyParams(20),
    );
  });
});
