import pino, { type Logger } from 'pino';
import { systemClock } from '../../src/common/clock';
import { QueenServer, type QueenOptions, type ServerConfig } from '../../src/server/queen-server';
import type { EtcdSettings } from '../../src/server/server-config';
import { QueenClient, type HeartbeatStream } from './client';
import type { EtcdProcess } from './etcd-process';
import { TEST_CONFIG } from './queen';
import { snapshotPayload, type WorkerInit } from './wire-builders';

/** A lease short enough for fault tests to see it expire, long enough for a loaded machine. */
export const TEST_LEASE_TTL_MS = 3_000;

/** The etcd settings of a test federation on `etcd`, under its own prefix. */
export function etcdSettings(etcd: EtcdProcess, prefix: string, overrides: Partial<EtcdSettings> = {}): EtcdSettings {
  return { endpoints: [etcd.endpoint], prefix, leaseTtlMs: TEST_LEASE_TTL_MS, timeoutMs: 1_000, ...overrides };
}

/** One in-process queen of a test federation, on the real clock (leases are real time), with its clients. */
export class FederatedQueen {
  private readonly clients: QueenClient[] = [];
  readonly client: QueenClient;

  private constructor(readonly queen: QueenServer) {
    this.client = this.newClient();
  }

  static async start(
    queenId: string,
    etcd: EtcdSettings,
    overrides: Partial<ServerConfig> = {},
    options: QueenOptions = {},
    logger: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  ): Promise<FederatedQueen> {
    const config: ServerConfig = { ...TEST_CONFIG, queenId, etcd, ...overrides };
    const queen = await QueenServer.start(config, logger.child({ queen: queenId }), systemClock, options);
    return new FederatedQueen(queen);
  }

  get id(): string {
    return this.queen.identity.queenId;
  }

  get address(): string {
    return `127.0.0.1:${this.queen.port}`;
  }

  get rpc(): QueenClient['rpc'] {
    return this.client.rpc;
  }

  get catalog(): QueenClient['catalog'] {
    return this.client.catalog;
  }

  newClient(token?: string): QueenClient {
    const client = new QueenClient(this.address, token);
    this.clients.push(client);
    return client;
  }

  /** Opens a stream for `hiveId` here and sends one accepted snapshot. */
  async connectHive(hiveId: string, workers: readonly WorkerInit[] = [], sequence = 1): Promise<HeartbeatStream> {
    const stream = this.client.heartbeat();
    const ack = await stream.send(snapshotPayload(hiveId, sequence, workers));
    if (!ack.accepted) throw new Error(`hive ${hiveId} refused by ${this.id}: ${ack.error}`);
    return stream;
  }

  async stop(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
    await this.queen.stop();
  }
}

/** Polls `check` until it returns true (async allowed), or fails after `timeoutMs` naming `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
