#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { CatalogOpenError } from '../catalog/catalog-store.js';
import { QueenIdentityError, QueenIdTakenError, QueenServer } from '../server/queen-server.js';
import { readFileSync } from 'node:fs';
import { AuthFileError, parseAuthFile, type Caller } from '../server/callers.js';
import { LOG_LEVELS, SETTINGS, buildServeConfig, exposedListeners, exposureGaps, exposureRisk } from './config.js';
import { MAX_CONCURRENCY } from '../common/worker.js';
import { DEFAULT_CHUNK_DELAY_MS, DEFAULT_FIRST_BYTE_DELAY_MS, DEFAULT_MAX_CONCURRENCY } from '../simulator/simulated-inference.js';
import { PREFIX_HIT_DELAY_DIVISOR, PREFIX_KEY_BYTES, PREFIX_MEMORY_REQUESTS } from '../simulator/prefix-memory.js';
import { buildAgentConfig, DEFAULT_INFERENCE_LISTEN, runAgent, WorkersFileError, type AgentFlags } from './agent-command.js';
import { runDemo } from './demo.js';
import { EngineSpecError } from '../agent/engines/engine-spec.js';
import { ADVERTISE_HOST_ENV, DEFAULT_POLL_INTERVAL_MS, DEFAULT_POLL_TIMEOUT_MS, GPU_STATS_CHOICES } from './engine-flags.js';
import { createLogger } from './logger.js';
import { packageVersion } from './package-version.js';
import { etcdTls, serverTls } from './tls-files.js';
import { TOKEN_FILE_ENV } from './token-file.js';
import type { CommandIo } from './operator-commands.js';
import { DEFAULT_QUEEN, QUEEN_ENV } from './operator-program.js';
import { addOperatorCommands } from './operator-program.js';

/** Exit code for a bad command line (flags or environment). */
const EXIT_USAGE = 2;

/** The callers of the auth file at `path`; AuthFileError (exit 2) when it cannot be read or is malformed. */
function readAuthFile(path: string): Caller[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new AuthFileError(`--auth-file ${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return parseAuthFile(text, `--auth-file ${path}`);
}

async function serve(flags: Record<string, string | undefined>): Promise<void> {
  const parsed = buildServeConfig(flags, process.env);
  if (!parsed.ok) {
    process.stderr.write(`hive-registry serve: bad configuration\n${parsed.problems.map((p) => `  - ${p}\n`).join('')}`);
    process.exit(EXIT_USAGE);
  }
  const problems: string[] = [];
  const tls = serverTls(parsed.config, problems);
  const etcdTlsFiles = etcdTls(parsed.config, problems);
  let callers: Caller[] | undefined;
  try {
    if (parsed.config.authFilePath !== '') callers = readAuthFile(parsed.config.authFilePath);
  } catch (error) {
    if (!(error instanceof AuthFileError)) throw error;
    problems.push(error.message);
  }
  if (problems.length > 0) {
    process.stderr.write(`hive-registry serve: bad configuration\n${problems.map((p) => `  - ${p}\n`).join('')}`);
    process.exit(EXIT_USAGE);
  }
  const { etcdEndpoints, etcdPrefix, etcdLeaseTtlMs, etcdTimeoutMs } = parsed.config;
  const etcd =
    etcdEndpoints.length === 0
      ? undefined
      : {
          endpoints: etcdEndpoints,
          prefix: etcdPrefix,
          leaseTtlMs: etcdLeaseTtlMs,
          timeoutMs: etcdTimeoutMs,
          ...(etcdTlsFiles === undefined ? {} : { tls: etcdTlsFiles }),
        };
  const config = {
    ...parsed.config,
    ...(tls === undefined ? {} : { tls }),
    ...(callers === undefined ? {} : { callers }),
    ...(etcd === undefined ? {} : { etcd }),
  };
  const logger = createLogger(config.logLevel);
  const gaps = exposureGaps(config);
  for (const { flag, address } of gaps.length > 0 ? exposedListeners(config) : []) {
    // Only reachable with --insecure (buildServeConfig refuses otherwise): say it at every start.
    logger.warn(
      { component: 'server', listen: address, missing: gaps },
      `--insecure: ${flag} listening beyond loopback without ${gaps.join(' and without ')}; anyone who can reach this address can ${exposureRisk(flag, gaps)}`,
    );
  }
  // Signal handlers go in before the server starts, so a signal during startup still drains cleanly.
  let starting: Promise<QueenServer | undefined> | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ component: 'server', signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    logger.info({ component: 'server', signal }, 'shutting down');
    // Last resort if draining itself hangs: the process must not outlive its drain budget by much.
    setTimeout(() => process.exit(1), config.drainTimeoutMs + 5_000).unref();
    void (starting ?? Promise.resolve(undefined))
      .then((server) => server?.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ component: 'server', err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP re-reads the auth file (adding or removing callers without a restart); a bad file keeps the old one.
  process.on('SIGHUP', () => {
    if (config.authFilePath === '') {
      logger.warn({ component: 'auth' }, 'SIGHUP: auth is off (no --auth-file); nothing to reload');
      return;
    }
    void (starting ?? Promise.resolve(undefined)).then((server) => {
      try {
        server?.reloadCallers(readAuthFile(config.authFilePath));
      } catch (error) {
        logger.error({ component: 'auth', err: error }, 'auth file not reloaded: the previous callers stay in force');
      }
    });
  });
  starting = QueenServer.start(config, logger).catch((error: unknown) => {
    if (error instanceof CatalogOpenError) {
      // A configuration problem, like a bad flag: say which file, exit 2.
      logger.fatal({ component: 'catalog', db: error.path }, error.message);
      process.stderr.write(`hive-registry serve: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    // A bad --queen-id, or one a live queen of the federation holds (two queens configured alike): exit 2 naming it.
    if (error instanceof QueenIdentityError || error instanceof QueenIdTakenError) {
      logger.fatal({ component: 'server' }, error.message);
      process.stderr.write(`hive-registry serve: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    logger.fatal({ component: 'server', err: error, listen: config.listen }, 'cannot start');
    process.exit(1);
  });
  await starting;
}

/** Where commands write: stdout and stderr, and the wall clock. */
const consoleIo: CommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  nowMs: () => Date.now(),
};

/** Commander's collector for a repeatable option. */
const collectValues = (value: string, previous: string[] = []): string[] => [...previous, value];

async function agent(flags: AgentFlags): Promise<void> {
  const parsed = buildAgentConfig(flags, process.env, DEFAULT_QUEEN);
  if (!parsed.ok) {
    process.stderr.write(`hive-registry agent: bad configuration\n${parsed.problems.map((p) => `  - ${p}\n`).join('')}`);
    process.exit(EXIT_USAGE);
  }
  const logger = createLogger(parsed.config.logLevel);
  let stopping: Promise<void> | undefined;
  let stopAgent: (() => Promise<void>) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== undefined) process.exit(1);
    logger.info({ component: 'agent', signal }, 'stopping: half-closing the heartbeat stream');
    stopping = stopAgent?.() ?? Promise.resolve();
    void stopping.then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    process.exitCode = await runAgent(parsed.config, logger, (stop) => {
      stopAgent = stop;
    });
  } catch (error) {
    if (error instanceof WorkersFileError || error instanceof EngineSpecError) {
      process.stderr.write(`hive-registry agent: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

function program(): Command {
  const root = new Command('hive-registry')
    .description('Control plane for a fleet of LLM inference machines: the queen\'s registry and scheduler.')
    .version(packageVersion() ?? 'unknown')
    .exitOverride()
    .showHelpAfterError();
  const serveCommand = root
    .command('serve', { isDefault: false })
    .description('run the queen: the hive.v1.HiveRegistry and hive.v1.HiveCatalog gRPC services, with health and reflection')
    .allowExcessArguments(false);
  const attributes = new Map<string, string>();
  for (const setting of SETTINGS) {
    const option =
      setting.kind === 'switch'
        ? // A switch takes no value: present means 'true' (the environment variable takes true or false).
          new Option(`--${setting.flag}`, `${setting.help} (env ${setting.env}=true)`).argParser(() => 'true')
        : new Option(
            `--${setting.flag} ${setting.kind === 'onoff' ? '<on|off>' : '<value>'}`,
            `${setting.help} (env ${setting.env}; default ${setting.defaultText ?? setting.defaultValue})`,
          );
    attributes.set(setting.key, option.attributeName());
    serveCommand.addOption(option);
  }
  serveCommand.action(async (options: Record<string, string | undefined>) => {
    await serve(Object.fromEntries(SETTINGS.map((s) => [s.key, options[attributes.get(s.key) ?? '']])));
  });
  root
    .command('agent')
    .description(
      "run a hive: stream heartbeats to the queen for this machine's inference engines (--engine, --engines-file), simulated workers (which answer OpenAI requests) or a workers file",
    )
    .option(
      '--queen <host:port,...>',
      `the queen's address, or several queens over one fleet, comma-separated: the agent starts at a random one and moves to the next after a failure (env ${QUEEN_ENV}; default ${DEFAULT_QUEEN})`,
    )
    .option('--hive-id <id>', "this hive's id: 1-128 characters of [A-Za-z0-9._:-]")
    .option('--simulate <n>', 'simulate N workers whose state and GPU load move over time')
    .option('--models <a,b,...>', 'with --simulate: the models the workers load, round robin')
    .option(
      '--inference-listen <host:port>',
      `with --simulate: where the workers answer OpenAI requests, each under /w/<worker id> (default ${DEFAULT_INFERENCE_LISTEN}: loopback, any free port)`,
    )
    .option(
      '--max-concurrency <n>',
      `with --simulate: requests each worker runs at once, the rest wait in order (1-${MAX_CONCURRENCY}; default ${DEFAULT_MAX_CONCURRENCY})`,
    )
    .option(
      '--response-delay <ms>',
      `with --simulate: ms before the first byte of an answer; a prefix-cache hit (the prompt's first ${PREFIX_KEY_BYTES} bytes began one of the worker's last ${PREFIX_MEMORY_REQUESTS.toLocaleString('en-US')} requests) waits 1/${PREFIX_HIT_DELAY_DIVISOR} of it (default ${DEFAULT_FIRST_BYTE_DELAY_MS})`,
    )
    .option('--chunk-delay <ms>', `with --simulate: ms between streamed tokens (default ${DEFAULT_CHUNK_DELAY_MS})`)
    .option('--steady', 'with --simulate: no random busy spells or GPU load moves (a worker is busy only while requests fill its slots)')
    .option('--workers-file <file>', "a HiveHeartbeatPayload in protobuf JSON form: the hive's workers and devices, re-read on change")
    .option(
      '--engine <spec>',
      'an inference engine on this machine to poll (repeatable): a base URL, or url=URL[,kind=vllm|llama.cpp|ollama|sglang|tgi][,id=ID][,device=N][,backend=cpu|cuda|metal|rocm][,max-concurrency=N]',
      collectValues,
    )
    .option('--engines-file <file>', 'a JSON array of engine objects ({"url": ..., "kind": ..., "id": ..., "device": ..., "backend": ..., "maxConcurrency": ...}), re-read on change')
    .option(
      '--advertise-host <host>',
      `with engines: the host reported in place of an engine URL's loopback or wildcard host (env ${ADVERTISE_HOST_ENV}; default the local address toward the queen)`,
    )
    .option('--poll-interval <duration>', `with engines: how often each engine is polled (default ${DEFAULT_POLL_INTERVAL_MS / 1000}s)`)
    .option('--poll-timeout <duration>', `with engines: how long one poll of one engine may take (default ${DEFAULT_POLL_TIMEOUT_MS / 1000}s)`)
    .option('--gpu-stats <source>', `with engines: ${GPU_STATS_CHOICES.join(', ')} (default auto: nvidia-smi when on PATH, else AMD GPUs in sysfs, else none)`)
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (env HIVE_REGISTRY_LOG_LEVEL; default info)`)
    .option('--tls-ca <file>', "connect with TLS, verifying the queen's certificate against this PEM CA")
    .option('--tls-cert <file>', 'with --tls-key: a PEM client certificate, for a queen that requires one')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option(
      '--token-file <file>',
      `a file holding this hive's token, for a queen with authentication; re-read at every connect (env ${TOKEN_FILE_ENV})`,
    )
    .allowExcessArguments(false)
    .action(async (flags: AgentFlags) => agent(flags));
  root
    .command('demo')
    .description('start a queen and three simulated hives, print the fleet and a scheduling decision, stop them all')
    .allowExcessArguments(false)
    .action(async () => {
      process.exitCode = await runDemo(__filename, consoleIo, (stopAll) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) {
          process.on(signal, () => {
            stopAll();
            process.exit(130);
          });
        }
      });
    });
  addOperatorCommands(
    root,
    process.env,
    consoleIo,
    (code) => {
      process.exitCode = code;
    },
  );
  return root;
}

async function main(): Promise<void> {
  try {
    await program().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with code 0; any other commander error is a bad command line.
      process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    throw error;
  }
}

// grpc-js passes an IP address as the TLS server name when the queen is addressed by IP, and Node warns about it
// on every connection (DEP0123). The certificate is still verified against the IP (its subjectAltName), so the
// warning only adds noise to operator output: drop that one, print every other warning as Node would.
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string }) => {
  if (warning.code === 'DEP0123') return;
  process.stderr.write(`(node:${process.pid}) ${warning.name}: ${warning.message}\n`);
});

void main();
