import type { CatalogHive, HiveStateView, HiveToken } from '../client/proto-to-domain.js';
import type { BestWorker } from '../client/registry-client.js';
import type { WatchUpdate } from '../client/watch-stream.js';
import type { Worker, WorkerEntry } from '../common/worker.js';
import type { HiveView } from '../registry/types.js';
import { ENGINE_HEADER, engineCell, engineLines, engineRows, kvCell, printable, requestsCell, requestsLine } from './engine-format.js';

/**
 * What operators read: aligned tables and short reports, as plain strings ending with a newline. Pure: the
 * current time is passed in, so the same data always prints the same text (golden tests rely on it).
 */

const GIB = 1024 ** 3;

/** An aligned table: a header row and data rows, columns separated by two spaces, no trailing blanks. */
export function table(header: readonly string[], rawRows: readonly (readonly string[])[]): string {
  // Cells carry what hives report (model ids, device names, URLs): never let one drive the operator's terminal.
  const rows = rawRows.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** `3s ago`, `4m ago`, `2h ago`, `5d ago`; `just now` under a second; `never` without a time. */
export function age(thenMs: number | undefined, nowMs: number): string {
  if (thenMs === undefined || thenMs <= 0) return 'never';
  const seconds = Math.floor((nowMs - thenMs) / 1000);
  if (seconds < 1) return 'just now';
  if (seconds < 120) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/** Bytes as GiB with one decimal: `16.0`. */
export function gib(bytes: number | bigint): string {
  return (Number(bytes) / GIB).toFixed(1);
}

/** A percentage as a whole number: `35%`; `-` when not reported. */
export function percent(value: number | undefined): string {
  return value === undefined ? '-' : `${Math.round(value)}%`;
}

/** Mean GPU load of the workers that report one, or undefined. */
function meanGpu(workers: readonly Worker[]): number | undefined {
  const loads = workers.flatMap((w) => (w.gpuPercent === undefined ? [] : [w.gpuPercent]));
  return loads.length === 0 ? undefined : loads.reduce((a, b) => a + b, 0) / loads.length;
}

function vram(view: HiveView): string {
  const { vramUsedBytes, vramTotalBytes } = view.resources;
  return vramTotalBytes === 0n ? `${gib(vramUsedBytes)} GiB` : `${gib(vramUsedBytes)} / ${gib(vramTotalBytes)} GiB`;
}

function labels(map: Readonly<Record<string, string>>): string {
  const text = Object.keys(map)
    .map((key) => `${key}=${map[key] ?? ''}`)
    .join(',');
  return text === '' ? '-' : text;
}

/**
 * The fleet: one row per hive. When its hives are held by more than one queen (a federation), a QUEEN column says
 * which queen holds each.
 */
export function hivesTable(hives: readonly (HiveView & { readonly queenId?: string })[], nowMs: number): string {
  if (hives.length === 0) return 'no hives in the registry\n';
  const federated = new Set(hives.map((h) => h.queenId ?? '')).size > 1;
  return table(
    ['HIVE', 'STATUS', ...(federated ? ['QUEEN'] : []), 'LAST HEARTBEAT', 'WORKERS', 'IDLE', 'GPU LOAD', 'VRAM USED / TOTAL'],
    hives.map((h) => [
      h.hiveId,
      h.online ? 'online' : 'offline',
      ...(federated ? [h.queenId ?? '-'] : []),
      age(h.lastHeartbeatWallMs, nowMs),
      String(h.workers.length),
      String(h.workers.filter((w) => w.state === 'idle').length),
      percent(meanGpu(h.workers)),
      vram(h),
    ]),
  );
}

/** The worker's device: `cuda:0`, or the backend alone when it reports no GPU index. */
function device(w: Worker): string {
  return w.deviceId === undefined ? w.backend : `${w.backend}:${w.deviceId}`;
}

function workerCells(w: Worker): string[] {
  return [
    w.workerId,
    w.state,
    w.modelId ?? '-',
    engineCell(w),
    device(w),
    percent(w.gpuPercent),
    w.vramBytes === undefined ? '-' : `${gib(w.vramBytes)} GiB`,
    requestsCell(w),
    kvCell(w),
    w.health,
    w.url,
  ];
}

/** GPU is the GPU load; RUN/WAIT the requests the engine runs and queues; KV its KV cache in use. */
const WORKER_HEADER = ['WORKER', 'STATE', 'MODEL', 'ENGINE', 'DEVICE', 'GPU', 'VRAM', 'RUN/WAIT', 'KV', 'HEALTH', 'URL'];

/** Workers across hives; with `showOnline`, a column saying whether each one's hive is online. */
export function workersTable(entries: readonly WorkerEntry[], showOnline: boolean): string {
  if (entries.length === 0) return 'no matching workers\n';
  const header = ['HIVE', ...(showOnline ? ['HIVE STATUS'] : []), ...WORKER_HEADER];
  return table(
    header,
    entries.map((e) => [e.hiveId, ...(showOnline ? [e.hiveOnline ? 'online' : 'offline'] : []), ...workerCells(e.worker)]),
  );
}

/** One hive in full: liveness, resources, devices, catalog labels when known, then its workers. */
export function hiveReport(view: HiveStateView, catalog: CatalogHive | undefined, nowMs: number): string {
  const { resources } = view;
  const idle = view.workers.filter((w) => w.state === 'idle').length;
  const lines = [
    `hive:            ${view.hiveId}`,
    ...(view.queenId === undefined ? [] : [`queen:           ${printable(view.queenId)}`]),
    `status:          ${view.online ? 'online' : 'offline'} (last heartbeat ${age(view.lastHeartbeatWallMs, nowMs)}, sequence ${view.sequence})`,
    `workers:         ${view.workers.length} (${idle} idle)`,
    `vram:            ${gib(resources.vramUsedBytes)} GiB used` +
      (resources.vramTotalBytes === 0n
        ? ' (no devices reported)'
        : ` of ${gib(resources.vramTotalBytes)} GiB, ${gib(resources.vramFreeBytes)} GiB free`),
    `ram:             ${gib(resources.ramUsedBytes)} GiB used` +
      (resources.ramTotalBytes === 0n ? '' : ` of ${gib(resources.ramTotalBytes)} GiB`),
  ];
  if (catalog !== undefined) {
    lines.push(`labels:          ${labels(catalog.labels)}`);
    if (catalog.description !== '') lines.push(`description:     ${catalog.description}`);
    if (catalog.cordoned) lines.push('cordoned:        yes (never picked)');
  }
  let text = lines.join('\n') + '\n';
  if (view.devices.length > 0) {
    text +=
      '\n' +
      table(
        ['DEVICE', 'BACKEND', 'NAME', 'VRAM'],
        view.devices.map((d) => [String(d.deviceId), d.backend, d.name, `${gib(d.vramTotalBytes)} GiB`]),
      );
  }
  text += '\n' + (view.workers.length === 0 ? 'no workers\n' : table(WORKER_HEADER, view.workers.map(workerCells)));
  // Version, context length and status message: too wide for the workers table, one more table when reported.
  const engines = engineRows(view.workers);
  if (engines.length > 0) text += '\n' + table(ENGINE_HEADER, engines);
  return text;
}

/**
 * A span of time for people: `500ms` under a second, whole seconds under two minutes (`30s`, `119s`), then
 * minutes and seconds (`5m`, `2m 30s`).
 */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 120) return `${seconds}s`;
  const rest = seconds % 60;
  return `${Math.floor(seconds / 60)}m${rest === 0 ? '' : ` ${rest}s`}`;
}

/**
 * The scheduling decision and why it was made. With a reservation (`best.reservationId`), also its id, how long
 * it lives (`reservationTtlMs`, what was asked, or the queen's default) and how to release it.
 */
export function bestReport(modelId: string, best: BestWorker, reservationTtlMs?: number): string {
  const { entry, modelLoaded, reservationId } = best;
  const w = entry.worker;
  const why = modelLoaded
    ? `the idle worker with ${modelId} loaded and the lowest load (then KV cache use, then GPU load)`
    : `no idle worker has ${modelId} loaded: the idle worker with the lowest load, to load it on`;
  let text =
    `${entry.hiveId}/${w.workerId}  ${printable(w.url)}\n` +
    `  why:      ${why}\n` +
    `  model:    ${printable(w.modelId ?? '-')}${modelLoaded ? '' : ' (not the one asked for)'}\n` +
    `  load:     GPU ${percent(w.gpuPercent)}, CPU ${percent(w.cpuPercent)}` +
    `${w.vramBytes === undefined ? '' : `, VRAM ${gib(w.vramBytes)} GiB`}` +
    `${w.kvCacheUsage === undefined ? '' : `, KV cache ${kvCell(w)}`}\n` +
    requestsLine(w) +
    // Only when reported: an absent max_concurrency means one slot, which says nothing new.
    (w.maxConcurrency === undefined ? '' : `  slots:    ${w.maxConcurrency} (requests at once)\n`) +
    `  backend:  ${w.backend}${w.deviceId === undefined ? '' : `, device ${w.deviceId}`}\n` +
    engineLines(w);
  if (reservationId !== undefined) {
    const held =
      reservationTtlMs === undefined ? 'held until released or its TTL ends' : `held for ${duration(reservationTtlMs)} unless released`;
    text +=
      `  reserved: ${reservationId} (one slot, ${held})\n` +
      `release it when the request is done: hive-registry release ${reservationId} (with --failed if it failed)\n`;
  }
  return text;
}

/** What `release` says: whether the reservation was still live, and how the request went. */
export function releaseNote(reservationId: string, released: boolean, success: boolean): string {
  if (!released) return `reservation ${reservationId} is unknown or expired: nothing to release\n`;
  return success
    ? `released reservation ${reservationId}\n`
    : `released reservation ${reservationId}, its request reported as failed\n`;
}

/**
 * What `report-failure` says: until when the queen will not pick the worker (by the queen's clock), and roughly
 * how long from now (by this machine's: the round trip has already used a little of it).
 */
export function exclusionNote(workerId: string, excludedUntilMs: number, nowMs: number): string {
  const remainingMs = excludedUntilMs - nowMs;
  // 995 ms left of a 1 s exclusion reads better as "about 1s".
  const about = remainingMs < 500 ? duration(remainingMs) : duration(Math.round(remainingMs / 1_000) * 1_000);
  return `worker ${workerId} is not picked until ${new Date(excludedUntilMs).toISOString()} (in about ${about})\n`;
}

/** Catalog hives: one row each. */
export function catalogTable(hives: readonly CatalogHive[], nowMs: number): string {
  if (hives.length === 0) return 'no hives in the catalog\n';
  return table(
    ['HIVE', 'STATUS', 'LAST SEEN', 'LABELS', 'DESCRIPTION'],
    hives.map((h) => [
      h.hiveId,
      (h.online ? 'online' : 'offline') + (h.cordoned ? ',cordoned' : ''),
      age(h.lastSeenMs, nowMs),
      labels(h.labels),
      h.description.replace(/\s+/g, ' ').slice(0, 60),
    ]),
  );
}

/** One catalog hive in full. */
export function catalogReport(h: CatalogHive, nowMs: number): string {
  const iso = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString());
  return (
    [
      `hive:         ${h.hiveId}`,
      `status:       ${h.online ? 'online' : 'offline'}${h.cordoned ? ', cordoned' : ''}`,
      `labels:       ${labels(h.labels)}`,
      `description:  ${h.description === '' ? '-' : h.description}`,
      `last seen:    ${age(h.lastSeenMs, nowMs)}${h.lastSeenMs === undefined ? '' : ` (${iso(h.lastSeenMs)}) from ${h.lastPeer || '-'}`}`,
      `created:      ${iso(h.createdAtMs)}`,
      `updated:      ${iso(h.updatedAtMs)}`,
    ].join('\n') + '\n'
  );
}

/** What `cordon` and `uncordon` say once the queen has answered. */
export function cordonNote(hiveId: string, cordoned: boolean): string {
  return cordoned
    ? `cordoned hive ${hiveId}: its workers stay listed but are never picked\n`
    : `uncordoned hive ${hiveId}: its workers may be picked again\n`;
}

/** A hive's live tokens: one row each, never the secrets (the queen does not have them). */
export function tokensTable(hiveId: string, tokens: readonly HiveToken[], nowMs: number): string {
  if (tokens.length === 0) return `hive ${hiveId} has no live tokens\n`;
  return table(
    ['TOKEN ID', 'CREATED', 'LAST USED'],
    tokens.map((t) => [t.tokenId, age(t.createdAtMs, nowMs), age(t.lastUsedAtMs, nowMs)]),
  );
}

/** What `catalog issue-token` says on stderr next to the token it prints on stdout. */
export function issuedTokenNote(hiveId: string, tokenId: string): string {
  return (
    `issued token ${tokenId} for hive ${hiveId}. It is shown only once: the queen keeps only its hash.\n` +
    `Store it in a file only the hive's agent can read (chmod 600) and start the agent with --token-file FILE.\n`
  );
}

/**
 * One registry change as one line: revision, type, hive, and for workers their id, state, model, GPU load and
 * health, then the engine's requests (running/waiting) and KV cache when reported.
 */
export function watchLine(u: WatchUpdate): string {
  const head = `${String(u.revision).padStart(6)}  ${u.type.padEnd(15)}`;
  switch (u.type) {
    case 'synced':
      return `${head}  (caught up: live events follow)\n`;
    case 'resync':
      return `${head}  (history too old or queen restarted: a fresh snapshot follows)\n`;
    case 'worker_upserted': {
      const w = u.worker;
      const detail =
        w === undefined
          ? ''
          : `  ${w.state}  ${printable(w.modelId ?? '-')}  GPU ${percent(w.gpuPercent)}  ${w.health}` +
            // The engine's figures change events too: shown when reported, so such an event says what moved.
            `${requestsCell(w) === '-' ? '' : `  requests ${requestsCell(w)}`}${w.kvCacheUsage === undefined ? '' : `  KV ${kvCell(w)}`}`;
      return `${head}  ${u.hiveId}/${u.workerId ?? ''}${detail}\n`;
    }
    case 'worker_removed':
      return `${head}  ${u.hiveId}/${u.workerId ?? ''}\n`;
    default:
      return `${head}  ${u.hiveId}\n`;
  }
}
