import { addCatalogFileCommands } from './catalog-file-commands.js';
import { Command, Option } from 'commander';
import { createRegistryClient, type RegistryClient } from '../client/registry-client.js';
import { parseDuration } from './config.js';
import { QUEEN_ENV, queensFrom } from './queen-list.js';
import { clientCredentials, type ClientTlsFlags } from './tls-files.js';
import { readTokenFile, TOKEN_FILE_ENV, TokenFileError } from './token-file.js';
import {
  bestCommand,
  catalogDeregisterCommand,
  catalogGetCommand,
  catalogIssueTokenCommand,
  catalogListCommand,
  catalogRegisterCommand,
  catalogRevokeTokenCommand,
  catalogTokensCommand,
  catalogUpdateCommand,
  cordonCommand,
  hiveCommand,
  hivesCommand,
  queensCommand,
  releaseCommand,
  removeHiveCommand,
  reportFailureCommand,
  runCommand,
  UsageError,
  watchCommand,
  workersCommand,
  type BestFlags,
  type CommandIo,
} from './operator-commands.js';

/** Where operator commands find the queen when neither --queen nor the environment says. */
export const DEFAULT_QUEEN = '127.0.0.1:50051';
export { QUEEN_ENV };

/** What every operator command takes. */
interface CommonFlags extends ClientTlsFlags {
  readonly queen?: string;
  readonly json?: boolean;
  readonly timeout?: string;
  readonly tokenFile?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * Registers the operator commands on `root`. `env` is process.env (read here once, by the CLI); `exit` receives
 * each command's exit code.
 */
export function addOperatorCommands(
  root: Command,
  env: Readonly<Record<string, string | undefined>>,
  io: CommandIo,
  exit: (code: number) => void,
): void {
  const command = (name: string, description: string, parent: Command = root): Command =>
    parent
      .command(name)
      .description(description)
      .addOption(
        new Option(
          '--queen <host:port,...>',
          `the queen's address; several queens of one fleet, comma-separated, are tried in order while unreachable (env ${QUEEN_ENV}; default ${DEFAULT_QUEEN})`,
        ),
      )
      .option('--json', 'print the RPC response in protobuf JSON form (as grpcurl does)')
      .option('--timeout <duration>', 'deadline of each call, e.g. 2s (default 5s)')
      .option('--tls-ca <file>', "connect with TLS, verifying the queen's certificate against this PEM CA")
      .option('--tls-cert <file>', 'with --tls-key: a PEM client certificate, for a queen that requires one')
      .option('--tls-key <file>', 'the PEM private key of --tls-cert')
      .option('--token-file <file>', `a file holding the bearer token for a queen with authentication (env ${TOKEN_FILE_ENV})`)
      .allowExcessArguments(false);

  /**
   * The bearer token from --token-file (or the file the environment names), undefined without either. A file
   * that cannot be used is a usage error; one others can read is used, with a warning on stderr (as ssh does).
   */
  const token = (name: string, flags: CommonFlags): string | undefined => {
    const source = flags.tokenFile !== undefined ? '--token-file' : TOKEN_FILE_ENV;
    const path = flags.tokenFile ?? (env[TOKEN_FILE_ENV] || undefined);
    if (path === undefined) return undefined;
    try {
      const read = readTokenFile(path);
      if (read.warning !== undefined) io.err(`hive-registry ${name}: ${read.warning}\n`);
      return read.token;
    } catch (error) {
      if (error instanceof TokenFileError) throw new UsageError(`${source}: ${error.message}`);
      throw error;
    }
  };

  /**
   * Runs `work` with a client for the command's --queen (one queen, or a list the client fails over), then closes
   * it and exits with the command's code.
   */
  const action =
    <A extends unknown[]>(name: string, work: (client: RegistryClient, ...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      // commander passes the positional arguments, then the options object, then the command.
      const flags = args[args.length - 2] as CommonFlags;
      let client: RegistryClient | undefined;
      const code = await runCommand(name, io, async () => {
        const queens = queensFrom(flags.queen, env, DEFAULT_QUEEN);
        if (!queens.ok) throw new UsageError(queens.problems.join('; '));
        const deadlineMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout);
        if (flags.timeout !== undefined && (deadlineMs === undefined || deadlineMs <= 0)) {
          throw new UsageError(`--timeout: must be a duration such as 500ms or 5s, got ${JSON.stringify(flags.timeout)}`);
        }
        const problems: string[] = [];
        const credentials = clientCredentials(flags, problems);
        if (credentials === undefined) throw new UsageError(problems.join('; '));
        const bearer = token(name, flags);
        client = createRegistryClient(queens.queens, {
          credentials,
          ...(deadlineMs === undefined ? {} : { deadlineMs }),
          ...(bearer === undefined ? {} : { token: bearer }),
        });
        await work(client, ...args);
      });
      client?.close();
      exit(code);
    };

  command('hives', 'list every hive: online or offline, last heartbeat, workers, GPU load, VRAM').action(
    action('hives', (client, flags: CommonFlags) => hivesCommand(client, io, flags)),
  );

  command('hive', 'one hive in full: liveness, resources, devices, labels and workers')
    .argument('<hive-id>')
    .action(action('hive', (client, hiveId: string, flags: CommonFlags) => hiveCommand(client, io, hiveId, flags)));

  command('workers', "list workers of online hives (with --all, offline hives' too)")
    .option('--model <model-id>', 'only workers with this model loaded')
    .option('--backend <backend>', 'only workers on this backend: cpu, cuda, metal or rocm')
    .option('--idle', 'only idle workers')
    .option('--all', 'include workers of offline hives')
    .action(action('workers', (client, flags: CommonFlags) => workersCommand(client, io, flags)));

  command('best', 'the worker the queen picks for a model now, and why; with --reserve, hold one of its slots')
    .requiredOption('--model <model-id>', 'the model to serve')
    .option('--reserve', "hold one of the worker's slots until `release` or the TTL; prints the reservation id")
    .option('--ttl <duration>', 'with --reserve: how long the reservation lives unreleased, e.g. 2m (default 30s, at most 10m)')
    .option('--min-vram <bytes>', 'pick a worker without the model only if its device has this much VRAM free, e.g. 20GiB')
    .option('--selector <k=v,...>', 'only workers of hives with all these catalog labels (repeatable)', collect)
    .action(
      action('best', (client, flags: CommonFlags & BestFlags & { model: string }) => bestCommand(client, io, flags.model, flags)),
    );

  command('release', 'end a reservation from best --reserve, freeing its slot')
    .argument('<reservation-id>')
    .option('--failed', 'the request served under it failed (default: it succeeded, which clears the worker of past failures)')
    .action(
      action('release', (client, reservationId: string, flags: CommonFlags & { failed?: boolean }) =>
        releaseCommand(client, io, reservationId, flags),
      ),
    );

  command('report-failure', 'a request to a worker failed: the queen stops picking it for a while (1s, doubling)')
    .argument('<worker-id>')
    .option('--reason <text>', "what went wrong, for the queen's log")
    .action(
      action('report-failure', (client, workerId: string, flags: CommonFlags & { reason?: string }) =>
        reportFailureCommand(client, io, workerId, flags),
      ),
    );

  command('remove-hive', 'remove a hive from the registry and end its stream (the catalog keeps it)')
    .argument('<hive-id>')
    .action(
      action('remove-hive', (client, hiveId: string, flags: CommonFlags) => removeHiveCommand(client, io, hiveId, flags)),
    );

  command('cordon', "stop the scheduler picking a hive's workers (they stay listed); kept across queen restarts")
    .argument('<hive-id>')
    .action(
      action('cordon', (client, hiveId: string, flags: CommonFlags) => cordonCommand(client, io, hiveId, true, flags)),
    );

  command('uncordon', "let the scheduler pick a cordoned hive's workers again")
    .argument('<hive-id>')
    .action(
      action('uncordon', (client, hiveId: string, flags: CommonFlags) => cordonCommand(client, io, hiveId, false, flags)),
    );

  command('watch', 'print registry changes as they happen, one line each (Ctrl-C ends)')
    .option('--hive <hive-id>', "only this hive's events")
    .option('--hives-only', 'no worker events')
    .option('--load-change-threshold <points>', 'skip changes of only CPU/GPU load smaller than this (default 0)')
    .action(
      action('watch', (client, flags: CommonFlags & { hive?: string; hivesOnly?: boolean; loadChangeThreshold?: string }) =>
        watchCommand(client, io, flags),
      ),
    );

  command('queens', 'list the queens serving the fleet: id, address, HTTP listener, when each started, online hives').action(
    action('queens', (client, flags: CommonFlags) => queensCommand(client, io, flags)),
  );

  const catalog = root
    .command('catalog')
    .description(
      'the durable catalog of hives: list, get, register, update, deregister; hive tokens: issue-token, revoke-token, tokens; the catalog file itself: export, import',
    );
  const sub = (name: string, description: string): Command => command(name, description, catalog);
  addCatalogFileCommands(catalog, env, io, exit);
  sub('list', 'list catalog hives, optionally by label')
    .option('--selector <k=v,...>', 'only hives with all these labels (repeatable)', collect)
    .action(
      action('catalog list', (client, flags: CommonFlags & { selector?: string[] }) =>
        catalogListCommand(client, io, flags),
      ),
    );
  sub('get', 'one catalog hive in full')
    .argument('<hive-id>')
    .action(action('catalog get', (client, hiveId: string, flags: CommonFlags) => catalogGetCommand(client, io, hiveId, flags)));
  sub('register', 'add a hive to the catalog')
    .argument('<hive-id>')
    .option('--label <key=value>', 'a label (repeatable, or comma-separated)', collect)
    .option('--description <text>', 'free text for operators')
    .action(
      action('catalog register', (client, hiveId: string, flags: CommonFlags & { label?: string[]; description?: string }) =>
        catalogRegisterCommand(client, io, hiveId, flags),
      ),
    );
  sub('update', "change a hive's labels (the whole set) or description")
    .argument('<hive-id>')
    .option('--label <key=value>', 'the new labels (repeatable, or comma-separated); replaces all labels', collect)
    .option('--clear-labels', 'remove every label')
    .option('--description <text>', "the new description ('' clears it)")
    .action(
      action(
        'catalog update',
        (client, hiveId: string, flags: CommonFlags & { label?: string[]; description?: string; clearLabels?: boolean }) =>
          catalogUpdateCommand(client, io, hiveId, flags),
      ),
    );
  sub('deregister', 'remove a hive from the catalog and the registry, ending its stream')
    .argument('<hive-id>')
    .action(
      action('catalog deregister', (client, hiveId: string, flags: CommonFlags) =>
        catalogDeregisterCommand(client, io, hiveId, flags),
      ),
    );
  sub('issue-token', "issue a token for a hive's agent: printed once, alone on stdout (> hive.token)")
    .argument('<hive-id>')
    .action(
      action('catalog issue-token', (client, hiveId: string, flags: CommonFlags) =>
        catalogIssueTokenCommand(client, io, hiveId, flags),
      ),
    );
  sub('revoke-token', "revoke one of a hive's tokens, ending a stream opened with it")
    .argument('<hive-id>')
    .argument('<token-id>')
    .action(
      action('catalog revoke-token', (client, hiveId: string, tokenId: string, flags: CommonFlags) =>
        catalogRevokeTokenCommand(client, io, hiveId, tokenId, flags),
      ),
    );
  sub('tokens', "list a hive's live tokens: ids and when each was issued and last used")
    .argument('<hive-id>')
    .action(
      action('catalog tokens', (client, hiveId: string, flags: CommonFlags) => catalogTokensCommand(client, io, hiveId, flags)),
    );
}
