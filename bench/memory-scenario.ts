import { readFileSync } from 'node:fs';
import { BenchChild } from './bench-child.js';
import { fillerAcks } from './catalog-scenario.js';
import type { FillSpec, ServerKind, ServerMemory } from './protocol.js';
import { sleep } from './stats.js';

/**
 * "Memory per connected hive": what one more hive costs the queen in resident memory. One queen child (production
 * defaults, catalog in memory, run with --expose-gc so every reading follows a full gc) is read with no hive, then
 * `generators` filler processes each bring `hives / generators` hives online, every hive on its own TCP connection
 * (its own channel and subchannel), one full snapshot then a liveness tick every `tickEveryMs`. The queen is read
 * once each filler's fleet is online, then every tick period for `settleMs` once all are. Per hive: the last
 * reading minus the first, over the hives. The run fails unless the queen holds every hive online and every hive
 * has its own established connection to it. Then the same for the bare grpc-js server of the other scenarios (stock
 * grpc-js options, handlers that keep each stream open and ack every payload): what the transport alone costs.
 */

/** The scenario's knobs (run.ts sets them). */
export interface MemorySettings {
  readonly hives: number;
  /** Filler processes sharing the fleet (each holds hives / generators connections: mind ulimit -n). */
  readonly generators: number;
  readonly tickEveryMs: number;
  /** After the server started, before the first reading. */
  readonly idleMs: number;
  /** After a filler's fleet is online, before the server is read. */
  readonly stepSettleMs: number;
  /** After the whole fleet is online: the server is read every tick period for this long, the last reading counts. */
  readonly settleMs: number;
  /** The goal: resident memory per connected hive, in bytes. */
  readonly goalBytesPerHive: number;
}

/** One reading of a server, with how many hives its fillers had online then. */
export interface MemoryPoint {
  readonly hives: number;
  readonly memory: ServerMemory;
}

/** One server's run. */
export interface MemoryRun {
  readonly kind: ServerKind;
  /** The server with no hive, then once each filler's fleet was online, then the steady readings at the end. */
  readonly points: readonly MemoryPoint[];
  readonly before: ServerMemory;
  readonly after: ServerMemory;
  /** Established TCP connections to the server's port, from /proc/net/tcp, at the end. */
  readonly connections: number;
  /** Time for each filler's hives to be online (every snapshot acked). */
  readonly fillMs: readonly number[];
  /** Heartbeats acked by all fillers, none refused. */
  readonly acks: number;
}

export interface MemoryOutcome {
  readonly settings: MemorySettings;
  readonly queen: MemoryRun;
  /** The bare grpc-js server: the transport's own share. */
  readonly bare: MemoryRun;
}

const START_TIMEOUT_MS = 10_000;
const MEMORY_TIMEOUT_MS = 20_000;
const FILL_TIMEOUT_MS = 60_000;
/** TCP state ESTABLISHED in /proc/net/tcp. */
const TCP_ESTABLISHED = '01';

/** Asks the server child for its memory figures. */
async function serverMemory(server: BenchChild): Promise<ServerMemory> {
  server.send('memory');
  const event = await server.next('memory', MEMORY_TIMEOUT_MS);
  return event['memory'] as ServerMemory;
}

/** Established TCP connections whose local port is `port` (the server's side of each), IPv4 and IPv6. */
export function establishedTo(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === TCP_ESTABLISHED) count++;
    }
  }
  return count;
}

/** The scenario: see the comment at the top. */
export async function memoryRun(settings: MemorySettings, log: (text: string) => void): Promise<MemoryOutcome> {
  if (settings.hives % settings.generators !== 0) throw new Error('memory: hives must be a multiple of generators');
  const queen = await serverRun('queen', settings, log);
  const bare = await serverRun('bare', settings, log);
  return { settings, queen, bare };
}

/** One server child, filled, read and stopped. */
async function serverRun(kind: ServerKind, s: MemorySettings, log: (text: string) => void): Promise<MemoryRun> {
  const perGenerator = s.hives / s.generators;
  const lifetimeMs =
    START_TIMEOUT_MS + s.idleMs + s.generators * (FILL_TIMEOUT_MS + s.stepSettleMs) + s.settleMs + 30_000;
  const server = new BenchChild(
    `${kind} server`,
    'server-main.js',
    [kind, ':memory:', '--max-streams-per-address', String(2 * s.hives), '--lifetime-ms', String(lifetimeMs)],
    ['--expose-gc'],
  );
  const fillers: BenchChild[] = [];
  try {
    const ready = await server.next('ready', START_TIMEOUT_MS);
    const port = Number(ready['port']);
    await sleep(s.idleMs);
    const before = await serverMemory(server);
    const points: MemoryPoint[] = [{ hives: 0, memory: before }];
    const fillMs: number[] = [];
    for (let g = 0; g < s.generators; g++) {
      const spec: FillSpec = {
        mode: 'fill',
        address: `127.0.0.1:${port}`,
        hives: perGenerator,
        firstHive: g * perGenerator,
        streamsPerConnection: 1,
        tickEveryMs: s.tickEveryMs,
        maxLifetimeMs: lifetimeMs,
      };
      const filler = new BenchChild(`${kind} memory filler ${g + 1}`, 'load-main.js', [JSON.stringify(spec)]);
      fillers.push(filler);
      const filled = await filler.next('filled', FILL_TIMEOUT_MS);
      fillMs.push(Number(filled['elapsedMs']));
      await sleep(s.stepSettleMs);
      const memory = await serverMemory(server);
      points.push({ hives: (g + 1) * perGenerator, memory });
      log(`memory: ${points.at(-1)?.hives} hives online, ${kind} RSS ${(memory.rssBytes / 2 ** 20).toFixed(1)} MiB`);
    }
    let after = points[points.length - 1]?.memory ?? before;
    for (let waited = 0; waited < s.settleMs; waited += s.tickEveryMs) {
      await sleep(s.tickEveryMs);
      after = await serverMemory(server);
      points.push({ hives: s.hives, memory: after });
    }
    const connections = establishedTo(port);
    let acks = 0;
    for (const filler of fillers) {
      const counted = await fillerAcks(filler);
      if (counted.rejected > 0) throw new Error(`memory: ${filler.name}: ${counted.rejected} heartbeats refused`);
      acks += counted.acks;
    }
    const problems: string[] = [];
    if (kind === 'queen' && after.onlineHives !== s.hives) {
      problems.push(`the queen holds ${after.onlineHives} hives online`);
    }
    if (connections !== s.hives) problems.push(`${connections} established connections to the ${kind} server`);
    if (problems.length > 0) throw new Error(`memory: ${problems.join('; ')} (${s.hives} expected)`);
    return { kind, points, before, after, connections, fillMs, acks };
  } finally {
    await Promise.all(fillers.map((filler) => filler.stop()));
    await server.stop();
  }
}
