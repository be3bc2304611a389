import pino, { type Logger } from 'pino';
import { QueenServer, type QueenOptions, type ServerConfig } from '../../src/server/queen-server';
import { HeartbeatStream, QueenClient } from './client';
import { ManualClock } from '../../src/common/manual-clock';
import { snapshotPayload, type PayloadOverrides, type WorkerInit } from './wire-builders';

/** The configuration integration tests run with; thresholds are driven by the ManualClock, never by sleeping. */
export const TEST_CONFIG: ServerConfig = Object.freeze({
  listen: '127.0.0.1:0',
  httpMaxConnections: 4_096,
  gatewayQueueTimeoutMs: 30_000,
  gatewayConnectTimeoutMs: 5_000,
  gatewayResponseTimeoutMs: 600_000,
  gatewayMaxBodyBytes: 16_777_216,
  gatewayAllowUpstream: '',
  gatewayPrefixAffinity: true,
  gatewayPrefixBlockBytes: 256,
  gatewayPrefixCacheKeys: 100_000,
  gatewayAffinitySlack: 0.25,
  heartbeatIntervalMs: 5_000,
  offlineAfterMs: 15_000,
  evictAfterMs: 600_000,
  drainTimeoutMs: 1_000,
  maxWorkersPerHive: 1_024,
  maxDevicesPerHive: 64,
  maxStreams: 100,
  maxStreamsPerAddress: 100,
  // Tests send payloads back to back on a clock that does not move; the rate limit has its own tests.
  heartbeatRateLimit: 1_000,
  unboundStreamTimeoutMs: 10_000,
  maxHives: 10_000,
  maxMessageBytes: 4_194_304,
  watchHistoryEvents: 10_000,
  watchQueueEvents: 10_000,
  db: ':memory:',
  registration: 'open',
  catalogFlushIntervalMs: 1_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
});

/**
 * A QueenServer on 127.0.0.1:0 with a silent logger and a ManualClock, plus the clients opened against it.
 * `stop()` cancels the clients' open streams, closes them and stops the server; call it in afterEach/afterAll.
 */
export class TestQueen {
  private readonly clients: QueenClient[] = [];
  /** The default client. */
  readonly client: QueenClient;

  private constructor(
    readonly queen: QueenServer,
    readonly clock: ManualClock,
    readonly config: ServerConfig,
  ) {
    this.client = this.newClient();
  }

  static async start(
    overrides: Partial<ServerConfig> = {},
    logger: Logger = pino({ level: 'silent' }),
    options: QueenOptions = {},
  ): Promise<TestQueen> {
    const config: ServerConfig = { ...TEST_CONFIG, ...overrides };
    const clock = new ManualClock();
    const queen = await QueenServer.start(config, logger, clock, { detectStalls: false, ...options });
    return new TestQueen(queen, clock, config);
  }

  /** host:port of the running server. */
  get address(): string {
    return `127.0.0.1:${this.queen.port}`;
  }

  /** The HTTP listener's port; throws when the queen was started without `httpListen`. */
  get httpPort(): number {
    const port = this.queen.httpPort;
    if (port === undefined) throw new Error('this TestQueen has no HTTP listener: start it with httpListen');
    return port;
  }

  /** The default client's catalog RPCs. */
  get catalog(): QueenClient['catalog'] {
    return this.client.catalog;
  }

  /** The default client's unary RPCs. */
  get rpc(): QueenClient['rpc'] {
    return this.client.rpc;
  }

  /** Another connection (its own channel, sending `token` with every call when given), closed by `stop()`. */
  newClient(token?: string): QueenClient {
    const client = new QueenClient(this.address, token);
    this.clients.push(client);
    return client;
  }

  /**
   * Opens a stream for `hiveId` and sends one snapshot with `workers` (sequence 1 unless overridden); fails unless
   * the payload was accepted.
   */
  async connectHive(
    hiveId: string,
    workers: readonly WorkerInit[] = [],
    overrides: PayloadOverrides = {},
  ): Promise<HeartbeatStream> {
    const stream = this.client.heartbeat();
    const ack = await stream.send(snapshotPayload(hiveId, 1, workers, overrides));
    expect({ hiveId, accepted: ack.accepted, error: ack.error }).toEqual({ hiveId, accepted: true, error: '' });
    return stream;
  }

  async stop(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
    await this.queen.stop();
  }
}
