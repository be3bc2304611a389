import { create, fromBinary, ScalarType, toBinary, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { status, type Client, type StatusObject } from '@grpc/grpc-js';
import fc from 'fast-check';
import { Health, HealthCheckResponse_ServingStatus } from '../../gen/grpc/health/v1/health_pb';
import { HiveCatalog } from '../../gen/hive/v1/catalog_pb';
import {
  HeartbeatAckSchema,
  HiveHeartbeatPayloadSchema,
  HiveRegistry,
  type HeartbeatAck,
} from '../../gen/hive/v1/registry_pb';
import { eventually, healthClient, type HeartbeatStream, type PayloadInit, type QueenClient } from '../helpers/client';
import { ProcessFaults } from '../helpers/process-faults';
import { propertyParams } from '../helpers/property-params';
import { TestQueen } from '../helpers/queen';
import {
  capturingLogger,
  HonestFleet,
  honestWorkerPrefix,
  permanentWorker,
  serverState,
  stateOf,
  type ServerState,
} from './server-fixtures';
import { rawBidi, rawClient, rawServerStream, rawUnary } from './raw-grpc';
import { sendRawTcp, tcpGarbage } from './tcp-garbage';
import { hostilePayload, validDevices, validWorkerInit, validWorkers } from './wire-arbitraries';

const HONEST = ['honest-a', 'honest-b', 'honest-c'];
/** Small limits, so that hostile payloads cross them often and cheaply. */
const LIMITS = { maxMessageBytes: 64 * 1024, maxWorkersPerHive: 16, maxDevicesPerHive: 8 };
/** Live-server properties give up (and fail, with the counterexample so far) rather than outlast jest's timeout. */
const TIME_LIMIT_MS = 40_000;
const TEST_TIMEOUT_MS = 60_000;
const liveParams = <T>(numRuns: number): fc.Parameters<T> =>
  propertyParams<T>(numRuns, { interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: true });

const HEARTBEAT = `/${HiveRegistry.typeName}/Heartbeat`;
const STREAM_PATHS = [
  HEARTBEAT,
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
] as const;
const SERVER_STREAM_PATHS = [`/${HiveRegistry.typeName}/Watch`, `/${Health.typeName}/Watch`] as const;

/** Unary methods of every service the queen serves, with a request naming no honest hive (to mutate). */
const UNARY = [HiveRegistry, HiveCatalog, Health].flatMap((service: DescService) =>
  service.methods
    .filter((m) => m.methodKind === 'unary')
    .map((m) => ({
      path: `/${service.typeName}/${m.name}`,
      seed: Buffer.from(toBinary(m.input, create(m.input, seedInit(m.input)))),
    })),
);

/** Every string field 'ghost-1', every number 1, every bool true: a plausible request to mutate byte by byte. */
function seedInit(schema: DescMessage): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const field of schema.fields) {
    if (field.fieldKind === 'enum') init[field.localName] = 1;
    if (field.fieldKind !== 'scalar') continue;
    if (field.scalar === ScalarType.STRING) init[field.localName] = 'ghost-1';
    else if (field.scalar === ScalarType.BOOL) init[field.localName] = true;
    else if (field.scalar === ScalarType.UINT64 || field.scalar === ScalarType.INT64) init[field.localName] = 1n;
    else if (field.scalar !== ScalarType.BYTES) init[field.localName] = 1;
  }
  return init;
}

/** `bytes` with a few bytes overwritten and possibly cut short: mostly parseable, subtly wrong. */
function mutated(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      bytes,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([original, edits, cut]) => {
      const out = Buffer.from(original);
      for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value;
      return cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
    });
}

/** `value`, shown as `name` in counterexamples (instead of tens of kilobytes). */
function named<T extends object>(value: T, name: string): T {
  return Object.assign(value, { [fc.toStringMethod]: () => name });
}

/** A well-formed payload just over the server's message size limit. */
const OVERSIZED_PAYLOAD: PayloadInit = named(
  { hiveId: 'stranger-1', workers: [{ workerId: 'w', url: `http://10.0.0.1/${'a'.repeat(LIMITS.maxMessageBytes)}` }] },
  'a well-formed payload over the message size limit',
);
const OVERSIZED_BODY = named(Buffer.alloc(LIMITS.maxMessageBytes + 1, 0x0a), 'a body one byte over the message size limit');

const notHonest = (p: PayloadInit): boolean => !HONEST.includes(p.hiveId ?? '');

/**
 * What an attacker's stream sends: arbitrary payloads (never naming an honest hive: without authentication any
 * client may supersede any hive, by design), well-formed ones of a stranger hive that claim honest hives'
 * permanent workers (always refused: an online hive holds them), repeat ids or start with a tick, and payloads
 * over the message size limit.
 */
const attackerPayload: fc.Arbitrary<PayloadInit> = fc.oneof(
  { arbitrary: hostilePayload(LIMITS.maxWorkersPerHive + 4, LIMITS.maxDevicesPerHive + 2).filter(notHonest), weight: 4 },
  {
    arbitrary: fc.record({
      hiveId: fc.constantFrom('stranger-1', 'stranger-2'),
      sequence: fc.bigInt({ min: 0n, max: 4n }),
      unchanged: fc.boolean(),
      workers: fc.array(
        fc.constantFrom(...HONEST.map((h) => permanentWorker(h).workerId), 'stranger-w0').chain(validWorkerInit),
        { maxLength: 3 },
      ),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant(OVERSIZED_PAYLOAD), weight: 1 },
);

/** Bytes sent as a message body: random, a mutated encoding of an attacker payload, or one over the size limit. */
const garbageBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  mutated(
    attackerPayload
      .filter((p) => p !== OVERSIZED_PAYLOAD)
      .map((p) => toBinary(HiveHeartbeatPayloadSchema, create(HiveHeartbeatPayloadSchema, p))),
  ),
  fc.constant(OVERSIZED_BODY),
);

describe('the queen under hostile clients', () => {
  let q: TestQueen;
  let fleet: HonestFleet;
  let faults: ProcessFaults;
  let raw: Client;
  let attacker: QueenClient;
  let health: ReturnType<typeof healthClient>;
  const logs = capturingLogger();

  beforeAll(async () => {
    faults = ProcessFaults.install();
    q = await TestQueen.start(LIMITS, logs.logger);
    fleet = await HonestFleet.connect(q, HONEST);
    // The attacker has its own connection, as a hostile client would.
    attacker = q.newClient();
    raw = rawClient(q.address);
    health = healthClient(q.address);
  });

  afterAll(async () => {
    raw.close();
    health.close();
    await q.stop();
    faults.dispose();
  });

  /** Before every run: no stranger left from an earlier run, and the honest hives as the fleet recorded them. */
  async function freshRun(): Promise<void> {
    const { hiveIds } = await q.rpc.listAllHives({});
    for (const hiveId of hiveIds) if (!HONEST.includes(hiveId)) await q.rpc.removeHive({ hiveId });
    await fleet.resync();
  }

  /**
   * After every run: strangers are removed (so runs do not pile up state), the honest hives are exactly as they
   * sent themselves and go on to their next interval, the server still serves, its open streams are only the
   * honest ones, and nothing went wrong in the process (no unhandled rejection, no uncaught exception, no
   * unexpected handler error logged).
   */
  async function expectHealthy(): Promise<void> {
    const { hiveIds } = await q.rpc.listAllHives({});
    for (const hiveId of hiveIds) if (!HONEST.includes(hiveId)) await q.rpc.removeHive({ hiveId });
    await fleet.expectIntact(q);
    await fleet.nextInterval(q);
    const check = await health.health.check({ service: '' });
    expect(check.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(await eventually(async () => q.queen.registry.streamCount === fleet.size)).toBe(true);
    expect(faults.list).toStrictEqual([]);
    expect(logs.errors()).toStrictEqual([]);
  }

  /** State before vs after something hostile: unchanged if nothing was accepted, else unchanged for honest hives. */
  function expectUnchanged(before: ServerState, after: ServerState, somethingAccepted: boolean): void {
    if (somethingAccepted) expect(stateOf(after, HONEST)).toStrictEqual(stateOf(before, HONEST));
    else expect(after).toStrictEqual(before);
  }

  /** Sends one payload; resolves with its ack, or with the stream's status if the server ended it instead. */
  async function sendOrEnd(
    stream: HeartbeatStream,
    init: PayloadInit,
  ): Promise<{ ack: HeartbeatAck } | { ended: StatusObject }> {
    try {
      return { ack: await stream.send(init) };
    } catch (error) {
      const gaveUp = new Promise<undefined>((resolve) => setTimeout(resolve, 1_000, undefined));
      const ended = await Promise.race([stream.status, gaveUp]);
      if (ended === undefined) throw error;
      return { ended };
    }
  }

  /** Sends `payloads` in order on `stream`, checking each one's ack and what it changed. */
  async function attack(stream: HeartbeatStream, payloads: readonly PayloadInit[]): Promise<void> {
    // Once a payload is accepted the stream owns a stranger hive, which its end takes offline.
    let bound = false;
    for (const payload of payloads) {
      const before = await serverState(q);
      const result = await sendOrEnd(stream, payload);
      const after = await serverState(q);
      if ('ended' in result) {
        // Only an oversized message may end the stream (open registration refuses nothing).
        expect({ code: status[result.ended.code] }).toStrictEqual({ code: 'RESOURCE_EXHAUSTED' });
        expectUnchanged(before, after, bound);
        return;
      }
      const { ack } = result;
      expect(ack.sequence).toBe(payload.sequence ?? 0n);
      expect(ack.accepted || ack.error !== '').toBe(true);
      bound ||= ack.accepted;
      expectUnchanged(before, after, ack.accepted);
    }
  }

  const honestStep = fc.nat({ max: HONEST.length - 1 }).chain((hive) =>
    fc.record({
      kind: fc.constant('honest' as const),
      hive: fc.constant(hive),
      workers: validWorkers(honestWorkerPrefix(HONEST[hive] as string), 4),
      devices: validDevices,
    }),
  );
  const attackStep = fc.record({
    kind: fc.constant('attack' as const),
    payloads: fc.array(attackerPayload, { minLength: 1, maxLength: 3 }),
  });

  it(
    'honest hives keep streaming while an attacker sends arbitrary payloads; a rejected payload changes nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(honestStep, attackStep), { minLength: 1, maxLength: 5 }), async (steps) => {
          for (const step of steps) {
            if (step.kind === 'honest') {
              await fleet.send(step.hive, step.workers, step.devices);
              continue;
            }
            const stream = attacker.heartbeat();
            try {
              await attack(stream, step.payloads);
            } finally {
              stream.cancel();
            }
          }
          await expectHealthy();
        }).beforeEach(freshRun),
        liveParams(30),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'raw garbage as stream messages (Heartbeat, reflection, Watch) ends at most that call and changes nothing',
    async () => {
      const bidi = fc.record({
        kind: fc.constant('bidi' as const),
        path: fc.constantFrom(...STREAM_PATHS),
        bodies: fc.array(garbageBody, { minLength: 1, maxLength: 4 }),
      });
      const serverStream = fc.record({
        kind: fc.constant('server-stream' as const),
        path: fc.constantFrom(...SERVER_STREAM_PATHS),
        body: garbageBody,
      });
      await fc.assert(
        fc.asyncProperty(fc.oneof({ arbitrary: bidi, weight: 3 }, { arbitrary: serverStream, weight: 1 }), async (call) => {
          const before = await serverState(q);
          const result =
            call.kind === 'bidi'
              ? await rawBidi(raw, call.path, call.bodies)
              : await rawServerStream(raw, call.path, call.body, 30);
          const after = await serverState(q);
          let accepted = false;
          if (call.path === HEARTBEAT) {
            // Every reply is a well-formed ack, at most one per message, and only OK, INTERNAL (undecodable) or
            // RESOURCE_EXHAUSTED (oversized) end the call.
            const acks = result.replies.map((reply) => fromBinary(HeartbeatAckSchema, reply));
            expect(acks.length).toBeLessThanOrEqual(call.kind === 'bidi' ? call.bodies.length : 1);
            expect(['OK', 'INTERNAL', 'RESOURCE_EXHAUSTED']).toContain(status[result.status.code]);
            accepted = acks.some((ack) => ack.accepted);
          }
          expect(status[result.status.code]).toBeDefined();
          expect(result.status.details).not.toMatch(/\n\s+at /);
          expectUnchanged(before, after, accepted);
          await expectHealthy();
        }).beforeEach(freshRun),
        liveParams(40),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'raw garbage requests on every unary RPC answer with a status and change nothing unless answered OK',
    async () => {
      const anyPath = fc.oneof(
        { arbitrary: fc.constantFrom(...UNARY.map((m) => m.path)), weight: 9 },
        { arbitrary: fc.constantFrom('/hive.v1.HiveRegistry/NoSuchMethod', '/no.such.Service/Get', '/', '//'), weight: 1 },
      );
      const body = fc.oneof(
        fc.record({ path: anyPath, body: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) }),
        fc.record({ path: anyPath, body: fc.constant(OVERSIZED_BODY) }),
        fc.constantFrom(...UNARY).chain((m) => mutated(fc.constant(new Uint8Array(m.seed))).map((b) => ({ ...m, body: b }))),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 4 }), async (calls) => {
          for (const call of calls) {
            const before = await serverState(q);
            const reply = await rawUnary(raw, call.path, call.body);
            const after = await serverState(q);
            expect(status[reply.code]).toBeDefined();
            // A failure says what is wrong, never how the server is built.
            expect(reply.details).not.toMatch(/\n\s+at |TypeError|RangeError|undefined is not/);
            expectUnchanged(before, after, reply.code === status.OK);
          }
          await expectHealthy();
        }).beforeEach(freshRun),
        liveParams(40),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'raw garbage on the TCP port leaves the server serving',
    async () => {
      await fc.assert(
        fc.asyncProperty(tcpGarbage, async ({ chunks }) => {
          const before = await serverState(q);
          await sendRawTcp(q.queen.port, chunks, 100);
          const reply = await rawUnary(raw, `/${HiveRegistry.typeName}/HiveCount`, Buffer.alloc(0));
          expect({ code: status[reply.code] }).toStrictEqual({ code: 'OK' });
          expect(await serverState(q)).toStrictEqual(before);
          await expectHealthy();
        }).beforeEach(freshRun),
        liveParams(30),
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'everything at once: honest snapshots, hostile payloads, raw garbage and TCP garbage, all in flight together',
    async () => {
      const burst = fc.record({
        honest: fc.array(honestStep, { minLength: 1, maxLength: 6 }),
        payloads: fc.array(attackerPayload, { maxLength: 4 }),
        garbage: fc.array(garbageBody, { maxLength: 3 }),
        tcp: fc.option(tcpGarbage, { nil: undefined }),
      });
      await fc.assert(
        fc.asyncProperty(burst, async ({ honest, payloads, garbage, tcp }) => {
          const stream = attacker.heartbeat();
          try {
            for (const payload of payloads) stream.write(payload);
            // Honest acks must all arrive, accepted, in order (fleet.send checks each); the rest must only not
            // break anything.
            await Promise.all([
              ...honest.map((step) => fleet.send(step.hive, step.workers, step.devices)),
              rawBidi(raw, HEARTBEAT, garbage),
              tcp === undefined ? Promise.resolve() : sendRawTcp(q.queen.port, tcp.chunks, 50),
            ]);
          } finally {
            stream.cancel();
          }
          await expectHealthy();
        }).beforeEach(freshRun),
        liveParams(20),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
