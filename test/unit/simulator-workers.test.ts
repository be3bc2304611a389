import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { HiveSnapshot } from '../../src/agent/hive-snapshot';
import { DEFAULT_SIMULATED_MODELS, SIMULATED_PLACEHOLDER_URL, SimulatedWorkers } from '../../src/simulator/simulated-workers';
import { ManualClock } from '../../src/common/manual-clock';
import {
  Backend,
  HealthStatus,
  HiveHeartbeatPayloadSchema,
  WorkerStatus,
  type HiveHeartbeatPayload,
} from '../../gen/hive/v1/registry_pb';

/** The snapshot as the agent would send it (messages, not init shapes). */
function message(snapshot: HiveSnapshot): HiveHeartbeatPayload {
  return create(HiveHeartbeatPayloadSchema, {
    workers: [...snapshot.workers],
    devices: [...snapshot.devices],
    ramTotalBytes: snapshot.ramTotalBytes,
  });
}

function encoded(snapshot: HiveSnapshot): string {
  return Buffer.from(toBinary(HiveHeartbeatPayloadSchema, message(snapshot))).toString('base64');
}

/** Encoded snapshots taken every `everyMs` for `forMs`, from a fresh simulation. */
function history(options: { hiveId?: string; seed?: number; count?: number }, everyMs: number, forMs: number): string[] {
  const clock = new ManualClock();
  const sim = new SimulatedWorkers({ hiveId: options.hiveId ?? 'sim-1', count: options.count ?? 4, clock, seed: options.seed });
  const samples: string[] = [];
  for (let t = 0; t <= forMs; t += everyMs) {
    samples.push(encoded(sim.snapshot()));
    clock.advance(everyMs);
  }
  return samples;
}

describe('SimulatedWorkers', () => {
  it('reports N healthy CUDA workers, models round robin, two workers per 80 GiB device', () => {
    const clock = new ManualClock();
    const urlOf = (id: string): string => `http://127.0.0.1:9400/w/${id}`;
    const sim = new SimulatedWorkers({ hiveId: 'sim-1', count: 5, clock, models: ['a', 'b'], urlOf, maxConcurrency: 8, seed: 1 });
    const snapshot = message(sim.snapshot());
    expect(
      snapshot.workers.map((w) => [w.workerId, w.modelId, w.deviceId, w.url, w.state, w.health, w.backend, w.maxConcurrency]),
    ).toEqual([
      ['sim-1-w0', 'a', 0, 'http://127.0.0.1:9400/w/sim-1-w0', WorkerStatus.IDLE, HealthStatus.HEALTHY, Backend.CUDA, 8],
      ['sim-1-w1', 'b', 0, 'http://127.0.0.1:9400/w/sim-1-w1', WorkerStatus.IDLE, HealthStatus.HEALTHY, Backend.CUDA, 8],
      ['sim-1-w2', 'a', 1, 'http://127.0.0.1:9400/w/sim-1-w2', WorkerStatus.IDLE, HealthStatus.HEALTHY, Backend.CUDA, 8],
      ['sim-1-w3', 'b', 1, 'http://127.0.0.1:9400/w/sim-1-w3', WorkerStatus.IDLE, HealthStatus.HEALTHY, Backend.CUDA, 8],
      ['sim-1-w4', 'a', 2, 'http://127.0.0.1:9400/w/sim-1-w4', WorkerStatus.IDLE, HealthStatus.HEALTHY, Backend.CUDA, 8],
    ]);
    expect(sim.workerModels).toEqual([
      { workerId: 'sim-1-w0', modelId: 'a' },
      { workerId: 'sim-1-w1', modelId: 'b' },
      { workerId: 'sim-1-w2', modelId: 'a' },
      { workerId: 'sim-1-w3', modelId: 'b' },
      { workerId: 'sim-1-w4', modelId: 'a' },
    ]);
    expect(snapshot.devices.map((d) => [d.deviceId, d.vramTotalBytes, d.backend])).toEqual([
      [0, 80n << 30n, Backend.CUDA],
      [1, 80n << 30n, Backend.CUDA],
      [2, 80n << 30n, Backend.CUDA],
    ]);
    expect(snapshot.workers.every((w) => w.vramBytes !== undefined && w.vramBytes > 0n && w.vramBytes <= 40n << 30n)).toBe(true);
    expect(snapshot.workers[0]?.lastHeartbeat).toEqual(timestampFromMs(clock.wallNow()));
    expect(sim.workerIds).toEqual(['sim-1-w0', 'sim-1-w1', 'sim-1-w2', 'sim-1-w3', 'sim-1-w4']);
  });

  it('uses the default models, a placeholder URL and 4 slots when none are given', () => {
    const sim = new SimulatedWorkers({ hiveId: 'sim-1', count: 4, clock: new ManualClock() });
    const workers = message(sim.snapshot()).workers;
    expect(workers.map((w) => w.modelId)).toEqual([...DEFAULT_SIMULATED_MODELS, DEFAULT_SIMULATED_MODELS[0]]);
    expect(new Set(workers.map((w) => w.url))).toEqual(new Set([SIMULATED_PLACEHOLDER_URL]));
    expect(SIMULATED_PLACEHOLDER_URL).toBe('http://127.0.0.1:9/');
    expect(workers.map((w) => w.maxConcurrency)).toEqual([4, 4, 4, 4]);
  });

  it('stays steady with changeProbability 0: every worker idle at its starting load for hours', () => {
    const clock = new ManualClock();
    const sim = new SimulatedWorkers({ hiveId: 'sim-1', count: 8, clock, seed: 7, changeProbability: 0 });
    const first = encoded(sim.snapshot());
    for (let i = 0; i < 1_200; i++) {
      clock.advance(3_000);
      expect(encoded(sim.snapshot())).toBe(first);
    }
    expect(message(sim.snapshot()).workers.every((w) => w.state === WorkerStatus.IDLE)).toBe(true);
  });

  it('is deterministic for a seed, whatever the sampling, and differs between seeds and hives', () => {
    const everySecond = history({ seed: 42 }, 1_000, 600_000);
    expect(history({ seed: 42 }, 1_000, 600_000)).toEqual(everySecond);
    // Sampled only every 60 s: the same state at the same times.
    const everyMinute = history({ seed: 42 }, 60_000, 600_000);
    expect(everyMinute).toEqual(everySecond.filter((_, i) => i % 60 === 0));
    expect(history({ seed: 43 }, 60_000, 600_000)).not.toEqual(everyMinute);
    expect(history({ hiveId: 'sim-2' }, 60_000, 600_000).slice(1)).not.toEqual(history({ hiveId: 'sim-1' }, 60_000, 600_000).slice(1));
  });

  it('changes every few seconds, not within a step, and leaves unchanged intervals for ticks', () => {
    const clock = new ManualClock();
    const sim = new SimulatedWorkers({ hiveId: 'sim-1', count: 8, clock, seed: 7 });
    const intervals = 720; // one hour of 5 s heartbeat intervals
    let unchanged = 0;
    let idle = 0;
    let busy = 0;
    const gpuValues = new Set<number>();
    let previous = encoded(sim.snapshot());
    for (let i = 0; i < intervals; i++) {
      clock.advance(2_999);
      expect(encoded(sim.snapshot())).toBe(encoded(sim.snapshot()));
      clock.advance(2_001);
      const snapshot = sim.snapshot();
      const current = encoded(snapshot);
      if (current === previous) unchanged++;
      previous = current;
      for (const w of message(snapshot).workers) {
        if (w.state === WorkerStatus.IDLE) idle++;
        if (w.state === WorkerStatus.BUSY) busy++;
        gpuValues.add(w.gpuPercent ?? NaN);
      }
    }
    const samples = intervals * 8;
    expect({
      unchangedShare: unchanged / intervals > 0.2 && unchanged / intervals < 0.8,
      mostlyIdle: idle / samples > 0.5,
      busySpells: busy / samples > 0.1,
      onlyIdleOrBusy: idle + busy === samples,
      gpuInRange: [...gpuValues].every((g) => g >= 0 && g <= 100),
      gpuMoves: gpuValues.size > 20,
    }).toEqual({ unchangedShare: true, mostlyIdle: true, busySpells: true, onlyIdleOrBusy: true, gpuInRange: true, gpuMoves: true });
  });

  it('nothing changes within one step', () => {
    const clock = new ManualClock();
    const sim = new SimulatedWorkers({ hiveId: 'sim-1', count: 8, clock, seed: 3, stepMs: 3_000, changeProbability: 1 });
    const before = encoded(sim.snapshot());
    clock.advance(2_999);
    expect(encoded(sim.snapshot())).toBe(before);
    clock.advance(1);
    expect(encoded(sim.snapshot())).not.toBe(before);
  });

  it('refuses a bad count, an empty model list, and hive ids too long for worker ids', () => {
    const clock = new ManualClock();
    expect(() => new SimulatedWorkers({ hiveId: 'h', count: 1, clock, maxConcurrency: 0 })).toThrow(
      /^maxConcurrency: must be an integer from 1 to 4096, got 0$/,
    );
    expect(() => new SimulatedWorkers({ hiveId: 'h', count: 1, clock, maxConcurrency: 4097 })).toThrow(/^maxConcurrency: /);
    expect(() => new SimulatedWorkers({ hiveId: 'h', count: 1, clock, changeProbability: 1.5 })).toThrow(
      /^changeProbability: must be from 0 to 1, got 1.5$/,
    );
    expect(() => new SimulatedWorkers({ hiveId: 'h', count: 0, clock })).toThrow(/^count: must be an integer from 1 to 1024, got 0$/);
    expect(() => new SimulatedWorkers({ hiveId: 'h', count: 1, clock, models: [] })).toThrow(/^models: /);
    // 125 + "-w10" is 129 characters; up to "-w9" it is exactly 128.
    expect(() => new SimulatedWorkers({ hiveId: 'h'.repeat(125), count: 11, clock })).toThrow(/^hiveId: .*exceed 128/);
    expect(new SimulatedWorkers({ hiveId: 'h'.repeat(125), count: 10, clock }).workerIds.at(-1)?.length).toBe(128);
  });
});
