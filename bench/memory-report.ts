import type { MemoryOutcome, MemoryRun } from './memory-scenario.js';
import type { ServerMemory } from './protocol.js';
import { fixed, int, mib } from './report-format.js';

const KIB = 1_024;
/** KiB with one decimal; a difference that rounds to nothing shows as 0.0, not -0.0. */
const kib = (bytes: number): string => `${fixed(1)(Math.abs(bytes) < KIB / 20 ? 0 : bytes / KIB)} KiB`;

/** A run's per-hive figures: each difference between its last reading and its first, over the hives. */
export interface PerHive {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** What RSS holds beyond the pages V8 reserved for its heap: nghttp2, libuv, sockets, malloc. */
  readonly outsideHeap: number;
  readonly external: number;
}

export function perHive(run: MemoryRun, hives: number): PerHive {
  const per = (pick: (m: ServerMemory) => number): number => (pick(run.after) - pick(run.before)) / hives;
  return {
    rss: per((m) => m.rssBytes),
    heapUsed: per((m) => m.heapUsedBytes),
    heapTotal: per((m) => m.heapTotalBytes),
    outsideHeap: per((m) => m.rssBytes - m.heapTotalBytes),
    external: per((m) => m.externalBytes),
  };
}

function verdict(o: MemoryOutcome): string {
  return perHive(o.queen, o.settings.hives).rss <= o.settings.goalBytesPerHive ? 'met' : 'not met';
}

function title(o: MemoryOutcome): string {
  return `Memory per connected hive: ${int(o.settings.hives)} hives, one connection each`;
}

/** Section `number` of BENCHMARKS.md (also what `run.js --only memory` prints). */
export function memorySection(o: MemoryOutcome, number: number): string[] {
  const s = o.settings;
  const queen = perHive(o.queen, s.hives);
  const bare = perHive(o.bare, s.hives);
  const lines = [`## ${number}. ${title(o)}`, ''];
  lines.push(
    `One queen (production defaults, catalog in memory, its per-address stream limit raised: every hive connects ` +
      `from 127.0.0.1) is read with no hive after ${s.idleMs / 1_000} s, then ${s.generators} filler processes ` +
      `bring ${int(s.hives / s.generators)} hives online each, one after the other, every hive on its own channel ` +
      `and TCP connection (\`grpc.use_local_subchannel_pool\`), with the 8 workers and 4 devices of the other ` +
      `scenarios: one full snapshot, then a liveness tick every ${s.tickEveryMs / 1_000} s, spread evenly. The ` +
      `queen is read ${s.stepSettleMs / 1_000} s after each filler's hives are online, then every ` +
      `${s.tickEveryMs / 1_000} s for ${s.settleMs / 1_000} s; the last reading is the steady one. Every reading ` +
      `follows a full gc (the server runs with \`--expose-gc\`): RSS, then \`process.memoryUsage()\`. Per hive = ` +
      `(steady - no hive) / ${int(s.hives)}. At the end the queen held ${int(o.queen.after.onlineHives ?? 0)} hives ` +
      `online over ${int(o.queen.connections)} established TCP connections (\`/proc/net/tcp\`), and the fillers had ` +
      `${int(o.queen.acks)} heartbeats acked, none refused; the bench fails otherwise. Then the same fleet against ` +
      `the baseline of sections 1-2, a bare grpc-js server (stock options) whose handler acks every payload and ` +
      `keeps the stream open (${int(o.bare.connections)} connections at the end): what the transport, grpc-js over ` +
      `Node's HTTP/2, costs by itself.`,
    '',
    '| queen: hives online | RSS | heap total | heap used | external | RSS outside the JS heap |',
    '|---:|---:|---:|---:|---:|---:|',
  );
  for (const point of o.queen.points) {
    const m = point.memory;
    lines.push(
      `| ${int(point.hives)} | ${mib(m.rssBytes)} | ${mib(m.heapTotalBytes)} | ${mib(m.heapUsedBytes)} | ` +
        `${mib(m.externalBytes)} | ${mib(m.rssBytes - m.heapTotalBytes)} |`,
    );
  }
  const row = (figure: string, pick: (p: PerHive) => number): string =>
    `| ${figure} | ${kib(pick(bare))} | ${kib(pick(queen))} | ${kib(pick(queen) - pick(bare))} |`;
  lines.push(
    '',
    '| per connected hive | baseline (bare grpc-js) | hive-registry | difference |',
    '|---|---:|---:|---:|',
    `| **RSS** (goal: at most ${kib(s.goalBytesPerHive)}: ${verdict(o)}) | ${kib(bare.rss)} | ` +
      `**${kib(queen.rss)}** | ${kib(queen.rss - bare.rss)} |`,
    row('JS heap used', (p) => p.heapUsed),
    row('JS heap total (pages V8 holds)', (p) => p.heapTotal),
    row('RSS outside the JS heap (native: HTTP/2 sessions, sockets, buffers)', (p) => p.outsideHeap),
    row('external (Buffers and other C++ memory V8 knows of)', (p) => p.external),
    `| server RSS with no hive, then with ${int(s.hives)} | ${mib(o.bare.before.rssBytes)}, ` +
      `${mib(o.bare.after.rssBytes)} | ${mib(o.queen.before.rssBytes)}, ${mib(o.queen.after.rssBytes)} | |`,
    `| time to bring each filler's ${int(s.hives / s.generators)} hives online | ` +
      `${o.bare.fillMs.map((v) => `${fixed(1)(v / 1_000)} s`).join(', ')} | ` +
      `${o.queen.fillMs.map((v) => `${fixed(1)(v / 1_000)} s`).join(', ')} | |`,
    '',
  );
  return lines;
}

/** The memory scenario in one line, for the printed summary. */
export function memorySummary(o: MemoryOutcome): string {
  const queen = perHive(o.queen, o.settings.hives);
  const bare = perHive(o.bare, o.settings.hives);
  return (
    `${title(o)}: queen RSS ${kib(queen.rss)} per hive (goal ${kib(o.settings.goalBytesPerHive)}: ${verdict(o)}; ` +
    `JS heap used ${kib(queen.heapUsed)}, outside the JS heap ${kib(queen.outsideHeap)}), bare grpc-js ` +
    `${kib(bare.rss)}; queen RSS ${mib(o.queen.before.rssBytes)} with no hive, ${mib(o.queen.after.rssBytes)} with ` +
    `${int(o.queen.after.onlineHives ?? 0)} online`
  );
}
