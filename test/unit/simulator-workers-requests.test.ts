// What simulated workers report about their engine and their requests, and when they say something changed.
// A RequestBoard stands in for the inference server (the same slots it runs); time is a manual clock with its timers.
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { HiveSnapshot } from '../../src/agent/hive-snapshot';
import { ManualTimers } from '../../src/agent/manual-timers';
import { ManualClock } from '../../src/common/manual-clock';
import { RequestBoard } from '../../src/simulator/request-board';
import { DEFAULT_CONTEXT_TOKENS } from '../../src/simulator/simulated-models';
import {
  BACKGROUND_LOAD_MESSAGE,
  DEFAULT_SIMULATED_MODELS,
  SimulatedWorkers,
  simulatedWorkerModels,
  type SimulatedWorkersOptions,
} from '../../src/simulator/simulated-workers';
import { HiveHeartbeatPayloadSchema, WorkerStatus, type WorkerState } from '../../gen/hive/v1/registry_pb';

/** The workers as the agent would send them (messages, not init shapes). */
function workersOf(snapshot: HiveSnapshot): WorkerState[] {
  return create(HiveHeartbeatPayloadSchema, { workers: [...snapshot.workers] }).workers;
}

/** The snapshot's bytes on the wire, to compare two snapshots. */
function encoded(snapshot: HiveSnapshot): string {
  return Buffer.from(toBinary(HiveHeartbeatPayloadSchema, create(HiveHeartbeatPayloadSchema, { workers: [...snapshot.workers] }))).toString('base64');
}

/** A worker's live figures: `state running/waiting kv`. */
function figures(w: WorkerState | undefined): string {
  return `${w?.state === WorkerStatus.BUSY ? 'BUSY' : w?.state === WorkerStatus.IDLE ? 'IDLE' : String(w?.state)} ${w?.requestsRunning}/${w?.requestsWaiting} ${w?.kvCacheUsage}`;
}

function setup(options: Partial<SimulatedWorkersOptions> = {}): {
  clock: ManualClock;
  timers: ManualTimers;
  board: RequestBoard;
  sim: SimulatedWorkers;
} {
  const clock = new ManualClock();
  const timers = new ManualTimers(clock);
  const count = options.count ?? 2;
  const board = new RequestBoard(simulatedWorkerModels('h', count).map((w) => w.workerId), options.maxConcurrency ?? 2);
  const sim = new SimulatedWorkers({ hiveId: 'h', count, clock, timers, requests: board, maxConcurrency: 2, changeProbability: 0, ...options });
  return { clock, timers, board, sim };
}

const live = (): AbortSignal => new AbortController().signal;

describe('SimulatedWorkers: engine fields', () => {
  it('reports engine "simulated", the version given, each model\'s context length, and no status message at rest', () => {
    const clock = new ManualClock();
    const models = [...DEFAULT_SIMULATED_MODELS, 'org/unknown-model'];
    const sim = new SimulatedWorkers({ hiveId: 'h', count: 4, clock, models, engineVersion: '1.2.3' });
    expect(workersOf(sim.snapshot()).map((w) => [w.modelId, w.engine, w.engineVersion, w.contextLength, w.statusMessage])).toEqual([
      ['meta-llama/Llama-3.1-8B-Instruct', 'simulated', '1.2.3', 131_072, undefined],
      ['Qwen/Qwen2.5-7B-Instruct', 'simulated', '1.2.3', 32_768, undefined],
      ['mistralai/Mistral-7B-Instruct-v0.3', 'simulated', '1.2.3', 32_768, undefined],
      ['org/unknown-model', 'simulated', '1.2.3', DEFAULT_CONTEXT_TOKENS, undefined],
    ]);
    expect(DEFAULT_CONTEXT_TOKENS).toBe(131_072);
  });

  it('leaves engine_version out when none is given, and cuts a long one to the contract\'s 64 characters', () => {
    const clock = new ManualClock();
    const [bare] = workersOf(new SimulatedWorkers({ hiveId: 'h', count: 1, clock }).snapshot());
    expect({ engine: bare?.engine, version: bare?.engineVersion }).toEqual({ engine: 'simulated', version: undefined });
    const [long] = workersOf(new SimulatedWorkers({ hiveId: 'h', count: 1, clock, engineVersion: 'v'.repeat(100) }).snapshot());
    expect(long?.engineVersion).toBe('v'.repeat(64));
  });

  it('lists its workers and models before it exists, for the server built first', () => {
    const sim = new SimulatedWorkers({ hiveId: 'h', count: 4, clock: new ManualClock(), models: ['a', 'b', 'c'] });
    expect(simulatedWorkerModels('h', 4, ['a', 'b', 'c'])).toEqual(sim.workerModels);
    expect(simulatedWorkerModels('h', 1)).toEqual([{ workerId: 'h-w0', modelId: DEFAULT_SIMULATED_MODELS[0] }]);
  });
});

describe('SimulatedWorkers: live counts and the state they give', () => {
  it('reports running and waiting as the requests come and go: BUSY while every slot runs, IDLE again after', async () => {
    const { sim, board, clock } = setup();
    const w0 = (): WorkerState | undefined => workersOf(sim.snapshot())[0];
    expect(figures(w0())).toBe('IDLE 0/0 0');
    const slots = board.slotsOf('h-w0');
    await slots.acquire(live());
    expect(figures(w0())).toBe('IDLE 1/0 0.5');
    clock.advance(1_000);
    await slots.acquire(live());
    expect(figures(w0())).toBe('BUSY 2/0 1');
    // The worker's last change is its last_heartbeat: the second request, not the snapshot's time.
    const changedAt = clock.wallNow();
    clock.advance(500);
    expect(w0()?.lastHeartbeat).toEqual(timestampFromMs(changedAt));
    const third = slots.acquire(live());
    expect(figures(w0())).toBe('BUSY 2/1 1');
    slots.release();
    expect(await third).toBe(true);
    expect(figures(w0())).toBe('BUSY 2/0 1');
    slots.release();
    expect(figures(w0())).toBe('IDLE 1/0 0.5');
    slots.release();
    expect(figures(w0())).toBe('IDLE 0/0 0');
    // The other worker's slots are its own.
    expect(figures(workersOf(sim.snapshot())[1])).toBe('IDLE 0/0 0');
  });

  it('refuses requests that do not know its workers', () => {
    const board = new RequestBoard(['other-w0'], 2);
    expect(() => new SimulatedWorkers({ hiveId: 'h', count: 1, clock: new ManualClock(), requests: board })).toThrow(
      /^workerId: no simulated worker "h-w0"$/,
    );
  });

  it('busy spells are background requests holding every slot: BUSY, counts and status agree at every step', () => {
    const { sim, clock } = setup({ count: 8, seed: 7, changeProbability: undefined, maxConcurrency: 4, requests: undefined });
    let spells = 0;
    let idle = 0;
    for (let i = 0; i < 1_200; i++) {
      clock.advance(3_000);
      for (const w of workersOf(sim.snapshot())) {
        const running = w.requestsRunning ?? NaN;
        expect([w.state, running >= 4, w.kvCacheUsage, w.requestsWaiting]).toEqual([
          running >= 4 ? WorkerStatus.BUSY : WorkerStatus.IDLE,
          w.statusMessage === BACKGROUND_LOAD_MESSAGE,
          running / 4,
          0,
        ]);
        if (w.statusMessage === BACKGROUND_LOAD_MESSAGE) spells++;
        else idle++;
        expect([0, 4]).toContain(running);
      }
    }
    expect({ spells: spells / (spells + idle) > 0.1, mostlyIdle: idle / (spells + idle) > 0.5 }).toEqual({ spells: true, mostlyIdle: true });
  });

  it('a request sent during a spell waits behind the background ones, and runs when the spell ends', async () => {
    // Seed 1 with every step moving the single worker: a spell starts at some step and ends at a later one.
    const { sim, board, clock } = setup({ count: 1, seed: 1, changeProbability: 1, maxConcurrency: 2 });
    let steps = 0;
    while (workersOf(sim.snapshot())[0]?.statusMessage === undefined) {
      clock.advance(3_000);
      expect(++steps).toBeLessThan(100);
    }
    expect(figures(workersOf(sim.snapshot())[0])).toBe('BUSY 2/0 1');
    const request = board.slotsOf('h-w0').acquire(live());
    expect(figures(workersOf(sim.snapshot())[0])).toBe('BUSY 2/1 1');
    while (workersOf(sim.snapshot())[0]?.statusMessage !== undefined) {
      clock.advance(3_000);
      expect(++steps).toBeLessThan(200);
    }
    expect(await request).toBe(true);
    expect(figures(workersOf(sim.snapshot())[0])).toBe('IDLE 1/0 0.5');
  });
});

describe('SimulatedWorkers.onChange', () => {
  it('is called when a request starts, waits, ends; not after unsubscribing', async () => {
    const { sim, board } = setup();
    const seen: string[] = [];
    const stop = sim.onChange(() => seen.push(figures(workersOf(sim.snapshot())[1])));
    const slots = board.slotsOf('h-w1');
    await slots.acquire(live());
    await slots.acquire(live());
    const waiting = slots.acquire(live());
    slots.release();
    await waiting;
    slots.release();
    stop();
    slots.release();
    expect(seen).toEqual(['IDLE 1/0 0.5', 'BUSY 2/0 1', 'BUSY 2/1 1', 'BUSY 2/0 1', 'IDLE 1/0 0.5']);
  });

  it('wakes at each step while someone listens, and is called for the steps that moved a worker', () => {
    const { sim, timers } = setup({ count: 4, seed: 3, changeProbability: 0.4, stepMs: 3_000 });
    expect(timers.delaysMs).toEqual([]);
    let calls = 0;
    let last = encoded(sim.snapshot());
    let moved = 0;
    const stop = sim.onChange(() => calls++);
    expect(timers.delaysMs).toEqual([3_000]);
    for (let i = 0; i < 200; i++) {
      const before = calls;
      timers.advance(3_000);
      // Read without moving the clock: the step ran at its timer, and told of itself then if it moved anything.
      const now = encoded(sim.snapshot());
      expect(calls - before).toBe(now === last ? 0 : 1);
      if (now !== last) moved++;
      last = now;
    }
    expect(moved).toBeGreaterThan(40);
    expect(moved).toBeLessThan(160);
    stop();
    expect(timers.delaysMs).toEqual([]);
  });

  it('steady workers set no timer; two listeners both hear; close() drops them and the timer', async () => {
    const steady = setup();
    steady.sim.onChange(() => undefined);
    expect(steady.timers.delaysMs).toEqual([]);

    const { sim, board, timers } = setup({ changeProbability: 0.4 });
    const heard: string[] = [];
    const first = (): number => heard.push('a');
    sim.onChange(first);
    sim.onChange(first);
    sim.onChange(() => heard.push('b'));
    await board.slotsOf('h-w0').acquire(live());
    expect(heard).toEqual(['a', 'a', 'b']);
    expect(timers.delaysMs).toHaveLength(1);
    sim.close();
    board.slotsOf('h-w0').release();
    expect({ heard, timers: timers.delaysMs }).toEqual({ heard: ['a', 'a', 'b'], timers: [] });
    expect(figures(workersOf(sim.snapshot())[0])).toBe('IDLE 0/0 0');
  });
});
