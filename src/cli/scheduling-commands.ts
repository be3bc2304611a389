import { toProtoJson } from '../client/proto-json.js';
import { findBestWorkerRequest, type FindBestWorkerOptions, type RegistryClient } from '../client/registry-client.js';
import { DEFAULT_RESERVATION_TTL_MS } from '../server/registry-service.js';
import { parseDuration } from './config.js';
import { bestReport, cordonNote, exclusionNote, releaseNote } from './format.js';
import { printJson, UsageError, type CommandIo, type OutputFlags } from './command-run.js';
import { parseLabels, parseByteSize } from './command-args.js';

/** The scheduling commands: `best`, `release`, `report-failure`, `cordon`, `uncordon`. */

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
