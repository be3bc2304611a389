import { create, equals, toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import pino, { type Logger } from 'pino';
import { DeviceSchema, WorkerStateSchema } from '../../gen/hive/v1/registry_pb';
import { compareIds } from '../../src/registry/ids';
import type { HeartbeatStream } from '../helpers/client';
import type { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, type DeviceInit, type WorkerInit } from '../helpers/wire-builders';

/** One log line of the queen, as pino wrote it. */
export interface LogEntry {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** pino's number for `error`: what the server logs when a handler throws something that is not a DomainError. */
const ERROR_LEVEL = 50;

/**
 * A logger that keeps warn and above in memory. Hostile input must never make the server log at error level:
 * that level means an unexpected exception in a handler (status-map.ts), i.e. input the adapters failed to refuse.
 */
export function capturingLogger(): { readonly logger: Logger; readonly errors: () => readonly LogEntry[] } {
  const entries: LogEntry[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => entries.push(JSON.parse(line) as LogEntry) });
  return { logger, errors: () => entries.filter((e) => e.level >= ERROR_LEVEL) };
}

/**
 * Everything a client can read about the registry and the catalog, plus the registry's revision (the event count:
 * a change no RPC shows still moves it). Comparable with toStrictEqual; last-heartbeat times are included as they
 * are, because the test queen's clock is manual and does not move unless a test moves it.
 */
export async function serverState(q: TestQueen) {
  const [all, active, workers, hiveCount, totalWorkerCount, catalog] = await Promise.all([
    q.rpc.listAllHives({}),
    q.rpc.listActiveHives({}),
    q.rpc.listAllWorkers({}),
    q.rpc.hiveCount({}),
    q.rpc.totalWorkerCount({}),
    q.catalog.listCatalogHives({}),
  ]);
  const hives = await Promise.all(all.hiveIds.map(async (hiveId) => (await q.rpc.getHiveState({ hiveId })).hive));
  return {
    hiveIds: all.hiveIds,
    activeHiveIds: active.hiveIds,
    hives,
    workers: workers.workers,
    hiveCount: hiveCount.count,
    totalWorkerCount: totalWorkerCount.count,
    catalog: catalog.hives,
    revision: q.queen.registry.revision,
  };
}

export type ServerState = Awaited<ReturnType<typeof serverState>>;

/** The part of a server state that belongs to `hiveIds`. */
export function stateOf(state: ServerState, hiveIds: readonly string[]) {
  const mine = (hiveId: string): boolean => hiveIds.includes(hiveId);
  return {
    hives: state.hives.filter((h) => h !== undefined && mine(h.hiveId)),
    workers: state.workers.filter((e) => mine(e.hiveId)),
    catalog: state.catalog.filter((h) => mine(h.hiveId)),
  };
}

/** The worker every snapshot of `hiveId` lists; strangers may try to claim it. */
export function permanentWorker(hiveId: string): WorkerInit & { readonly workerId: string } {
  return { workerId: `${hiveId}-w0`, url: 'http://10.0.0.1:9300/', state: 1 };
}

/** Ids of an honest hive's other workers: `${prefix}${n}`; no stranger ever claims these. */
export function honestWorkerPrefix(hiveId: string): string {
  return `${hiveId}-x`;
}

interface HonestHive {
  readonly hiveId: string;
  readonly stream: HeartbeatStream;
  sequence: bigint;
  workers: readonly WorkerInit[];
  devices: readonly DeviceInit[];
}

/**
 * Hives that behave: each keeps one stream, sends snapshots in order and must have every one accepted. The test
 * records what each sent last; `expectIntact` holds the server to exactly that.
 *
 * Every snapshot of hive H lists its permanent worker `H-w0` first: a stranger that claims it is always refused
 * (H is online and holds it). H's other workers come and go; their ids (see `honestWorkerPrefix`) are never
 * claimed by strangers, because a stranger may lawfully take an id H does not hold at that moment, and H would
 * then be refused when it brings the id back: first come, first served, as the contract says.
 */
export class HonestFleet {
  private constructor(private readonly hives: readonly HonestHive[]) {}

  static async connect(q: TestQueen, hiveIds: readonly string[]): Promise<HonestFleet> {
    const hives = await Promise.all(
      hiveIds.map(async (hiveId): Promise<HonestHive> => {
        const workers = [permanentWorker(hiveId)];
        return { hiveId, stream: await q.connectHive(hiveId, workers), sequence: 1n, workers, devices: [] };
      }),
    );
    return new HonestFleet(hives);
  }

  get size(): number {
    return this.hives.length;
  }

  /**
   * Writes the next snapshot of hive `index` (its permanent worker, then `others`) without waiting; the returned
   * promise checks its ack.
   */
  send(index: number, others: readonly WorkerInit[], devices: readonly DeviceInit[]): Promise<void> {
    const hive = this.hives[index % this.hives.length] as HonestHive;
    hive.sequence += 1n;
    const sequence = hive.sequence;
    const permanent = permanentWorker(hive.hiveId);
    const workers = [permanent, ...others.filter((w) => w.workerId !== permanent.workerId)];
    hive.workers = workers;
    hive.devices = devices;
    hive.stream.write(snapshotPayload(hive.hiveId, sequence, workers, { devices: [...devices] }));
    return hive.stream.nextAck().then((ack) => {
      expect({ hiveId: hive.hiveId, sequence: ack.sequence, accepted: ack.accepted, error: ack.error }).toStrictEqual({
        hiveId: hive.hiveId,
        sequence,
        accepted: true,
        error: '',
      });
    });
  }

  /**
   * Each honest hive sends its last snapshot again, so the server holds exactly what the fleet recorded even if an
   * earlier run failed half-way (fast-check keeps running the property while it shrinks a failure).
   */
  async resync(): Promise<void> {
    await Promise.all(this.hives.map((hive, i) => this.send(i, hive.workers.slice(1), hive.devices)));
  }

  /**
   * One heartbeat interval passes on the queen's manual clock and every honest hive sends its liveness tick, as a
   * real hive would: leases stay fresh and each stream's rate limit (payloads per interval) refills, so the honest
   * streams can live through every run of a test file.
   */
  async nextInterval(q: TestQueen): Promise<void> {
    q.clock.advance(q.config.heartbeatIntervalMs);
    await Promise.all(
      this.hives.map(async (hive) => {
        hive.sequence += 1n;
        const sequence = hive.sequence;
        const ack = await hive.stream.send(tickPayload(hive.hiveId, sequence));
        expect({ hiveId: hive.hiveId, sequence: ack.sequence, accepted: ack.accepted, error: ack.error }).toStrictEqual({
          hiveId: hive.hiveId,
          sequence,
          accepted: true,
          error: '',
        });
      }),
    );
  }

  /** Every honest stream is still open and the server holds exactly the last snapshot each hive sent. */
  async expectIntact(q: TestQueen): Promise<void> {
    for (const hive of this.hives) {
      const streamEnded = hive.stream.ended;
      expect({ hiveId: hive.hiveId, streamEnded }).toStrictEqual({ hiveId: hive.hiveId, streamEnded: false });
      const { hive: state } = await q.rpc.getHiveState({ hiveId: hive.hiveId });
      expect({ online: state?.online, sequence: state?.sequence }).toStrictEqual({ online: true, sequence: hive.sequence });
      const workers = hive.workers.map((w) => create(WorkerStateSchema, w)).sort((a, b) => compareIds(a.workerId, b.workerId));
      const devices = hive.devices.map((d) => create(DeviceSchema, d)).sort((a, b) => a.deviceId - b.deviceId);
      expectMessages(WorkerStateSchema, state?.workers ?? [], workers);
      expectMessages(DeviceSchema, state?.devices ?? [], devices);
    }
  }
}

/** Protobuf equality of two message lists; on a difference, a readable diff of their JSON forms. */
function expectMessages<D extends DescMessage>(
  schema: D,
  actual: readonly MessageShape<D>[],
  expected: readonly MessageShape<D>[],
): void {
  const same = actual.length === expected.length && actual.every((m, i) => equals(schema, m, expected[i] as MessageShape<D>));
  if (same) return;
  expect(actual.map((m) => toJson(schema, m))).toStrictEqual(expected.map((m) => toJson(schema, m)));
  throw new Error(`${schema.typeName} lists differ`);
}
