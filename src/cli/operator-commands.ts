import { status } from '@grpc/grpc-js';
import { ClientError } from '../client/client-error.js';
import { hiveFromProto, queenFromProto, type CatalogHive } from '../client/proto-to-domain.js';
import { toProtoJson } from '../client/proto-json.js';
import type { RegistryClient } from '../client/registry-client.js';
import type { WorkerEntry } from '../common/worker.js';
import { entryToProto } from '../server/domain-to-proto.js';
import { hiveReport, hivesTable, watchLine, workersTable } from './format.js';
import { type CommandIo, UsageError, printJson, type OutputFlags } from './command-run.js';
import { queensTable } from './queen-format.js';
import { parseBackend } from './command-args.js';

// One entry point for the program and the tests: the commands live in files by concern.
export * from './command-run.js';
export * from './command-args.js';
export * from './scheduling-commands.js';
export * from './catalog-commands.js';

/**
 * The operator commands against a queen, as functions of a client and an output: tables for people, `--json`
 * for scripts (the RPC responses in protobuf JSON form, as grpcurl prints them). Run by `runCommand`, which turns
 * them into the process exit code: 0 success, 1 the queen answered with an error or could not be reached (stderr
 * names the gRPC code), 2 a usage error. Here: `hives`, `hive`, `workers`, `remove-hive`, `watch`, `queens`; the
 * scheduling and catalog commands are in their own files.
 */

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
    printJson(io, { workers: entries.map((e) => toProtoJson(entryToProto(e, e.queenId ?? ''))) });
    return;
  }
  io.out(workersTable(entries, includeOffline));
}

/** `remove-hive ID`: removes a hive from the registry (the catalog keeps it); its stream is ended. */
export async function removeHiveCommand(client: RegistryClient, io: CommandIo, hiveId: string, flags: OutputFlags): Promise<void> {
  const response = await client.registry.removeHive({ hiveId });
  if (flags.json === true) printJson(io, toProtoJson(response));
  else io.out(response.removed ? `removed hive ${hiveId} from the registry\n` : `hive ${hiveId} is not in the registry\n`);
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

/** `queens`: the queens serving the fleet (on a queen of its own, that queen), the one that answered marked. */
export async function queensCommand(client: RegistryClient, io: CommandIo, flags: OutputFlags): Promise<void> {
  const response = await client.registry.listQueens({});
  if (flags.json === true) {
    printJson(io, toProtoJson(response));
    return;
  }
  io.out(queensTable(response.queens.map(queenFromProto), io.nowMs()));
}
