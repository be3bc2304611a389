import type { JsonValue } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { checkLabels, type Labels } from '../catalog/labels.js';
import { ClientError } from '../client/client-error.js';
import { hiveFromProto, type CatalogHive } from '../client/proto-to-domain.js';
import { toProtoJson } from '../client/proto-json.js';
import { updateHiveRequest, type RegistryClient } from '../client/registry-client.js';
import type { Backend, WorkerEntry } from '../common/worker.js';
import { entryToProto } from '../server/domain-to-proto.js';
import {
  bestReport,
  catalogReport,
  catalogTable,
  hiveReport,
  hivesTable,
  issuedTokenNote,
  tokensTable,
  watchLine,
  workersTable,
} from './format.js';

/**
 * The operator commands (`hives`, `hive`, `workers`, `best`, `remove-hive`, `watch`, `catalog ...`) against a queen, as
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

/** `best --model M`: the scheduling decision and why. */
export async function bestCommand(client: RegistryClient, io: CommandIo, modelId: string, flags: OutputFlags): Promise<void> {
  if (flags.json === true) {
    printJson(io, toProtoJson(await client.registry.findBestWorkerForModel({ modelId })));
    return;
  }
  io.out(bestReport(modelId, await client.findBestWorkerForModel(modelId)));
}

/** `remove-hive ID`: removes a hive from the registry (the catalog keeps it); its stream is ended. */
export async function removeHiveCommand(client: RegistryClient, io: CommandIo, hiveId: string, flags: OutputFlags): Promise<void> {
  const response = await client.registry.removeHive({ hiveId });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(response.removed ? `removed hive ${hiveId} from the registry\n` : `hive ${hiveId} is not in the registry\n`);
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
