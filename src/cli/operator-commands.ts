import type { JsonValue } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { checkLabels, type Labels } from '../catalog/labels.js';
import { ClientError } from '../client/client-error.js';
import { hiveFromProto, type CatalogHive } from '../client/proto-to-domain.js';
import { toProtoJson } from '../client/proto-json.js';
import {
  findBestWorkerRequest,
  updateHiveRequest,
  type FindBestWorkerOptions,
  type RegistryClient,
} from '../client/registry-client.js';
import type { Backend, WorkerEntry } from '../common/worker.js';
import { entryToProto } from '../server/domain-to-proto.js';
import { DEFAULT_RESERVATION_TTL_MS } from '../server/registry-service.js';
import { parseDuration } from './config.js';
import {
  bestReport,
  catalogReport,
  catalogTable,
  cordonNote,
  exclusionNote,
  hiveReport,
  hivesTable,
  issuedTokenNote,
  releaseNote,
  tokensTable,
  watchLine,
  workersTable,
} from './format.js';

/**
 * The operator commands (`hives`, `hive`, `workers`, `best`, `release`, `report-failure`, `remove-hive`, `cordon`,
 * `uncordon`, `watch`, `catalog ...`) against a queen, as
 * functions of a client and an output: tables for people, `--json` for scripts (the RPC responses in protobuf
 * JSON form, as grpcurl prints them). Each returns the process exit code: 0 success, 1 the queen answered with
 * an error or could not be reached (stderr names the gRPC code), 2 a usage error.
 */

export const EXIT_OK = 0;
export const EXIT_QUEEN = 1;
export const EXIT_USAGE = 2;

/** Where a command writes, and what time it is (injected so output is reproducible). */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  nowMs(): number;
}

/** A command line the user got wrong: exit 2 with this message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const BACKENDS: readonly Backend[] = ['cpu', 'cuda', 'metal', 'rocm'];

function printJson(io: CommandIo, value: JsonValue): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Parses `k=v` pairs (from repeated flags and/or comma-separated lists) into labels, checked like the queen does. */
export function parseLabels(flag: string, pairs: readonly string[]): Labels {
  const labels: Record<string, string> = {};
  for (const item of pairs.flatMap((p) => p.split(',')).filter((p) => p !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag}: expected KEY=VALUE, got ${JSON.stringify(item)}`);
    const key = item.slice(0, eq);
    if (Object.prototype.hasOwnProperty.call(labels, key)) {
      throw new UsageError(`${flag}: key ${JSON.stringify(key)} given twice`);
    }
    Object.defineProperty(labels, key, { value: item.slice(eq + 1), enumerable: true, writable: true });
  }
  const problem = checkLabels(flag, labels);
  if (problem !== undefined) throw new UsageError(problem);
  return labels;
}

const BYTE_SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i;
const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parses a byte count: a whole number (`21474836480`), or a number with a unit, decimal (`80GB`, `1.5TB`) or
 * binary (`20GiB`, `512MiB`), case-insensitive, rounded to whole bytes. UsageError naming `flag` otherwise, or
 * past 2^53 - 1 bytes (where numbers stop being exact).
 */
export function parseByteSize(flag: string, text: string): number {
  const match = BYTE_SIZE.exec(text.trim());
  let bytes = Number.NaN;
  if (match !== null) {
    const [, amount = '', unit = 'b'] = match;
    const scale = UNIT_BYTES[unit.toLowerCase()] ?? Number.NaN;
    // A fraction of a byte is a typo, not a size; a fraction of a larger unit is rounded to whole bytes.
    if (scale > 1 || !amount.includes('.')) bytes = Math.round(Number(amount) * scale);
  }
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `${flag}: must be a number of bytes such as 21474836480, 20GiB, 512MiB or 80GB (at most ${Number.MAX_SAFE_INTEGER}), got ${JSON.stringify(text)}`,
    );
  }
  return bytes;
}

export function parseBackend(value: string): Backend {
  const backend = value.toLowerCase() as Backend;
  if (!BACKENDS.includes(backend)) {
    throw new UsageError(`--backend: must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return backend;
}

/**
 * Runs `work` and turns its failures into exit codes: a ClientError (the queen's answer, or no answer) is 1 with
 * the gRPC code on stderr; a UsageError is 2.
 */
export async function runCommand(name: string, io: CommandIo, work: () => Promise<void>): Promise<number> {
  try {
    await work();
    return EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`hive-registry ${name}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ClientError) {
      // grpc-js's own words when no connection could be made (the queen's UNAVAILABLE answers say why instead).
      const unreached =
        error.code === status.DEADLINE_EXCEEDED ||
        (error.code === status.UNAVAILABLE && /^(No connection established|Connection dropped|failed to connect)/i.test(error.details));
      const hint = unreached ? ' (is the queen running at that address? see --queen)' : '';
      io.err(`hive-registry ${name}: ${error.codeName}: ${error.details}${hint}\n`);
      return EXIT_QUEEN;
    }
    throw error;
  }
}

export interface OutputFlags {
  readonly json?: boolean;
}

/** `hives`: every hive in the registry with its liveness, worker counts, GPU load and VRAM. */
export async function hivesCommand(client: RegistryClient, io: CommandIo, flags: OutputFlags): Promise<void> {
  const ids = (await client.registry.listAllHives({})).hiveIds;
  // A hive evicted between the two calls is simply left out.
  const states = (
    await Promise.all(
      ids.map((hiveId) =>
        client.registry.getHiveState({ hiveId }).catch((error: unknown) => {
          if (error instanceof ClientError && error.code === status.NOT_FOUND) return undefined;
          throw error;
        }),
      ),
    )
  ).flatMap((response) => (response?.hive === undefined ? [] : [response.hive]));
  if (flags.json === true) {
    printJson(io, { hives: states.map((hive) => toProtoJson(hive)) });
    return;
  }
  io.out(hivesTable(states.map(hiveFromProto), io.nowMs()));
}

/** `hive ID`: one hive in full, with its catalog labels when the catalog knows it. */
export async function hiveCommand(client: RegistryClient, io: CommandIo, hiveId: string, flags: OutputFlags): Promise<void> {
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.registry.getHiveState({ hiveId })));
    return;
  }
  const view = await client.getHiveState(hiveId);
  let catalog: CatalogHive | undefined;
  try {
    catalog = await client.getCatalogHive(hiveId);
  } catch (error) {
    if (!(error instanceof ClientError && error.code === status.NOT_FOUND)) throw error;
  }
  io.out(hiveReport(view, catalog, io.nowMs()));
}

export interface WorkersFlags extends OutputFlags {
  readonly model?: string;
  readonly backend?: string;
  readonly idle?: boolean;
  /** Include workers of offline hives. */
  readonly all?: boolean;
}

/**
 * `workers`: the queen answers the most selective filter given (model, then backend, then idle, else every
 * worker); the others are applied to its answer. Offline hives' workers only with --all.
 */
export async function workersCommand(client: RegistryClient, io: CommandIo, flags: WorkersFlags): Promise<void> {
  const backend = flags.backend === undefined ? undefined : parseBackend(flags.backend);
  const includeOffline = flags.all === true;
  let entries: WorkerEntry[];
  if (flags.model !== undefined) entries = await client.findWorkersByModel(flags.model, { includeOffline });
  else if (backend !== undefined) entries = await client.findWorkersByBackend(backend, { includeOffline });
  else if (flags.idle === true) entries = await client.findIdleWorkers({ includeOffline });
  else entries = (await client.listAllWorkers()).filter((e) => includeOffline || e.hiveOnline);
  entries = entries.filter(
    (e) => (backend === undefined || e.worker.backend === backend) && (flags.idle !== true || e.worker.state === 'idle'),
  );
  if (flags.json === true) {
    printJson(io, { workers: entries.map((e) => toProtoJson(entryToProto(e))) });
    return;
  }
  io.out(workersTable(entries, includeOffline));
}

export interface BestFlags extends OutputFlags {
  /** Hold a slot of the picked worker. */
  readonly reserve?: boolean;
  /** With `reserve`: the reservation's TTL, a duration such as `2m`. */
  readonly ttl?: string;
  /** A byte count such as `20GiB` (see parseByteSize). */
  readonly minVram?: string;
  /** `k=v` pairs, as `catalog list --selector`. */
  readonly selector?: readonly string[];
}

/** The pick options `best`'s flags ask for; UsageError listing every problem. */
export function bestOptions(flags: BestFlags): FindBestWorkerOptions {
  const problems: string[] = [];
  const check = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      problems.push(error.message);
      return undefined;
    }
  };
  let reservationTtlMs: number | undefined;
  if (flags.ttl !== undefined) {
    reservationTtlMs = parseDuration(flags.ttl);
    if (reservationTtlMs === undefined || reservationTtlMs <= 0) {
      problems.push(`--ttl: must be a duration such as 30s or 2m, got ${JSON.stringify(flags.ttl)}`);
    }
    // A TTL alone would reserve nothing: say so rather than quietly ignore it.
    if (flags.reserve !== true) problems.push('--ttl: only with --reserve');
  }
  const minVramBytes = flags.minVram === undefined ? undefined : check(() => parseByteSize('--min-vram', flags.minVram ?? ''));
  const selector = check(() => parseLabels('--selector', flags.selector ?? []));
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return {
    reserve: flags.reserve === true,
    ...(reservationTtlMs === undefined ? {} : { reservationTtlMs }),
    ...(minVramBytes === undefined ? {} : { minVramBytes }),
    ...(selector === undefined ? {} : { selector }),
  };
}

/**
 * `best --model M [--reserve [--ttl D]] [--min-vram BYTES] [--selector k=v,...]`: the scheduling decision and
 * why; with --reserve, the reservation held and how to release it.
 */
export async function bestCommand(client: RegistryClient, io: CommandIo, modelId: string, flags: BestFlags): Promise<void> {
  const options = bestOptions(flags);
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.registry.findBestWorkerForModel(findBestWorkerRequest(modelId, options))));
    return;
  }
  const best = await client.findBestWorkerForModel(modelId, options);
  io.out(bestReport(modelId, best, best.reservationId === undefined ? undefined : (options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS)));
}

/**
 * `release RESERVATION-ID [--failed]`: ends a reservation from `best --reserve`. Exit 0 whether or not it was
 * still live (as deregister does); INVALID_ARGUMENT (exit 1) for an id the queen could never have issued.
 */
export async function releaseCommand(
  client: RegistryClient,
  io: CommandIo,
  reservationId: string,
  flags: OutputFlags & { readonly failed?: boolean },
): Promise<void> {
  const success = flags.failed !== true;
  const response = await client.registry.releaseWorker({ reservationId, success });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(releaseNote(reservationId, response.released, success));
}

/**
 * `report-failure WORKER-ID [--reason TEXT]`: the queen stops picking the worker for a while (1 s, doubling with
 * each failure in a row); prints until when. NOT_FOUND (exit 1) for an unknown worker.
 */
export async function reportFailureCommand(
  client: RegistryClient,
  io: CommandIo,
  workerId: string,
  flags: OutputFlags & { readonly reason?: string },
): Promise<void> {
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.registry.reportWorkerFailure({ workerId, reason: flags.reason ?? '' })));
    return;
  }
  const { excludedUntilMs } = await client.reportWorkerFailure(workerId, flags.reason);
  io.out(exclusionNote(workerId, excludedUntilMs, io.nowMs()));
}

/** `remove-hive ID`: removes a hive from the registry (the catalog keeps it); its stream is ended. */
export async function removeHiveCommand(client: RegistryClient, io: CommandIo, hiveId: string, flags: OutputFlags): Promise<void> {
  const response = await client.registry.removeHive({ hiveId });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(response.removed ? `removed hive ${hiveId} from the registry\n` : `hive ${hiveId} is not in the registry\n`);
}

/**
 * `cordon ID` (`cordoned` true) and `uncordon ID`: the scheduler never picks a cordoned hive's workers, which stay
 * listed. Exit 0 also when the hive already was in that state; NOT_FOUND (exit 1) for a hive not in the catalog.
 */
export async function cordonCommand(
  client: RegistryClient,
  io: CommandIo,
  hiveId: string,
  cordoned: boolean,
  flags: OutputFlags,
): Promise<void> {
  const response = cordoned ? await client.catalog.cordonHive({ hiveId }) : await client.catalog.uncordonHive({ hiveId });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(cordonNote(hiveId, cordoned));
}

/** `catalog list [--selector k=v,...]`. */
export async function catalogListCommand(
  client: RegistryClient,
  io: CommandIo,
  flags: OutputFlags & { readonly selector?: readonly string[] },
): Promise<void> {
  const selector = parseLabels('--selector', flags.selector ?? []);
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.catalog.listCatalogHives({ selector: { ...selector } })));
    return;
  }
  io.out(catalogTable(await client.listCatalogHives(selector), io.nowMs()));
}

/** `catalog get ID`. */
export async function catalogGetCommand(client: RegistryClient, io: CommandIo, hiveId: string, flags: OutputFlags): Promise<void> {
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.catalog.getCatalogHive({ hiveId })));
    return;
  }
  io.out(catalogReport(await client.getCatalogHive(hiveId), io.nowMs()));
}

export interface CatalogWriteFlags extends OutputFlags {
  readonly label?: readonly string[];
  readonly description?: string;
  readonly clearLabels?: boolean;
}

/** `catalog register ID [--label k=v]... [--description TEXT]`. */
export async function catalogRegisterCommand(
  client: RegistryClient,
  io: CommandIo,
  hiveId: string,
  flags: CatalogWriteFlags,
): Promise<void> {
  const labels = parseLabels('--label', flags.label ?? []);
  const response = await client.catalog.registerHive({ hiveId, labels: { ...labels }, description: flags.description ?? '' });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(`registered hive ${hiveId}\n`);
}

/**
 * `catalog update ID [--label k=v]... [--clear-labels] [--description TEXT]`: labels given (or cleared) replace
 * the whole set; a description given replaces the text (`--description ''` clears it).
 */
export async function catalogUpdateCommand(
  client: RegistryClient,
  io: CommandIo,
  hiveId: string,
  flags: CatalogWriteFlags,
): Promise<void> {
  const given = (flags.label ?? []).length > 0;
  if (given && flags.clearLabels === true) throw new UsageError('--label and --clear-labels exclude each other');
  const patch = {
    ...(given || flags.clearLabels === true ? { labels: parseLabels('--label', flags.label ?? []) } : {}),
    ...(flags.description === undefined ? {} : { description: flags.description }),
  };
  if (patch.labels === undefined && patch.description === undefined) {
    throw new UsageError('nothing to update: give --label KEY=VALUE (repeatable), --clear-labels or --description TEXT');
  }
  const response = await client.catalog.updateHive(updateHiveRequest(hiveId, patch));
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(`updated hive ${hiveId}\n`);
}

/** `catalog deregister ID`: removes the hive from the catalog and the registry, ending its stream. */
export async function catalogDeregisterCommand(
  client: RegistryClient,
  io: CommandIo,
  hiveId: string,
  flags: OutputFlags,
): Promise<void> {
  const response = await client.catalog.deregisterHive({ hiveId });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(response.removed ? `deregistered hive ${hiveId}\n` : `hive ${hiveId} is not in the catalog\n`);
}

/**
 * `catalog issue-token ID`: the new token alone on stdout (so `> hive.token` makes a token file), and on stderr
 * its id and that it is shown only once. With --json, the IssueHiveTokenResponse (token included).
 */
export async function catalogIssueTokenCommand(
  client: RegistryClient,
  io: CommandIo,
  hiveId: string,
  flags: OutputFlags,
): Promise<void> {
  const response = await client.catalog.issueHiveToken({ hiveId });
  if (flags.json === true) {
    printJson(io, toProtoJson(response));
    return;
  }
  io.out(`${response.token}\n`);
  io.err(issuedTokenNote(hiveId, response.tokenId));
}

/** `catalog revoke-token ID TOKEN-ID`: exit 0 whether or not the token was live (as deregister does). */
export async function catalogRevokeTokenCommand(
  client: RegistryClient,
  io: CommandIo,
  hiveId: string,
  tokenId: string,
  flags: OutputFlags,
): Promise<void> {
  const response = await client.catalog.revokeHiveToken({ hiveId, tokenId });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(response.revoked ? `revoked token ${tokenId} of hive ${hiveId}\n` : `hive ${hiveId} has no live token ${tokenId}\n`);
}

/** `catalog tokens ID`: the hive's live tokens (ids and times, never secrets). */
export async function catalogTokensCommand(client: RegistryClient, io: CommandIo, hiveId: string, flags: OutputFlags): Promise<void> {
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.catalog.listHiveTokens({ hiveId })));
    return;
  }
  io.out(tokensTable(hiveId, await client.listHiveTokens(hiveId), io.nowMs()));
}

export interface WatchFlags extends OutputFlags {
  readonly hive?: string;
  readonly hivesOnly?: boolean;
  readonly loadChangeThreshold?: string;
}

/**
 * `watch`: one line per registry change (with --json, one WatchEvent per line in protobuf JSON form) until
 * interrupted or `signal` aborts; resumes by itself after the queen restarts.
 */
export async function watchCommand(
  client: RegistryClient,
  io: CommandIo,
  flags: WatchFlags,
  signal?: AbortSignal,
): Promise<void> {
  const threshold = flags.loadChangeThreshold === undefined ? 0 : Number(flags.loadChangeThreshold);
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) {
    throw new UsageError(`--load-change-threshold: must be 0 to 100 points, got ${JSON.stringify(flags.loadChangeThreshold)}`);
  }
  const options = {
    ...(flags.hive === undefined ? {} : { hiveId: flags.hive }),
    hivesOnly: flags.hivesOnly === true,
    loadChangeThreshold: threshold,
    ...(signal === undefined ? {} : { signal }),
  };
  if (flags.json === true) {
    for await (const event of client.watchEvents(options)) io.out(`${JSON.stringify(toProtoJson(event))}\n`);
    return;
  }
  for await (const update of client.watch(options)) io.out(watchLine(update));
}
