import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import {
  HeartbeatAgent,
  type AcceptedEvent,
  type ConnectedEvent,
  type DisconnectedEvent,
  type RejectedEvent,
  type StoppedEvent,
} from '../../src/agent/heartbeat-agent';
import type { HeartbeatTransport } from '../../src/agent/heartbeat-transport';
import type { HiveSnapshot } from '../../src/agent/hive-snapshot';
import { ManualTimers } from '../../src/agent/manual-timers';
import { ManualClock } from '../../src/common/manual-clock';
import { Backend, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { FakeCall } from '../helpers/fake-heartbeat-call';
import { seededRandom } from '../helpers/seeded-random';

function snapshotOf(...workerIds: string[]): HiveSnapshot {
  return {
    workers: workerIds.map((workerId) => ({ workerId, state: WorkerStatus.IDLE, url: 'http://127.0.0.1:9/', backend: Backend.CUDA })),
    devices: [{ deviceId: 0, backend: Backend.CUDA, name: 'gpu-0', vramTotalBytes: 80n << 30n }],
    ramTotalBytes: 64n << 30n,
  };
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** An agent wired to fakes: a ManualClock with ManualTimers, a fake transport, a recording logger. */
function setup(
  options: {
    provider?: () => HiveSnapshot | Promise<HiveSnapshot>;
    seed?: number;
    /** Evaluated at every open, as queenTransport evaluates its metadata; may throw (the open then fails). */
    metadata?: () => string;
    /** Give the agent a change signal, fired by the returned `change()`. */
    changes?: boolean;
  } = {},
) {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  const calls: FakeCall[] = [];
  let closed = 0;
  const transport: HeartbeatTransport = {
    open: () => {
      const metadata = options.metadata?.();
      const call = new FakeCall();
      call.metadata = metadata;
      calls.push(call);
      return call;
    },
    close: () => void (closed += 1),
  };
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  let current = snapshotOf('hive-a-w0');
  const provider = options.provider ?? (() => current);
  const listeners = new Set<() => void>();
  const changes = {
    onChange: (listener: () => void) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
  const agent = new HeartbeatAgent('hive-a', provider, transport, {
    logger,
    clock,
    timers,
    backoff: { rng: seededRandom(options.seed ?? 7) },
    ...(options.changes === true ? { changes } : {}),
  });
  const events = {
    connected: [] as ConnectedEvent[],
    accepted: [] as AcceptedEvent[],
    rejected: [] as RejectedEvent[],
    disconnected: [] as DisconnectedEvent[],
    stopped: [] as StoppedEvent[],
  };
  agent.on('connected', (e) => events.connected.push(e));
  agent.on('accepted', (e) => events.accepted.push(e));
  agent.on('rejected', (e) => events.rejected.push(e));
  agent.on('disconnected', (e) => events.disconnected.push(e));
  agent.on('stopped', (e) => events.stopped.push(e));
  const call = (index: number): FakeCall => {
    const found = calls[index];
    if (found === undefined) throw new Error(`no call #${index} (only ${calls.length})`);
    return found;
  };
  return {
    agent,
    clock,
    timers,
    calls,
    call,
    events,
    closed: () => closed,
    warnings: () => logs.filter((l) => l.level === 40),
    errors: () => logs.filter((l) => l.level === 50),
    infos: () => logs.filter((l) => l.level === 30).map((l) => l.msg),
    setSnapshot: (snapshot: HiveSnapshot) => void (current = snapshot),
    /** The provider's answer changed: fires the change signal. */
    change: (snapshot?: HiveSnapshot) => {
      if (snapshot !== undefined) current = snapshot;
      for (const listener of listeners) listener();
    },
    listenerCount: () => listeners.size,
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('HeartbeatAgent', () => {
  it('opens a stream and sends a full snapshot at once, sequence 1, wall-clock timestamp', () => {
    const t = setup();
    t.agent.start();
    expect(t.calls).toHaveLength(1);
    const first = t.call(0).writes[0];
    expect({
      hiveId: first?.hiveId,
      sequence: first?.sequence,
      unchanged: first?.unchanged,
      workers: first?.workers.map((w) => w.workerId),
      devices: first?.devices.map((d) => d.vramTotalBytes),
      ramTotalBytes: first?.ramTotalBytes,
      timestamp: first?.timestamp,
    }).toEqual({
      hiveId: 'hive-a',
      sequence: 1n,
      unchanged: false,
      workers: ['hive-a-w0'],
      devices: [80n << 30n],
      ramTotalBytes: 64n << 30n,
      timestamp: timestampFromMs(t.clock.wallNow()),
    });
    expect(t.events.connected).toEqual([{ connection: 1 }]);
    expect(t.agent.state).toBe('streaming');
  });

  it('sends liveness ticks while the provider reports what the queen accepted', () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1);
    t.timers.advance(5_000);
    t.call(0).ack(2);
    t.timers.advance(5_000);
    t.call(0).ack(3);
    expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'tick:2', 'tick:3']);
    const tick = t.call(0).writes[1];
    expect({ workers: tick?.workers.length, devices: tick?.devices.length, hiveId: tick?.hiveId }).toEqual({
      workers: 0,
      devices: 0,
      hiveId: 'hive-a',
    });
    expect(t.events.accepted.map((e) => `${e.kind}:${e.sequence}`)).toEqual(['snapshot:1', 'tick:2', 'tick:3']);
    expect(t.infos()).toEqual(['heartbeat stream opened', 'connected: the queen accepted our snapshot']);
  });

  it('sends a full snapshot when the provider changes, compared with the last ACCEPTED snapshot', () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1);
    t.setSnapshot(snapshotOf('hive-a-w0', 'hive-a-w1'));
    t.timers.advance(5_000); // changed: snapshot 2, not acked yet
    t.timers.advance(5_000); // same as 2, but the queen has not accepted 2: snapshot again
    t.call(0).ack(2);
    t.call(0).ack(3);
    t.timers.advance(5_000); // now it matches the accepted one: tick
    t.setSnapshot(snapshotOf('hive-a-w0'));
    t.timers.advance(5_000); // back to the first content: that is a change too
    expect(t.call(0).summary).toEqual([
      'snapshot:1:hive-a-w0',
      'snapshot:2:hive-a-w0,hive-a-w1',
      'snapshot:3:hive-a-w0,hive-a-w1',
      'tick:4',
      'snapshot:5:hive-a-w0',
    ]);
  });

  it("follows the heartbeat_interval of the latest ack (5 s until the first ack)", () => {
    const t = setup();
    t.agent.start();
    expect(t.timers.delaysMs).toEqual([5_000]);
    t.timers.advance(200);
    t.call(0).ack(1, true, '', 1_000); // the pending beat moves to one new interval after the last beat
    expect(t.timers.delaysMs).toEqual([800]);
    t.timers.advance(799);
    expect(t.call(0).writes).toHaveLength(1);
    t.timers.advance(1);
    expect(t.call(0).writes).toHaveLength(2);
    t.call(0).ack(2, true, '', 3_000);
    expect(t.timers.delaysMs).toEqual([3_000]);
    t.timers.advance(3_000);
    expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'tick:2', 'tick:3']);
    expect(t.events.accepted.map((e) => e.intervalMs)).toEqual([1_000, 3_000]);
  });

  it('logs a rejected ack at warn, emits rejected, keeps going, and sends a full snapshot next', () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1);
    t.timers.advance(5_000);
    t.call(0).ack(2, false, 'unchanged: worker "hive-a-w0" was claimed by hive "b" meanwhile; send a full snapshot');
    t.timers.advance(5_000);
    t.call(0).ack(3);
    t.timers.advance(5_000);
    expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'tick:2', 'snapshot:3:hive-a-w0', 'tick:4']);
    expect(t.events.rejected).toEqual([
      { sequence: 2n, kind: 'tick', error: expect.stringMatching(/^unchanged: worker "hive-a-w0" was claimed/) },
    ]);
    expect(t.warnings().map((l) => [l.msg, l['error'], l['sequence']])).toEqual([
      ['queen rejected a heartbeat', expect.stringMatching(/^unchanged: worker/), '2'],
    ]);
    expect(t.agent.state).toBe('streaming');
  });

  it('stops for good on ABORTED (superseded): stopped event, nothing scheduled, never reconnects', async () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1);
    t.call(0).finish(status.ABORTED, 'superseded by a newer heartbeat stream for hive "hive-a"');
    const expected = { reason: 'aborted', code: status.ABORTED, details: expect.stringMatching(/^superseded/) };
    expect(t.events.stopped).toEqual([expected]);
    expect(t.events.disconnected).toEqual([]);
    expect(t.timers.delaysMs).toEqual([]);
    t.timers.advance(600_000);
    expect({ calls: t.calls.length, state: t.agent.state, closed: t.closed() }).toEqual({ calls: 1, state: 'stopped', closed: 1 });
    await expect(t.agent.whenStopped()).resolves.toEqual(expected);
    await expect(t.agent.stop()).resolves.toBeUndefined();
    expect(t.events.stopped).toHaveLength(1);
  });

  it('on UNAVAILABLE emits disconnected and reconnects after the jittered delay; a new stream starts afresh', () => {
    const t = setup({ seed: 7 });
    const rng = seededRandom(7);
    const firstDelay = Math.floor(rng() * 250);
    t.agent.start();
    t.call(0).ack(1);
    t.timers.advance(5_000);
    t.call(0).ack(2);
    t.call(0).finish(status.UNAVAILABLE, 'the server is shutting down');
    expect(t.events.disconnected).toEqual([
      { code: status.UNAVAILABLE, details: 'the server is shutting down', retryInMs: firstDelay },
    ]);
    expect({ state: t.agent.state, delays: t.timers.delaysMs }).toEqual({ state: 'backoff', delays: [firstDelay] });
    if (firstDelay > 0) t.timers.advance(firstDelay - 1);
    expect(t.calls).toHaveLength(1);
    t.timers.advance(1);
    expect(t.calls).toHaveLength(2);
    // Same provider answer as before, but this is a new stream: full snapshot, sequence back to 1.
    expect(t.call(1).summary).toEqual(['snapshot:1:hive-a-w0']);
    expect(t.events.connected).toEqual([{ connection: 1 }, { connection: 2 }]);

    // Not accepted before failing: the next ceiling doubles (500 ms)...
    t.call(1).finish(status.UNAVAILABLE, 'No connection established');
    const secondDelay = Math.floor(rng() * 500);
    expect(t.events.disconnected[1]?.retryInMs).toBe(secondDelay);
    t.timers.advance(secondDelay);
    // ...and a stream the queen accepted resets it to 250 ms.
    t.call(2).ack(1);
    t.call(2).finish(status.UNAVAILABLE, 'the server is shutting down');
    expect(t.events.disconnected[2]?.retryInMs).toBe(Math.floor(rng() * 250));
  });

  it('treats PERMISSION_DENIED (hive not admitted yet) as retryable, logged at error with the queen\'s message', () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1, false, 'hive "hive-a" is not registered');
    t.call(0).finish(status.PERMISSION_DENIED, 'hive "hive-a" is not registered');
    expect(t.events.stopped).toEqual([]);
    expect(t.events.disconnected.map((e) => [e.code, e.details])).toEqual([
      [status.PERMISSION_DENIED, 'hive "hive-a" is not registered'],
    ]);
    expect(t.warnings().map((l) => [l.msg, l['code']])).toEqual([['queen rejected a heartbeat', undefined]]);
    expect(t.errors().map((l) => [l.msg, l['code'], l['details']])).toEqual([
      ['heartbeat stream ended: reconnecting', 'PERMISSION_DENIED', 'hive "hive-a" is not registered'],
    ]);
    t.timers.advance(250);
    expect(t.calls).toHaveLength(2);
  });

  it('treats UNAUTHENTICATED (no, bad or revoked token) as retryable: error log, growing backoff, no tight loop', () => {
    const t = setup({ seed: 11 });
    const rng = seededRandom(11);
    t.agent.start();
    // Refused before any payload is accepted, three times running: each delay's ceiling doubles.
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      t.call(i).finish(status.UNAUTHENTICATED, 'missing or unknown token');
      const delay = Math.floor(rng() * 250 * 2 ** i);
      delays.push(delay);
      expect(t.agent.state).toBe('backoff');
      if (delay > 0) t.timers.advance(delay - 1);
      expect(t.calls).toHaveLength(i + 1);
      t.timers.advance(1);
      expect(t.calls).toHaveLength(i + 2);
    }
    expect(t.events.disconnected.map((e) => e.retryInMs)).toEqual(delays);
    expect(t.events.stopped).toEqual([]);
    expect(t.errors().map((l) => [l.msg, l['code'], l['details'], l['retryInMs']])).toEqual(
      delays.map((d) => ['heartbeat stream ended: reconnecting', 'UNAUTHENTICATED', 'missing or unknown token', d]),
    );
  });

  it('rotation: the metadata source is evaluated at every open, so a reconnect after revocation sends the new token', () => {
    let token = 'token-1';
    let unreadable = false;
    const t = setup({
      metadata: () => {
        if (unreadable) throw new Error('token file /etc/hive.token: is empty');
        return token;
      },
    });
    t.agent.start();
    t.call(0).ack(1);
    // The operator writes the new token into the file, then revokes the old one: the queen ends the stream.
    token = 'token-2';
    t.call(0).finish(status.UNAUTHENTICATED, 'the token was revoked');
    t.timers.advance(250);
    expect(t.calls.map((c) => c.metadata)).toEqual(['token-1', 'token-2']);
    t.call(1).ack(1);

    // A token file that cannot be read at a reconnect: the open fails, and is retried with backoff.
    unreadable = true;
    t.call(1).finish(status.UNAVAILABLE, 'the server is shutting down');
    t.timers.advance(250);
    expect(t.calls).toHaveLength(2);
    expect(t.agent.state).toBe('backoff');
    expect(t.events.disconnected.at(-1)?.details).toBe(
      'could not open a heartbeat stream: Error: token file /etc/hive.token: is empty',
    );
    unreadable = false;
    token = 'token-3';
    t.timers.advance(500);
    expect(t.calls.map((c) => c.metadata)).toEqual(['token-1', 'token-2', 'token-3']);
    expect(t.agent.state).toBe('streaming');
  });

  it('stop() half-closes, resolves when the queen ends the call with OK, and is idempotent', async () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1);
    const stopping = t.agent.stop();
    expect({ halfClosed: t.call(0).halfClosed, cancelled: t.call(0).cancelled, state: t.agent.state }).toEqual({
      halfClosed: true,
      cancelled: false,
      state: 'stopping',
    });
    expect(t.timers.delaysMs).toEqual([2_000]); // only the bound on the goodbye; no beat
    t.call(0).finish(status.OK, 'OK');
    await stopping;
    expect(t.events.stopped).toEqual([{ reason: 'stopped', code: status.OK, details: 'OK' }]);
    await t.agent.stop();
    t.timers.advance(60_000);
    expect({ calls: t.calls.length, writes: t.call(0).writes.length, closed: t.closed(), stops: t.events.stopped.length }).toEqual(
      { calls: 1, writes: 1, closed: 1, stops: 1 },
    );
  });

  it('stop() cancels the call when the queen does not answer the half-close within 2 s', async () => {
    const t = setup();
    t.agent.start();
    const stopping = t.agent.stop();
    t.timers.advance(1_999);
    expect(t.call(0).cancelled).toBe(false);
    t.timers.advance(1);
    await stopping;
    expect({ cancelled: t.call(0).cancelled, stopped: t.events.stopped.map((e) => [e.reason, e.code]) }).toEqual({
      cancelled: true,
      stopped: [['stopped', status.CANCELLED]],
    });
  });

  it('stop() during backoff resolves at once and cancels the reconnect', async () => {
    const t = setup();
    t.agent.start();
    t.call(0).finish(status.UNAVAILABLE, 'No connection established');
    await t.agent.stop();
    t.timers.advance(60_000);
    expect({ calls: t.calls.length, state: t.agent.state, stopped: t.events.stopped.map((e) => e.reason) }).toEqual({
      calls: 1,
      state: 'stopped',
      stopped: ['stopped'],
    });
  });

  it('works with an async provider (and ticks while a slow one is still busy)', async () => {
    let answer: (() => void) | undefined;
    let slow = false;
    const t = setup({
      provider: () =>
        new Promise<HiveSnapshot>((resolve) => {
          if (slow) answer = () => resolve(snapshotOf('hive-a-w0'));
          else resolve(snapshotOf('hive-a-w0'));
        }),
    });
    t.agent.start();
    expect(t.call(0).writes).toHaveLength(0);
    await settle();
    t.call(0).ack(1);
    slow = true;
    t.timers.advance(5_000); // asks the provider, which does not answer yet
    t.timers.advance(5_000); // still busy: a tick keeps the hive alive
    answer?.();
    await settle();
    expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'tick:2', 'tick:3']);
  });

  it('survives a throwing or rejecting provider: nothing before a first accepted snapshot, ticks after', async () => {
    let failure: 'throw' | 'reject' | undefined = 'throw';
    const t = setup({
      provider: () => {
        if (failure === 'throw') throw new Error('nvidia-smi: not found');
        if (failure === 'reject') return Promise.reject(new Error('timeout reading /proc'));
        return snapshotOf('hive-a-w0');
      },
    });
    t.agent.start();
    expect(t.call(0).writes).toHaveLength(0);
    failure = undefined;
    t.timers.advance(5_000);
    t.call(0).ack(1);
    failure = 'throw';
    t.timers.advance(5_000);
    t.timers.advance(5_000); // same error again: still a tick, but no second warning
    failure = 'reject';
    t.timers.advance(5_000);
    await settle();
    expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'tick:2', 'tick:3', 'tick:4']);
    expect(t.warnings().map((l) => [l.msg, (l['err'] as { message?: string } | undefined)?.message])).toEqual([
      ['snapshot provider failed: the last accepted snapshot stands', 'nvidia-smi: not found'],
      ['snapshot provider failed: the last accepted snapshot stands', 'nvidia-smi: not found'],
      ['snapshot provider failed: the last accepted snapshot stands', 'timeout reading /proc'],
    ]);
    expect(t.agent.state).toBe('streaming');
  });

  it('cancels and reconnects when the queen stops acking (a silent dead connection)', () => {
    const t = setup();
    t.agent.start();
    t.call(0).ack(1);
    for (let i = 0; i < 3; i++) t.timers.advance(5_000); // ticks 2, 3, 4: none acked
    expect(t.call(0).cancelled).toBe(false);
    t.timers.advance(5_000); // tick 2 is 15 s old
    expect({ cancelled: t.call(0).cancelled, disconnected: t.events.disconnected.map((e) => [e.code, e.details]) }).toEqual({
      cancelled: true,
      disconnected: [[status.CANCELLED, 'no ack from the queen within 15000 ms']],
    });
    expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'tick:2', 'tick:3', 'tick:4']);
  });

  describe('with a change signal', () => {
    it('sends a changed snapshot at once, between beats, and nothing for a signal without a change', () => {
      const t = setup({ changes: true });
      t.agent.start();
      t.call(0).ack(1);
      t.timers.advance(2_000);
      t.change(snapshotOf('hive-a-w0', 'hive-a-w1'));
      t.timers.advance(0);
      expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'snapshot:2:hive-a-w0,hive-a-w1']);
      t.call(0).ack(2);
      t.timers.advance(1_000);
      t.change(); // the same answer again: nothing to send
      t.timers.advance(0);
      t.timers.advance(2_000); // the beat at 5 s: a tick, the queen holds the latest snapshot
      expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'snapshot:2:hive-a-w0,hive-a-w1', 'tick:3']);
    });

    it('sends at most one snapshot per change interval, the latest answer at its end', () => {
      const t = setup({ changes: true });
      t.agent.start();
      t.call(0).ack(1);
      t.change(snapshotOf('a'));
      t.timers.advance(0);
      t.timers.advance(300);
      t.change(snapshotOf('b'));
      t.timers.advance(300);
      t.change(snapshotOf('c'));
      t.timers.advance(399);
      expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'snapshot:2:a']);
      t.timers.advance(1); // one interval after the send of 'a'
      expect(t.call(0).summary).toEqual(['snapshot:1:hive-a-w0', 'snapshot:2:a', 'snapshot:3:c']);
    });

    it('ignores signals while not streaming, and unsubscribes when stopped', async () => {
      const t = setup({ changes: true });
      expect(t.listenerCount()).toBe(0);
      t.agent.start();
      expect(t.listenerCount()).toBe(1);
      t.call(0).finish(status.UNAVAILABLE, 'queen restarting');
      t.change(snapshotOf('x'));
      t.timers.advance(0);
      expect(t.calls).toHaveLength(1);
      const stopped = t.agent.stop();
      await stopped;
      expect(t.listenerCount()).toBe(0);
    });
  });
});
