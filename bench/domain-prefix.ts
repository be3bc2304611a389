import { PrefixAffinity, type LoadView } from '../src/gateway/prefix-affinity.js';
import type { DomainFigure } from './protocol.js';
import { timePerOp } from './stats.js';

const MODEL = 'bench/prefix-model';
const WORKERS = 16;
/** A shared system prompt of about 4 KB (16 blocks of the default 256 bytes), then a question of its own. */
const SYSTEM = 'You are a helpful assistant for the hive. '.repeat(96);
/** The production defaults (--gateway-prefix-block, --gateway-prefix-cache, --gateway-affinity-slack). */
const OPTIONS = { blockBytes: 256, cacheKeys: 100_000, slack: 0.25 };

/**
 * The gateway's prefix affinity per request: the keys of a ~4 KB chat prompt (read from the parsed body, hashed),
 * the rule over a table already holding other requests' keys, and recording the chosen worker: what a request with
 * a prompt pays on top of a load-order pick.
 */
export function prefixLookupFigure(maxMsPerTiming: number): DomainFigure {
  const affinity = new PrefixAffinity(OPTIONS);
  const view: LoadView = { standingFor: () => ({ load: 0.25, free: true }), leastLoad: () => 0.125 };
  const body = (n: number): object => ({
    model: MODEL,
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `Question ${n}: how far is the next hive, and which flowers are on the way?` },
    ],
  });
  const bodies = Array.from({ length: 1_000 }, (_, n) => body(n));
  const bodyBytes = JSON.stringify(bodies[0]).length;
  const serve = (n: number): void => {
    const keys = affinity.keysOf('chat', MODEL, bodies[n % bodies.length], bodyBytes);
    const preferred = affinity.prefer(keys, view);
    const workerId = preferred?.workerId ?? `w-${n % WORKERS}`;
    affinity.chosen(keys, 'hive', workerId, MODEL);
  };
  for (let n = 0; n < 10_000; n++) serve(n);
  const keys = affinity.keysOf('chat', MODEL, bodies[0], bodyBytes).length;
  const timing = timePerOp(serve, 100, 1_000_000, maxMsPerTiming);
  return {
    name: 'prefix affinity per request: keys + rule + record',
    value: timing.medianNs / 1_000,
    unit: 'µs/op',
    detail: `a ${bodyBytes}-byte chat body (${keys} keys of ${OPTIONS.blockBytes} bytes), table of ${affinity.size} keys over ${WORKERS} workers`,
  };
}
