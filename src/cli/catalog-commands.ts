import { toProtoJson } from '../client/proto-json.js';
import { updateHiveRequest, type RegistryClient } from '../client/registry-client.js';
import { catalogReport, catalogTable, issuedTokenNote, tokensTable } from './format.js';
import { printJson, UsageError, type CommandIo, type OutputFlags } from './command-run.js';
import { parseLabels } from './command-args.js';

/** The catalog commands: `catalog list|get|register|update|deregister|issue-token|revoke-token|tokens`. */

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
