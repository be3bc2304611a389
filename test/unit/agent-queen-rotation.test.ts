// The agent over several queens: which queen each call goes to, with the manual clock and a fake transport.
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { HeartbeatAgent, type ConnectedEvent, type DisconnectedEvent, type StoppedEvent } from '../../src/agent/heartbeat-agent';
import type { HeartbeatTransport } from '../../src/agent/heartbeat-transport';
import { ManualTimers } from '../../src/agent/manual-timers';
import { QueenRotation } from '../../src/agent/queen-rotation';
import { queenTransport } from '../../src/agent/queen-transport';
import { ManualClock } from '../../src/common/manual-clock';
import { Backend, WorkerStatus } from '../../gen/hive/v1/registry_pb';
import { FakeCall } from '../helpers/fake-heartbeat-call';
import { seededRandom } from '../helpers/seeded-random';

const QUEENS = ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051'];

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** An agent over a fake transport naming `queens`; each open records the queen it was asked for. */
function setup(options: { seed: number; queens?: readonly string[]; failOpen?: (queen: string | undefined) => boolean }) {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  const opened: { queen: string | undefined; call: FakeCall }[] = [];
  const transport: HeartbeatTransport = {
    queens: options.queens ?? QUEENS,
    open: (queen) => {
      if (options.failOpen?.(queen) === true) throw new Error(`cannot reach ${queen}`);
      const call = new FakeCall();
      opened.push({ queen, call });
      return call;
    },
  };
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const snapshot = {
    workers: [{ workerId: 'hive-a-w0', state: WorkerStatus.IDLE, url: 'http://127.0.0.1:9/', backend: Backend.CUDA }],
    devices: [],
  };
  const agent = new HeartbeatAgent('hive-a', () => snapshot, transport, { logger, clock, timers, rng: seededRandom(options.seed) });
  const events = { connected: [] as ConnectedEvent[], disconnected: [] as DisconnectedEvent[], stopped: [] as StoppedEvent[] };
  agent.on('connected', (e) => events.connected.push(e));
  agent.on('disconnected', (e) => events.disconnected.push(e));
  agent.on('stopped', (e) => events.stopped.push(e));
  const last = (): FakeCall => {
    const found = opened.at(-1);
    if (found === undefined) throw new Error('no call opened yet');
    return found.call;
  };
  /** Fires the pending reconnect, whatever its jittered delay. */
  const reconnect = (): void => {
    const delay = timers.delaysMs[0];
    if (delay === undefined) throw new Error('no reconnect pending');
    timers.advance(delay);
  };
  return { agent, timers, opened, queens: () => opened.map((o) => o.queen), last, reconnect, events, logs };
}

/** The entry the first call goes to for `seed`: the rng's first number picks it. */
const startOf = (seed: number, count = QUEENS.length): number => Math.floor(seededRandom(seed)() * count);

describe('HeartbeatAgent over several queens', () => {
  test('the first call goes to the entry the seeded rng picks, and seeds spread the start over every entry', () => {
    const starts = new Set<string | undefined>();
    for (let seed = 1; seed <= 30; seed++) {
      const t = setup({ seed });
      t.agent.start();
      expect(t.queens()).toEqual([QUEENS[startOf(seed)]]);
      expect(t.events.connected).toEqual([{ connection: 1, queen: QUEENS[startOf(seed)] }]);
      starts.add(t.queens()[0]);
    }
    expect([...starts].sort()).toEqual(QUEENS);
  });

  test('after UNAVAILABLE the next call goes to the next entry, after the usual jittered backoff, wrapping around', () => {
    const seed = 3;
    const start = startOf(seed);
    const t = setup({ seed });
    // One generator for the start and the jitter: the first number picked the queen, the next ones are the delays.
    const rng = seededRandom(seed);
    rng();
    t.agent.start();
    for (let i = 0; i < 4; i++) {
      t.last().finish(status.UNAVAILABLE, 'No connection established');
      const delay = Math.floor(rng() * 250 * 2 ** i);
      expect(t.timers.delaysMs).toEqual([delay]);
      t.reconnect();
    }
    const expected = [0, 1, 2, 3, 4].map((i) => QUEENS[(start + i) % QUEENS.length]);
    expect(t.queens()).toEqual(expected);
    expect(t.events.disconnected.map((e) => e.queen)).toEqual(expected.slice(0, 4));
    expect(t.events.connected.map((e) => e.queen)).toEqual(expected);
  });

  test('a stream that worked and then dropped moves on too (the queen may be gone), and the backoff starts afresh', () => {
    const seed = 5;
    const start = startOf(seed);
    const t = setup({ seed });
    t.agent.start();
    t.last().ack(1);
    t.timers.advance(5_000);
    t.last().ack(2);
    t.last().finish(status.UNAVAILABLE, 'Connection dropped');
    expect(t.timers.delaysMs[0]).toBeLessThan(250);
    t.reconnect();
    expect(t.queens()).toEqual([QUEENS[start], QUEENS[(start + 1) % 3]]);
    // Any other retryable end moves on as well: a refused hive or token may be a queen's own trouble.
    t.last().finish(status.INTERNAL, 'boom');
    t.reconnect();
    expect(t.queens()[2]).toBe(QUEENS[(start + 2) % 3]);
  });

  test('no ack within the ack timeout: the call is cancelled and the next one goes to the next entry', () => {
    const seed = 9;
    const start = startOf(seed);
    const t = setup({ seed });
    t.agent.start();
    t.timers.advance(15_000); // the beat at 15 s finds payload 1 unacknowledged for 15 s
    expect(t.last().cancelled).toBe(true);
    expect(t.events.disconnected).toEqual([
      expect.objectContaining({ code: status.CANCELLED, details: 'no ack from the queen within 15000 ms', queen: QUEENS[start] }),
    ]);
    t.reconnect();
    expect(t.queens()).toEqual([QUEENS[start], QUEENS[(start + 1) % 3]]);
  });

  test('a call that cannot be opened counts as a failure of that queen: the next call goes to the next entry', () => {
    const seed = 2;
    const start = startOf(seed);
    const dead = QUEENS[start];
    const t = setup({ seed, failOpen: (queen) => queen === dead });
    t.agent.start();
    expect(t.opened).toHaveLength(0);
    expect(t.events.disconnected).toEqual([expect.objectContaining({ code: status.UNAVAILABLE, queen: dead })]);
    t.reconnect();
    expect(t.queens()).toEqual([QUEENS[(start + 1) % 3]]);
  });

  test('ABORTED (superseded) stops the agent on the queen that said it: no other queen is tried', () => {
    const seed = 4;
    const t = setup({ seed });
    t.agent.start();
    t.last().ack(1);
    t.last().finish(status.ABORTED, 'superseded by a newer heartbeat stream for hive "hive-a"');
    expect(t.events.stopped).toEqual([expect.objectContaining({ reason: 'aborted', code: status.ABORTED })]);
    t.timers.advance(600_000);
    expect(t.queens()).toEqual([QUEENS[startOf(seed)]]);
    expect(t.agent.state).toBe('stopped');
  });

  test('logs the queen of each call at info when it opens, and the failed and next queen when it ends', () => {
    const seed = 6;
    const start = startOf(seed);
    const t = setup({ seed });
    t.agent.start();
    t.last().finish(status.UNAVAILABLE, 'No connection established');
    t.reconnect();
    const lines = t.logs.filter((l) => l.level >= 30).map((l) => [l.msg, l['queen'], l['nextQueen']]);
    expect(lines).toEqual([
      ['heartbeat stream opened', QUEENS[start], undefined],
      ['heartbeat stream ended: reconnecting', QUEENS[start], QUEENS[(start + 1) % 3]],
      ['heartbeat stream opened', QUEENS[(start + 1) % 3], undefined],
    ]);
  });

  test('one queen: no draw for the start (the jitter is what it always was), every call to it', () => {
    const seed = 7;
    const t = setup({ seed, queens: ['127.0.0.1:50051'] });
    const rng = seededRandom(seed);
    t.agent.start();
    t.last().finish(status.UNAVAILABLE, 'No connection established');
    expect(t.timers.delaysMs).toEqual([Math.floor(rng() * 250)]);
    t.reconnect();
    expect(t.queens()).toEqual(['127.0.0.1:50051', '127.0.0.1:50051']);
  });
});

describe('QueenRotation', () => {
  test('starts where the rng says, moves on in list order and wraps around', () => {
    const rotation = new QueenRotation(['a:1', 'b:2', 'c:3'], () => 0.999_999);
    const seen = [rotation.current];
    for (let i = 0; i < 3; i++) {
      rotation.moveOn();
      seen.push(rotation.current);
    }
    expect(seen).toEqual(['c:3', 'a:1', 'b:2', 'c:3']);
    expect(new QueenRotation(['a:1', 'b:2'], () => 0).current).toBe('a:1');
  });

  test('refuses an empty list', () => {
    expect(() => new QueenRotation([], () => 0)).toThrow('queens: give at least one HOST:PORT');
  });
});

describe('queenTransport over a list', () => {
  test('names its queens, refuses an empty list, and opens calls only to its own queens', () => {
    expect(() => queenTransport([])).toThrow('address: give at least one queen (HOST:PORT)');
    const transport = queenTransport(['127.0.0.1:1', '127.0.0.1:2']);
    try {
      expect(transport.queens).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
      expect(() => transport.open('127.0.0.1:3')).toThrow('"127.0.0.1:3" is not one of this transport\'s queens');
    } finally {
      transport.close?.();
    }
    const single = queenTransport('127.0.0.1:1');
    expect(single.queens).toEqual(['127.0.0.1:1']);
    single.close?.();
  });
});
