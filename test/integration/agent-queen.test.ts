// The hive agent against a real queen, with the system clock: these tests need real heartbeat intervals, kept short
// (200 ms interval, offline after 1 s) and every wait bounded.
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import {
  HeartbeatAgent,
  type AcceptedEvent,
  type DisconnectedEvent,
  type StoppedEvent,
} from '../../src/agent/heartbeat-agent';
import type { HiveSnapshot } from '../../src/agent/hive-snapshot';
import { systemClock } from '../../src/common/clock';
import { QueenServer, type ServerConfig } from '../../src/server/queen-server';
import { Backend, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { snapshotOf } from '../helpers/acks';
import { QueenClient } from '../helpers/client';
import { TEST_CONFIG } from '../helpers/queen';

const INTERVAL_MS = 200;
const CONFIG: ServerConfig = { ...TEST_CONFIG, heartbeatIntervalMs: INTERVAL_MS, offlineAfterMs: 1_000 };
const silent = pino({ level: 'silent' });

function snapshot(...workerIds: string[]): HiveSnapshot {
  return {
    workers: workerIds.map((workerId) => ({
      workerId,
      state: WorkerStatus.IDLE,
      url: 'http://127.0.0.1:9/',
      backend: Backend.CUDA,
    })),
    devices: [],
  };
}

/** An agent over grpc-js plus everything it emitted, with the time (ms, performance.now) of each event. */
class RecordedAgent {
  readonly accepted: (AcceptedEvent & { at: number })[] = [];
  readonly disconnected: DisconnectedEvent[] = [];
  readonly stopped: StoppedEvent[] = [];
  connections = 0;
  readonly agent: HeartbeatAgent;
  current: HiveSnapshot;

  constructor(address: string, hiveId: string, initial: HiveSnapshot) {
    this.current = initial;
    this.agent = HeartbeatAgent.forQueen(address, hiveId, () => this.current, {
      logger: silent,
      // Small backoff, so a restarted queen is found again within the test's bounds.
      backoff: { baseMs: 50, capMs: 500 },
    });
    this.agent.on('connected', () => (this.connections += 1));
    this.agent.on('accepted', (event) => this.accepted.push({ ...event, at: performance.now() }));
    this.agent.on('disconnected', (event) => this.disconnected.push(event));
    this.agent.on('stopped', (event) => this.stopped.push(event));
    this.agent.start();
  }

  get ticks(): number {
    return this.accepted.filter((e) => e.kind === 'tick').length;
  }
}

/** Polls `condition` every 10 ms; fails with `what` if it does not hold within `timeoutMs`. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('HeartbeatAgent against a queen', () => {
  let queen: QueenServer;
  let client: QueenClient;
  let agents: RecordedAgent[];

  const startAgent = (hiveId: string, initial: HiveSnapshot = snapshot(`${hiveId}-w0`)): RecordedAgent => {
    const agent = new RecordedAgent(`127.0.0.1:${queen.port}`, hiveId, initial);
    agents.push(agent);
    return agent;
  };

  beforeEach(async () => {
    queen = await QueenServer.start(CONFIG, silent, systemClock, { detectStalls: false });
    client = new QueenClient(`127.0.0.1:${queen.port}`);
    agents = [];
  });

  afterEach(async () => {
    await Promise.all(agents.map((a) => a.agent.stop()));
    client.close();
    await queen.stop();
  });

  it('keeps a hive online with ticks alone, past the offline threshold, its snapshot unchanged', async () => {
    const a = startAgent('hive-a');
    await waitFor('the first accepted snapshot', () => a.accepted.length >= 1);
    await waitFor('3 accepted ticks', () => a.ticks >= 3);
    const before = await snapshotOf(client.rpc, 'hive-a');
    // 6 more ticks at 200 ms: 1.2 s, longer than the 1 s offline threshold.
    await waitFor('6 more ticks', () => a.ticks >= 9);
    const after = await snapshotOf(client.rpc, 'hive-a');
    expect(a.accepted[0]?.kind).toBe('snapshot');
    expect(a.accepted.slice(1).every((e) => e.kind === 'tick')).toBe(true);
    expect({ ...before, sequence: undefined }).toEqual({ workers: ['hive-a-w0'], devices: [], sequence: undefined, online: true });
    expect({ ...after, sequence: undefined }).toEqual({ ...before, sequence: undefined });
    expect(Number(after.sequence) - Number(before.sequence)).toBeGreaterThanOrEqual(6);
    expect((await client.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(true);
  });

  it('sends a change with the next heartbeat: it shows up in GetHiveState within one interval', async () => {
    const a = startAgent('hive-a');
    await waitFor('2 accepted ticks', () => a.ticks >= 2);
    const changedAt = performance.now();
    const acceptedBefore = a.accepted.length;
    a.current = snapshot('hive-a-w0', 'hive-a-w1');
    await waitFor('the new worker in GetHiveState', async () => (await snapshotOf(client.rpc, 'hive-a')).workers?.length === 2);
    const seenAfterMs = performance.now() - changedAt;
    const sinceChange = a.accepted.slice(acceptedBefore);
    // At most the one tick that was already on its way, then the snapshot.
    expect(sinceChange.findIndex((e) => e.kind === 'snapshot')).toBeLessThanOrEqual(1);
    expect((sinceChange.find((e) => e.kind === 'snapshot')?.at ?? Infinity) - changedAt).toBeLessThan(INTERVAL_MS + 150);
    expect(seenAfterMs).toBeLessThan(INTERVAL_MS + 300);
  });

  it('stops for good when a second agent for the same hive supersedes it', async () => {
    const first = startAgent('hive-a');
    await waitFor('the first agent accepted', () => first.accepted.length >= 1);
    const second = startAgent('hive-a', snapshot('hive-a-w0', 'hive-a-w1'));
    await waitFor('the first agent stopped', () => first.stopped.length === 1);
    expect(first.stopped).toEqual([
      { reason: 'aborted', code: status.ABORTED, details: expect.stringMatching(/^superseded by a newer heartbeat stream/) },
    ]);
    const ticksThen = second.ticks;
    await waitFor('3 more ticks from the second agent', () => second.ticks >= ticksThen + 3);
    expect({
      firstState: first.agent.state,
      firstConnections: first.connections,
      firstDisconnected: first.disconnected.length,
      secondState: second.agent.state,
      secondStopped: second.stopped.length,
    }).toEqual({ firstState: 'stopped', firstConnections: 1, firstDisconnected: 0, secondState: 'streaming', secondStopped: 0 });
    expect(await snapshotOf(client.rpc, 'hive-a')).toMatchObject({ workers: ['hive-a-w0', 'hive-a-w1'], online: true });
  });

  it('stops for good when the hive is removed, and does not come back', async () => {
    const a = startAgent('hive-a');
    await waitFor('accepted', () => a.accepted.length >= 1);
    expect((await client.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);
    await waitFor('stopped', () => a.stopped.length === 1);
    expect(a.stopped).toEqual([
      { reason: 'aborted', code: status.ABORTED, details: expect.stringMatching(/^hive "hive-a" was removed/) },
    ]);
    await pause(3 * INTERVAL_MS);
    expect({ hives: (await client.rpc.listAllHives({})).hiveIds, connections: a.connections }).toEqual({
      hives: [],
      connections: 1,
    });
  });

  it('reconnects to a queen restarted on the same port, and the hive is online again', async () => {
    const a = startAgent('hive-a');
    await waitFor('accepted', () => a.accepted.length >= 1);
    const port = queen.port;
    client.close();
    await queen.stop();
    await waitFor('disconnected', () => a.disconnected.length >= 1);
    expect(a.disconnected[0]).toMatchObject({ code: status.UNAVAILABLE });
    const acceptedBeforeRestart = a.accepted.length;
    // While no queen listens, each attempt is refused and the agent backs off again.
    await waitFor('a refused reconnect', () => a.disconnected.length >= 2);
    expect(a.disconnected.map((e) => status[e.code])).toEqual(a.disconnected.map(() => 'UNAVAILABLE'));

    queen = await QueenServer.start({ ...CONFIG, listen: `127.0.0.1:${port}` }, silent, systemClock, { detectStalls: false });
    client = new QueenClient(`127.0.0.1:${queen.port}`);
    await waitFor('accepted by the new queen', () => a.accepted.length > acceptedBeforeRestart, 5_000);
    expect(a.accepted[acceptedBeforeRestart]).toMatchObject({ kind: 'snapshot', sequence: 1n });
    expect({ port: queen.port, state: a.agent.state, stopped: a.stopped.length }).toEqual({ port, state: 'streaming', stopped: 0 });
    expect(a.connections).toBeGreaterThanOrEqual(2);
    expect(await snapshotOf(client.rpc, 'hive-a')).toMatchObject({ workers: ['hive-a-w0'], online: true });
  });

  it('stop() says goodbye: the hive is offline as soon as stop() resolves', async () => {
    const a = startAgent('hive-a');
    await waitFor('accepted', () => a.accepted.length >= 1);
    expect((await client.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(true);
    await a.agent.stop();
    expect((await client.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(false);
    expect(a.stopped).toEqual([{ reason: 'stopped', code: status.OK, details: 'OK' }]);
  });
});
