import type { MemoryOutcome } from './memory-scenario.js';
import type { ServerMemory } from './protocol.js';
import { fixed, int, mib } from './report-format.js';

const KIB = 1_024;
const kib = (bytes: number): string => `${fixed(1)(bytes / KIB)} KiB`;

/** The per-hive figures: each difference between the last reading and the first, over the hives. */
export function perHive(o: MemoryOutcome): {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  outsideHeap: number;
  external: number;
} {
  const { before, after } = o;
  const hives = o.settings.hives;
  const per = (pick: (m: ServerMemory) => number): number => (pick(after) - pick(before)) / hives;
  return {
    rss: per((m) => m.rssBytes),
    heapUsed: per((m) => m.heapUsedBytes),
    heapTotal: per((m) => m.heapTotalBytes),
    // What RSS holds beyond the pages V8 reserved for its heap: nghttp2, libuv, sockets, malloc.
    outsideHeap: per((m) => m.rssBytes - m.heapTotalBytes),
    external: per((m) => m.externalBytes),
  };
}

function verdict(o: MemoryOutcome): string {
  return perHive(o).rss <= o.settings.goalBytesPerHive ? 'met' : 'not met';
}

function title(o: MemoryOutcome): string {
  return `Memory per connected hive: ${int(o.settings.hives)} hives, one connection each`;
}

/** Section `number` of BENCHMARKS.md (also what `run.js --only memory` prints). */
export function memorySection(o: MemoryOutcome, number: number): string[] {
  const s = o.settings;
  const p = perHive(o);
  const lines = [`## ${number}. ${title(o)}`, ''];
  lines.push(
    `One queen (production defaults, catalog in memory, its per-address stream limit raised: every hive connects ` +
      `from 127.0.0.1) is read with no hive after ${s.idleMs / 1_000} s, then ${s.generators} filler processes ` +
      `bring ${int(s.hives / s.generators)} hives online each, one after the other, every hive on its own channel ` +
      `and TCP connection (\`grpc.use_local_subchannel_pool\`), with the 8 workers and 4 devices of the other ` +
      `scenarios: one full snapshot, then a liveness tick every ${s.tickEveryMs / 1_000} s, spread evenly. The ` +
      `queen is read ${s.stepSettleMs / 1_000} s after each filler's hives are online, then every ` +
      `${s.tickEveryMs / 1_000} s for ${s.settleMs / 1_000} s; the last reading is the steady one. Every reading ` +
      `follows a full gc (the queen runs with \`--expose-gc\`): RSS, then \`process.memoryUsage()\`. Per hive = ` +
      `(steady - no hive) / ${int(s.hives)}. At the end the queen held ${int(o.after.onlineHives ?? 0)} hives ` +
      `online over ${int(o.connections)} established TCP connections (\`/proc/net/tcp\`), and the fillers had ` +
      `${int(o.acks)} heartbeats acked, none refused; the bench fails otherwise.`,
    '',
    '| hives online | RSS | heap total | heap used | external | RSS outside the JS heap |',
    '|---:|---:|---:|---:|---:|---:|',
  );
  for (const point of o.points) {
    const m = point.memory;
    lines.push(
      `| ${int(point.hives)} | ${mib(m.rssBytes)} | ${mib(m.heapTotalBytes)} | ${mib(m.heapUsedBytes)} | ` +
        `${mib(m.externalBytes)} | ${mib(m.rssBytes - m.heapTotalBytes)} |`,
    );
  }
  lines.push(
    '',
    '| per connected hive | value |',
    '|---|---:|',
    `| **RSS** (goal: at most ${kib(s.goalBytesPerHive)}: ${verdict(o)}) | **${kib(p.rss)}** |`,
    `| JS heap used | ${kib(p.heapUsed)} |`,
    `| JS heap total (pages V8 holds) | ${kib(p.heapTotal)} |`,
    `| RSS outside the JS heap (native: HTTP/2 sessions, sockets, buffers) | ${kib(p.outsideHeap)} |`,
    `| external (Buffers and other C++ memory V8 knows of) | ${kib(p.external)} |`,
    `| time to bring each filler's ${int(s.hives / s.generators)} hives online | ` +
      `${o.fillMs.map((v) => `${fixed(1)(v / 1_000)} s`).join(', ')} |`,
    '',
  );
  return lines;
}

/** The memory scenario in one line, for the printed summary. */
export function memorySummary(o: MemoryOutcome): string {
  const p = perHive(o);
  return (
    `${title(o)}: RSS ${kib(p.rss)} per hive (goal ${kib(o.settings.goalBytesPerHive)}: ${verdict(o)}), JS heap ` +
    `used ${kib(p.heapUsed)}, outside the JS heap ${kib(p.outsideHeap)}; queen RSS ${mib(o.before.rssBytes)} with ` +
    `no hive, ${mib(o.after.rssBytes)} with ${int(o.after.onlineHives ?? 0)} online`
  );
}
