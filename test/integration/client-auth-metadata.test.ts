// What the client side sends for authentication, checked against a small recording server (no queen logic): the
// typed client's unary calls and Watch, the agent's transport, and the operator commands for hive tokens.
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type StatusObject,
} from '@grpc/grpc-js';
import { Command } from 'commander';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queenTransport } from '../../src/agent/queen-transport';
import { catalogIssueTokenCommand, catalogRevokeTokenCommand, catalogTokensCommand, type CommandIo } from '../../src/cli/operator-commands';
import { addOperatorCommands } from '../../src/cli/operator-program';
import { ClientError } from '../../src/client/client-error';
import { createRegistryClient, type RegistryClient } from '../../src/client/registry-client';
import { grpcServiceDefinition } from '../../src/server/grpc-service';
import {
  HiveCatalog,
  IssueHiveTokenResponseSchema,
  ListHiveTokensResponseSchema,
  RevokeHiveTokenResponseSchema,
  type IssueHiveTokenRequest,
  type IssueHiveTokenResponse,
  type ListHiveTokensRequest,
  type ListHiveTokensResponse,
  type RevokeHiveTokenRequest,
  type RevokeHiveTokenResponse,
} from '../../gen/hive/v1/catalog_pb';
import {
  GetHiveStateResponseSchema,
  HiveRegistry,
  WatchEventSchema,
  WatchEventType,
  type GetHiveStateRequest,
  type GetHiveStateResponse,
  type HeartbeatAck,
  type HiveHeartbeatPayload,
  type WatchEvent,
  type WatchRequest,
} from '../../gen/hive/v1/registry_pb';

const TOKEN = 'tok_0123456789abcdef-ABC.~';
const CREATED_MS = Date.UTC(2026, 0, 2, 3, 4, 5);
const USED_MS = CREATED_MS + 60_000;

function serviceError(code: status, details: string): Partial<StatusObject> & Error {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

/** Every call it gets, with the authorization metadata it carried; answers with canned data. */
class RecordingServer {
  readonly calls: { readonly rpc: string; readonly authorization: readonly string[] }[] = [];
  /** Watch calls answered so far: the first ends with UNAVAILABLE after SYNCED, so the client reconnects. */
  private watches = 0;
  private readonly server = new Server();
  port = 0;

  private record(rpc: string, metadata: Metadata): boolean {
    const authorization = metadata.get('authorization').map(String);
    this.calls.push({ rpc, authorization });
    return authorization.length > 0;
  }

  async start(): Promise<void> {
    const unary =
      <Req, Res>(rpc: string, answer: (request: Req) => Res) =>
      (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
        if (!this.record(rpc, call.metadata)) callback(serviceError(status.UNAUTHENTICATED, 'missing token'));
        else callback(null, answer(call.request));
      };
    this.server.addService(grpcServiceDefinition(HiveRegistry), {
      getHiveState: unary<GetHiveStateRequest, GetHiveStateResponse>('GetHiveState', (request) =>
        create(GetHiveStateResponseSchema, { hive: { hiveId: request.hiveId, online: true } }),
      ),
      watch: (call: ServerWritableStream<WatchRequest, WatchEvent>) => {
        if (!this.record('Watch', call.metadata)) {
          call.emit('error', serviceError(status.UNAUTHENTICATED, 'missing token'));
          return;
        }
        this.watches += 1;
        call.write(create(WatchEventSchema, { type: WatchEventType.SYNCED, revision: BigInt(this.watches), epoch: 'e' }));
        if (this.watches === 1) call.emit('error', serviceError(status.UNAVAILABLE, 'the server is shutting down'));
      },
      heartbeat: (call: ServerDuplexStream<HiveHeartbeatPayload, HeartbeatAck>) => {
        this.record('Heartbeat', call.metadata);
        call.emit('error', serviceError(status.UNAUTHENTICATED, 'recorded'));
      },
    });
    this.server.addService(grpcServiceDefinition(HiveCatalog), {
      issueHiveToken: unary<IssueHiveTokenRequest, IssueHiveTokenResponse>('IssueHiveToken', (request) =>
        create(IssueHiveTokenResponseSchema, { token: `secret-for-${request.hiveId}`, tokenId: 'tok-7' }),
      ),
      revokeHiveToken: unary<RevokeHiveTokenRequest, RevokeHiveTokenResponse>('RevokeHiveToken', (request) =>
        create(RevokeHiveTokenResponseSchema, { revoked: request.tokenId === 'tok-7' }),
      ),
      listHiveTokens: unary<ListHiveTokensRequest, ListHiveTokensResponse>('ListHiveTokens', () =>
        create(ListHiveTokensResponseSchema, {
          tokens: [
            { tokenId: 'tok-6', createdAt: timestampFromMs(CREATED_MS), lastUsedAt: timestampFromMs(USED_MS) },
            { tokenId: 'tok-7', createdAt: timestampFromMs(CREATED_MS + 1) },
          ],
        }),
      ),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.forceShutdown();
      resolve();
    });
  }
}

/** A CommandIo that keeps what a command writes. */
function recordingIo(nowMs = USED_MS + 5_000): CommandIo & { readonly stdout: string[]; readonly stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), nowMs: () => nowMs };
}

describe('authentication metadata, client side', () => {
  let server: RecordingServer;
  let clients: RegistryClient[];
  let dir: string;
  const client = (token?: string): RegistryClient => {
    const c = createRegistryClient(server.address, token === undefined ? {} : { token });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    server = new RecordingServer();
    await server.start();
    clients = [];
    dir = mkdtempSync(join(tmpdir(), 'client-auth-'));
  });
  afterEach(async () => {
    for (const c of clients) c.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends authorization: Bearer <token> on unary calls of both services', async () => {
    const c = client(TOKEN);
    expect((await c.getHiveState('hive-a')).hiveId).toBe('hive-a');
    expect(await c.issueHiveToken('hive-a')).toEqual({ token: 'secret-for-hive-a', tokenId: 'tok-7' });
    expect(server.calls).toEqual([
      { rpc: 'GetHiveState', authorization: [`Bearer ${TOKEN}`] },
      { rpc: 'IssueHiveToken', authorization: [`Bearer ${TOKEN}`] },
    ]);
  });

  it('sends no authorization without a token', async () => {
    const error = await client()
      .getHiveState('hive-a')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(status.UNAUTHENTICATED);
    expect(server.calls).toEqual([{ rpc: 'GetHiveState', authorization: [] }]);
  });

  it('sends the token on Watch, again on the call it reopens after a lost stream', async () => {
    const revisions: number[] = [];
    for await (const update of client(TOKEN).watch({ backoff: { baseMs: 1, capMs: 5 } })) {
      revisions.push(update.revision);
      if (revisions.length === 2) break;
    }
    expect(revisions).toEqual([1, 2]);
    expect(server.calls).toEqual([
      { rpc: 'Watch', authorization: [`Bearer ${TOKEN}`] },
      { rpc: 'Watch', authorization: [`Bearer ${TOKEN}`] },
    ]);
  });

  it('Watch ends with ClientError UNAUTHENTICATED when refused (reconnecting with the same token cannot help)', async () => {
    const iterate = async (): Promise<void> => {
      for await (const _update of client().watch({ backoff: { baseMs: 1, capMs: 5 } })) {
        // nothing arrives
      }
    };
    await expect(iterate()).rejects.toMatchObject({ code: status.UNAUTHENTICATED, details: 'missing token' });
    expect(server.calls).toHaveLength(1);
  });

  it.each([
    ['empty', ''],
    ['with a space', 'Bearer x'],
    ['with a newline', 'abc\n'],
    ['non-ASCII', 'tökén'],
  ])('refuses a token %s at construction, without echoing it', (_name, token) => {
    expect(() => createRegistryClient('127.0.0.1:1', { token })).toThrow(
      new RangeError('token: must be non-empty printable ASCII without spaces (a gRPC metadata value)'),
    );
  });

  it('token domain methods: issue, revoke (true, then false for an unknown id), list with optional last use', async () => {
    const c = client(TOKEN);
    expect(await c.revokeHiveToken('hive-a', 'tok-7')).toBe(true);
    expect(await c.revokeHiveToken('hive-a', 'tok-unknown')).toBe(false);
    expect(await c.listHiveTokens('hive-a')).toEqual([
      { tokenId: 'tok-6', createdAtMs: CREATED_MS, lastUsedAtMs: USED_MS },
      { tokenId: 'tok-7', createdAtMs: CREATED_MS + 1 },
    ]);
  });

  it("the agent's transport evaluates its metadata at every open (token rotation) and still takes a Metadata", async () => {
    const statusOf = (open: () => { on(event: 'status', l: (s: StatusObject) => void): unknown }): Promise<StatusObject> =>
      new Promise((resolve) => {
        const call = open();
        (call as unknown as { on(event: 'error', l: () => void): unknown }).on('error', () => undefined);
        call.on('status', resolve);
      });
    let token = 'hive-token-1';
    const rotating = queenTransport(server.address, {
      metadata: () => {
        const m = new Metadata();
        m.set('authorization', `Bearer ${token}`);
        return m;
      },
    });
    await statusOf(() => rotating.open());
    token = 'hive-token-2';
    await statusOf(() => rotating.open());
    rotating.close?.();

    const fixed = new Metadata();
    fixed.set('authorization', 'Bearer fixed');
    const legacy = queenTransport(server.address, { metadata: fixed });
    await statusOf(() => legacy.open());
    await statusOf(() => legacy.open());
    legacy.close?.();

    expect(server.calls).toEqual([
      { rpc: 'Heartbeat', authorization: ['Bearer hive-token-1'] },
      { rpc: 'Heartbeat', authorization: ['Bearer hive-token-2'] },
      { rpc: 'Heartbeat', authorization: ['Bearer fixed'] },
      { rpc: 'Heartbeat', authorization: ['Bearer fixed'] },
    ]);
  });

  it('a metadata source that throws fails the open and leaves the transport usable', async () => {
    let fail = true;
    const transport = queenTransport(server.address, {
      metadata: () => {
        if (fail) throw new Error('token file /x: is empty');
        return new Metadata();
      },
    });
    expect(() => transport.open()).toThrow('token file /x: is empty');
    fail = false;
    const call = transport.open();
    await new Promise((resolve) => {
      call.on('error', () => undefined);
      call.on('status', resolve);
    });
    transport.close?.();
    expect(server.calls).toEqual([{ rpc: 'Heartbeat', authorization: [] }]);
  });

  it('catalog issue-token prints the token alone on stdout, its id on stderr; --json the response', async () => {
    const io = recordingIo();
    await catalogIssueTokenCommand(client(TOKEN), io, 'hive-a', {});
    expect(io.stdout.join('')).toBe('secret-for-hive-a\n');
    expect(io.stderr.join('')).toMatch(/^issued token tok-7 for hive hive-a\. It is shown only once/);
    expect(io.stderr.join('')).not.toContain('secret-for-hive-a');

    const json = recordingIo();
    await catalogIssueTokenCommand(client(TOKEN), json, 'hive-a', { json: true });
    expect(JSON.parse(json.stdout.join(''))).toEqual({ token: 'secret-for-hive-a', tokenId: 'tok-7' });
    expect(json.stderr).toEqual([]);
  });

  it('catalog revoke-token says whether it revoked; catalog tokens prints the table or the response', async () => {
    const io = recordingIo();
    await catalogRevokeTokenCommand(client(TOKEN), io, 'hive-a', 'tok-7', {});
    await catalogRevokeTokenCommand(client(TOKEN), io, 'hive-a', 'tok-8', {});
    await catalogRevokeTokenCommand(client(TOKEN), io, 'hive-a', 'tok-7', { json: true });
    expect(io.stdout.join('')).toBe(
      'revoked token tok-7 of hive hive-a\nhive hive-a has no live token tok-8\n{\n  "revoked": true\n}\n',
    );

    const table = recordingIo();
    await catalogTokensCommand(client(TOKEN), table, 'hive-a', {});
    expect(table.stdout.join('')).toBe(
      ['TOKEN ID  CREATED  LAST USED', 'tok-6     65s ago  5s ago', 'tok-7     64s ago  never', ''].join('\n'),
    );
    const json = recordingIo();
    await catalogTokensCommand(client(TOKEN), json, 'hive-a', { json: true });
    expect(JSON.parse(json.stdout.join(''))).toEqual({
      tokens: [
        { tokenId: 'tok-6', createdAt: '2026-01-02T03:04:05Z', lastUsedAt: '2026-01-02T03:05:05Z' },
        { tokenId: 'tok-7', createdAt: '2026-01-02T03:04:05.001Z' },
      ],
    });
  });

  describe('operator commands: --token-file and HIVE_REGISTRY_TOKEN_FILE', () => {
    /** Runs `hive-registry ARGS` in process; resolves with the exit code and what was written. */
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const io = recordingIo();
      let code = -1;
      const root = new Command('hive-registry').exitOverride();
      addOperatorCommands(root, env, io, (c) => (code = c));
      await root.parseAsync(args, { from: 'user' });
      return { code, stdout: io.stdout.join(''), stderr: io.stderr.join('') };
    };
    const tokenFile = (content: string, mode = 0o600): string => {
      const path = join(dir, `token-${Math.random().toString(36).slice(2)}`);
      writeFileSync(path, content, { mode });
      return path;
    };

    it('sends the token from --token-file, or from the file the environment names', async () => {
      const flagged = await run(['catalog', 'tokens', 'hive-a', '--queen', server.address, '--token-file', tokenFile(`${TOKEN}\n`)]);
      const fromEnv = await run(['catalog', 'tokens', 'hive-a', '--queen', server.address], {
        HIVE_REGISTRY_TOKEN_FILE: tokenFile('from-env\n'),
      });
      expect([flagged.code, flagged.stderr, fromEnv.code, fromEnv.stderr]).toEqual([0, '', 0, '']);
      expect(server.calls).toEqual([
        { rpc: 'ListHiveTokens', authorization: [`Bearer ${TOKEN}`] },
        { rpc: 'ListHiveTokens', authorization: ['Bearer from-env'] },
      ]);
    });

    it('a token file others can read works, with a warning on stderr', async () => {
      const path = tokenFile(`${TOKEN}\n`, 0o644);
      const result = await run(['catalog', 'revoke-token', 'hive-a', 'tok-7', '--queen', server.address, '--token-file', path]);
      expect(result).toEqual({
        code: 0,
        stdout: 'revoked token tok-7 of hive hive-a\n',
        stderr: `hive-registry catalog revoke-token: warning: token file ${path} is readable by group or others (mode 0644); restrict it with chmod 600\n`,
      });
    });

    it('a bad token file is a usage error (exit 2) naming the file, never its content, and calls nothing', async () => {
      const path = tokenFile(`${TOKEN} ${TOKEN}\n`);
      const bad = await run(['hive', 'hive-a', '--queen', server.address, '--token-file', path]);
      const missing = await run(['catalog', 'issue-token', 'hive-a', '--queen', server.address], {
        HIVE_REGISTRY_TOKEN_FILE: join(dir, 'missing'),
      });
      expect([bad.code, bad.stdout, bad.stderr]).toEqual([
        2,
        '',
        `hive-registry hive: --token-file: token file ${path}: has whitespace inside the token (at character ${TOKEN.length + 1})\n`,
      ]);
      expect([missing.code, missing.stderr]).toEqual([
        2,
        expect.stringMatching(/^hive-registry catalog issue-token: HIVE_REGISTRY_TOKEN_FILE: token file .*missing: cannot read it \(ENOENT/),
      ]);
      expect(bad.stderr + missing.stderr).not.toContain(TOKEN);
      expect(server.calls).toEqual([]);
    });
  });
});
