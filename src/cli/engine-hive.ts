import { totalmem } from 'node:os';
import type { Logger } from 'pino';
import { systemClock } from '../common/clock.js';
import { EnginePoller } from '../agent/engines/engine-poller.js';
import { EngineSpecError, checkDistinct, checkWorkerIds, type EngineSpec } from '../agent/engines/engine-spec.js';
import { isLocalEngine } from '../agent/engines/engine-url.js';
import { engineAccess } from '../agent/engines/engine-access.js';
import { EnginesFile } from '../agent/engines/engines-file.js';
import { gpuProbe } from '../agent/engines/gpu-probe.js';
import { chooseGpuStats } from '../agent/engines/gpu-stats-choice.js';
import { localAddresses, localAddressToward } from '../agent/local-address.js';
import { systemTimers } from '../agent/timers.js';
import type { HiveSource } from './agent-command.js';
import type { EnginesSource } from './engine-flags.js';

/**
 * The machine's engines as a hive source: the poller over the `--engine` SPECs and the engines file, GPU stats
 * as `--gpu-stats` chose, URLs advertised with `--advertise-host` (else the local address toward the queen:
 * the first of `queens` at start, then at each connect the queen that call goes to). Rejects with
 * EngineSpecError when the engines file is unusable at start.
 */
export async function startEngineHive(
  hiveId: string,
  queens: readonly string[],
  source: EnginesSource,
  logger: Logger,
): Promise<HiveSource> {
  const log = logger.child({ component: 'engines', hiveId });
  const gpu = await chooseGpuStats(source.gpuStats, { pathEnv: process.env.PATH });
  const local = localAddresses();
  const access = engineAccess({ pollTimeoutMs: source.pollTimeoutMs });
  const poller = new EnginePoller({
    hiveId,
    clock: systemClock,
    timers: systemTimers,
    logger,
    access,
    pollIntervalMs: source.pollIntervalMs,
    pollTimeoutMs: source.pollTimeoutMs,
    isLocal: (url) => isLocalEngine(url, local),
    ramTotalBytes: BigInt(totalmem()),
    ...(gpu.source === undefined ? {} : { gpu: gpuProbe(gpu.source) }),
  });
  const flagSpecs = source.specs;
  const combine = (fileSpecs: readonly EngineSpec[]): EngineSpec[] => {
    const all = [...flagSpecs, ...fileSpecs];
    checkDistinct(all);
    checkWorkerIds(all, hiveId);
    return all;
  };
  let file: EnginesFile | undefined;
  if (source.file !== undefined) {
    file = await EnginesFile.open(source.file, { hiveId, logger, timers: systemTimers, checkIntervalMs: source.pollIntervalMs }, (specs) => {
      try {
        poller.setEngines(combine(specs));
      } catch (error) {
        if (!(error instanceof EngineSpecError)) throw error;
        log.warn({ file: source.file, problem: error.message }, 'engines file clashes with --engine: keeping the engines polled so far');
      }
    });
    try {
      poller.setEngines(combine(file.specs));
    } catch (error) {
      file.close();
      if (error instanceof EngineSpecError) throw new EngineSpecError(`--engines-file ${source.file}: ${error.message}`);
      throw error;
    }
  } else {
    poller.setEngines(flagSpecs);
  }

  const advertise = async (queen: string | undefined): Promise<void> => {
    if (source.advertiseHost !== undefined) return poller.setAdvertiseHost(source.advertiseHost);
    if (queen === undefined) return;
    try {
      poller.setAdvertiseHost(await localAddressToward(queen));
    } catch (error) {
      log.warn({ err: error, queen }, 'cannot tell the local address toward the queen: engine URLs keep their own host');
    }
  };
  // The agent picks its first queen once it starts; a different route to it is fixed at that connect (a changed
  // host is a change, so the corrected URLs go out within a poll interval).
  await advertise(queens[0]);
  poller.start();
  log.info(
    { engines: flagSpecs.length + (file?.specs.length ?? 0), pollIntervalMs: source.pollIntervalMs, gpuStats: gpu.description },
    'polling engines',
  );
  return {
    provider: () => poller.snapshot(),
    changes: poller,
    minChangeIntervalMs: source.pollIntervalMs,
    onConnected: (event) => void advertise(event.queen ?? queens[0]),
    close: async () => {
      file?.close();
      poller.stop();
      access.close();
    },
  };
}
