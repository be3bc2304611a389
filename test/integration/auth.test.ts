// With auth on: every RPC refuses a call without a token (UNAUTHENTICATED) and one with the wrong kind of token
// or role (PERMISSION_DENIED), and serves the right one; hive tokens bind a Heartbeat stream to their hive.
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, status, type Client, type StatusObject } from '@grpc/grpc-js';
import { HiveCatalog } from '../../gen/hive/v1/catalog_pb';
import { HiveRegistry, WatchRequestSchema, type WatchEvent } from '../../gen/hive/v1/registry_pb';
import { METHOD_ACCESS } from '../../src/server/access';
import type { Caller } from '../../src/server/callers';
import { grpcServiceDefinition } from '../../src/server/grpc-service';
import { accepted, ackSummary, rejected, snapshotOf } from '../helpers/acks';
import { bearer, expectRpcError, expectStatus, healthClient, type QueenClient } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, tickPayload, wireWorker } from '../helpers/wire-builders';

const ADMIN_TOKEN = 'admin-token-for-tests';
const READ_TOKEN = 'read-token-for-tests';

function caller(name: string, role: Caller['role'], token: string): Caller {
  return { name, role, tokenSha256: createHash('sha256').update(token).digest() };
}

const CALLERS = [caller('ops', 'admin', ADMIN_TOKEN), caller('router', 'read', READ_TOKEN)];

/** What each method needs, written out here independently of the server's table. */
const ADMIN_METHODS = new Set([
  'hive.v1.HiveRegistry/RemoveHive',
  'hive.v1.HiveCatalog/RegisterHive',
  'hive.v1.HiveCatalog/UpdateHive',
  'hive.v1.HiveCatalog/DeregisterHive',
  'hive.v1.HiveCatalog/IssueHiveToken',
  'hive.v1.HiveCatalog/RevokeHiveToken',
  'hive.v1.HiveCatalog/ListHiveTokens',
  'hive.v1.HiveCatalog/CordonHive',
  'hive.v1.HiveCatalog/UncordonHive',
]);
const STREAMS = new Set(['hive.v1.HiveRegistry/Heartbeat', 'hive.v1.HiveRegistry/Watch']);

interface UnaryCase {
  readonly service: typeof HiveRegistry | typeof HiveCatalog;
  readonly path: string;
  readonly localName: string;
  readonly needs: 'read' | 'admin';
}

const UNARY_CASES: UnaryCase[] = [HiveRegistry, HiveCatalog].flatMap((service) =>
  service.methods
    .map((method) => ({ service, path: `${service.typeName}/${method.name}`, localName: method.localName }))
    .filter((c) => !STREAMS.has(c.path))
    .map((c) => ({ ...c, needs: ADMIN_METHODS.has(c.path) ? ('admin' as const) : ('read' as const) })),
);

/** A call of `localName` with an empty request and `token`, by a client that knows nothing of the method. */
function callEmpty(queen: TestQueen, c: UnaryCase, token: string | undefined): Promise<unknown> {
  const client = queen.newClient(token);
  const methods = (c.service === HiveRegistry ? client.rpc : client.catalog) as unknown as Record<
    string,
    (init: object) => Promise<unknown>
  >;
  const method = methods[c.localName];
  if (method === undefined) throw new Error(`no method ${c.localName}`);
  return method.call(methods, {});
}

/** Opens a Watch with `token` and resolves with its first event, or with the status it ended with first. */
function firstWatchResult(address: string, token: string | undefined): Promise<WatchEvent | StatusObject> {
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(HiveRegistry), 'HiveRegistry');
  const client: Client = new Ctor(address, credentials.createInsecure());
  const method = (client as unknown as Record<string, (req: unknown, md: unknown) => NodeJS.EventEmitter & { cancel(): void }>)['watch'];
  if (method === undefined) throw new Error('no watch method');
  const call = method.call(client, create(WatchRequestSchema, {}), bearer(token));
  return new Promise((resolve) => {
    call.on('data', (event: WatchEvent) => {
      resolve(event);
      call.cancel();
    });
    call.on('error', () => undefined);
    call.on('status', (callStatus: StatusObject) => {
      resolve(callStatus);
      client.close();
    });
  });
}

/** HiveCount with `authorization` metadata set to exactly `values`: the call's status code. */
async function hiveCountWith(address: string, values: readonly string[]): Promise<status> {
  const metadata = bearer(undefined);
  for (const value of values) metadata.add('authorization', value);
  const Ctor = makeGenericClientConstructor(grpcServiceDefinition(HiveRegistry), 'HiveRegistry');
  const client = new Ctor(address, credentials.createInsecure());
  type Unary = (request: unknown, md: unknown, callback: (error: { code: status } | null) => void) => void;
  const method = (client as unknown as Record<string, Unary | undefined>)['hiveCount'];
  if (method === undefined) throw new Error('no hiveCount method');
  try {
    return await new Promise<status>((resolve) => {
      method.call(client, create(HiveRegistry.method.hiveCount.input, {}), metadata, (error) =>
        resolve(error === null ? status.OK : error.code),
      );
    });
  } finally {
    client.close();
  }
}

describe('auth on', () => {
  let queen: TestQueen;
  let admin: QueenClient;

  beforeEach(async () => {
    queen = await TestQueen.start({ callers: CALLERS });
    admin = queen.newClient(ADMIN_TOKEN);
  });
  afterEach(async () => {
    await queen.stop();
  });

  /** Registers `hiveId` and returns a fresh token for it. */
  async function hiveToken(hiveId: string): Promise<{ token: string; tokenId: string }> {
    await admin.catalog.registerHive({ hiveId }).catch(() => undefined);
    return admin.catalog.issueHiveToken({ hiveId });
  }

  test('every method of both services has an access rule, and the rules match this test', () => {
    for (const service of [HiveRegistry, HiveCatalog]) {
      for (const method of service.methods) {
        const path = `${service.typeName}/${method.name}`;
        const expected = path === 'hive.v1.HiveRegistry/Heartbeat' ? 'hive' : ADMIN_METHODS.has(path) ? 'admin' : 'read';
        expect([path, METHOD_ACCESS[path]]).toEqual([path, expected]);
      }
    }
  });

  describe.each(UNARY_CASES)('$path', (c) => {
    test('without a token: UNAUTHENTICATED', async () => {
      await expectRpcError(callEmpty(queen, c, undefined), status.UNAUTHENTICATED, /authentication required/);
    });

    test('with an unknown token: UNAUTHENTICATED, and the token is not echoed', async () => {
      const error = await expectRpcError(callEmpty(queen, c, 'not-a-known-token'), status.UNAUTHENTICATED, /unknown or revoked token/);
      expect(error.details).not.toContain('not-a-known-token');
    });

    test('with a hive token: PERMISSION_DENIED', async () => {
      const { token } = await hiveToken('hive-a');
      await expectRpcError(callEmpty(queen, c, token), status.PERMISSION_DENIED, /hive token .* may only open a Heartbeat stream/);
    });

    test(`with the ${c.needs} role: let in (whatever the empty request then gets)`, async () => {
      const outcome = await callEmpty(queen, c, c.needs === 'admin' ? ADMIN_TOKEN : READ_TOKEN).then(
        () => 'OK',
        (error: { code: status }) => status[error.code],
      );
      expect(['OK', 'INVALID_ARGUMENT', 'NOT_FOUND']).toContain(outcome);
    });

    if (c.needs === 'admin') {
      test('with the read role: PERMISSION_DENIED naming the caller and the role needed', async () => {
        await expectRpcError(callEmpty(queen, c, READ_TOKEN), status.PERMISSION_DENIED, /caller "router" has role read; this method needs admin/);
      });
    }
  });

  test('the authorization value must be one "Bearer <token>" (scheme case-insensitive)', async () => {
    for (const value of [`Basic ${ADMIN_TOKEN}`, 'Bearer', `Bearer ${ADMIN_TOKEN} extra`, ADMIN_TOKEN]) {
      expect([value, status[await hiveCountWith(queen.address, [value])]]).toEqual([value, 'UNAUTHENTICATED']);
    }
    expect(status[await hiveCountWith(queen.address, [`bEaReR ${READ_TOKEN}`])]).toBe('OK');
  });

  describe('Watch', () => {
    test('without a token: UNAUTHENTICATED', async () => {
      const result = await firstWatchResult(queen.address, undefined);
      expect(status[(result as StatusObject).code]).toBe('UNAUTHENTICATED');
    });

    test('with a hive token: PERMISSION_DENIED', async () => {
      const { token } = await hiveToken('hive-a');
      const result = await firstWatchResult(queen.address, token);
      expect(status[(result as StatusObject).code]).toBe('PERMISSION_DENIED');
    });

    test('with a read token: the snapshot comes', async () => {
      const result = await firstWatchResult(queen.address, READ_TOKEN);
      expect('revision' in result).toBe(true);
    });
  });

  test('health and reflection stay open', async () => {
    const { health, close } = healthClient(queen.address);
    try {
      await expect(health.check({ service: '' })).resolves.toMatchObject({ status: 1 });
    } finally {
      close();
    }
  });

  describe('Heartbeat', () => {
    test('without a token: UNAUTHENTICATED before any payload is read', async () => {
      const stream = queen.newClient().heartbeat();
      stream.write(snapshotPayload('hive-a', 1, [wireWorker('w1')]));
      expectStatus(await stream.status, status.UNAUTHENTICATED, /authentication required/);
      await expectRpcError(admin.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /no hive/);
    });

    test('with a caller token, even admin: PERMISSION_DENIED', async () => {
      const stream = queen.newClient(ADMIN_TOKEN).heartbeat();
      stream.write(snapshotPayload('hive-a', 1, []));
      expectStatus(await stream.status, status.PERMISSION_DENIED, /caller "ops" holds a caller token; a Heartbeat stream needs a hive token/);
    });

    test("with its hive's token: accepted, and last_used_at is noted", async () => {
      const { token, tokenId } = await hiveToken('hive-a');
      const before = await admin.catalog.listHiveTokens({ hiveId: 'hive-a' });
      expect(before.tokens.map((t) => [t.tokenId, t.lastUsedAt])).toEqual([[tokenId, undefined]]);
      const stream = queen.newClient(token).heartbeat();
      expect(ackSummary(await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w1')])))).toEqual(accepted(1));
      expect(await snapshotOf(admin.rpc, 'hive-a')).toMatchObject({ workers: ['w1'], online: true });
      const after = await admin.catalog.listHiveTokens({ hiveId: 'hive-a' });
      expect(after.tokens[0]?.lastUsedAt).toBeDefined();
    });

    test("a hive cannot write another hive's state: the payload is refused and the stream ends PERMISSION_DENIED", async () => {
      const a = await hiveToken('hive-a');
      const b = await hiveToken('hive-b');
      const honest = queen.newClient(b.token).heartbeat();
      expect(ackSummary(await honest.send(snapshotPayload('hive-b', 1, [wireWorker('wb', { url: 'http://10.0.0.2:8000' })])))).toEqual(accepted(1));
      const before = await admin.rpc.getHiveState({ hiveId: 'hive-b' });

      const intruder = queen.newClient(a.token).heartbeat();
      const ack = await intruder.send(snapshotPayload('hive-b', 2, [wireWorker('wb', { url: 'http://evil.example:8000' })]));
      expect(ackSummary(ack)).toEqual(rejected(2, /this stream's token belongs to hive "hive-a"; a payload for hive "hive-b" is refused/));
      expectStatus(await intruder.status, status.PERMISSION_DENIED, /belongs to hive "hive-a"/);

      expect(await admin.rpc.getHiveState({ hiveId: 'hive-b' })).toEqual(before);
      expect((await admin.rpc.getWorkerUrl({ workerId: 'wb' })).url).toBe('http://10.0.0.2:8000');
      expect(ackSummary(await honest.send(tickPayload('hive-b', 2)))).toEqual(accepted(2));
      expect(honest.ended).toBe(false);
    });

    test('rotation: two live tokens both work; revoking one ends its stream UNAUTHENTICATED and leaves the other', async () => {
      const first = await hiveToken('hive-a');
      const second = await admin.catalog.issueHiveToken({ hiveId: 'hive-a' });
      expect(second.tokenId).not.toBe(first.tokenId);
      expect(second.token).not.toBe(first.token);
      const listed = await admin.catalog.listHiveTokens({ hiveId: 'hive-a' });
      expect(listed.tokens.map((t) => t.tokenId).sort()).toEqual([first.tokenId, second.tokenId].sort());

      const old = queen.newClient(first.token).heartbeat();
      expect(ackSummary(await old.send(snapshotPayload('hive-a', 1, [wireWorker('w1')])))).toEqual(accepted(1));

      expect(await admin.catalog.revokeHiveToken({ hiveId: 'hive-a', tokenId: first.tokenId })).toMatchObject({ revoked: true });
      expectStatus(await old.status, status.UNAUTHENTICATED, new RegExp(`hive token "${first.tokenId}" of this stream was revoked`));
      expect(await admin.catalog.revokeHiveToken({ hiveId: 'hive-a', tokenId: first.tokenId })).toMatchObject({ revoked: false });

      const refused = queen.newClient(first.token).heartbeat();
      refused.write(tickPayload('hive-a', 2));
      expectStatus(await refused.status, status.UNAUTHENTICATED, /unknown or revoked token/);

      const renewed = queen.newClient(second.token).heartbeat();
      expect(ackSummary(await renewed.send(snapshotPayload('hive-a', 3, [wireWorker('w1')])))).toEqual(accepted(3));
      expect((await admin.catalog.listHiveTokens({ hiveId: 'hive-a' })).tokens.map((t) => t.tokenId)).toEqual([second.tokenId]);
    });

    test('deregistering a hive ends its stream and drops its tokens', async () => {
      const { token } = await hiveToken('hive-a');
      const stream = queen.newClient(token).heartbeat();
      expect(ackSummary(await stream.send(snapshotPayload('hive-a', 1, [])))).toEqual(accepted(1));
      await admin.catalog.deregisterHive({ hiveId: 'hive-a' });
      expectStatus(await stream.status, status.ABORTED, /deregistered/);
      await admin.catalog.registerHive({ hiveId: 'hive-a' });
      expect((await admin.catalog.listHiveTokens({ hiveId: 'hive-a' })).tokens).toEqual([]);
      const again = queen.newClient(token).heartbeat();
      again.write(tickPayload('hive-a', 2));
      expectStatus(await again.status, status.UNAUTHENTICATED, /unknown or revoked token/);
    });
  });

  describe('token RPCs', () => {
    test('IssueHiveToken: NOT_FOUND for a hive not in the catalog; INVALID_ARGUMENT for a bad id', async () => {
      await expectRpcError(admin.catalog.issueHiveToken({ hiveId: 'nowhere' }), status.NOT_FOUND, /hive_id: no hive "nowhere" in the catalog/);
      await expectRpcError(admin.catalog.issueHiveToken({ hiveId: '' }), status.INVALID_ARGUMENT, /^hive_id:/);
    });

    test('tokens look random and prefixed, and are never listed', async () => {
      const { token, tokenId } = await hiveToken('hive-a');
      expect(token).toMatch(/^hvt_[A-Za-z0-9_-]{43}$/);
      expect(tokenId).toMatch(/^[0-9a-f]{16}$/);
      const listed = await admin.catalog.listHiveTokens({ hiveId: 'hive-a' });
      expect(JSON.stringify(listed, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(token);
    });

    test('RevokeHiveToken: false for an unknown token or another hive\'s; INVALID_ARGUMENT for a bad token_id', async () => {
      const a = await hiveToken('hive-a');
      await hiveToken('hive-b');
      expect(await admin.catalog.revokeHiveToken({ hiveId: 'hive-b', tokenId: a.tokenId })).toMatchObject({ revoked: false });
      expect(await admin.catalog.revokeHiveToken({ hiveId: 'hive-a', tokenId: 'ffffffffffffffff' })).toMatchObject({ revoked: false });
      expect(await admin.catalog.revokeHiveToken({ hiveId: 'nowhere', tokenId: a.tokenId })).toMatchObject({ revoked: false });
      await expectRpcError(admin.catalog.revokeHiveToken({ hiveId: 'hive-a', tokenId: '' }), status.INVALID_ARGUMENT, /^token_id:/);
      await expectRpcError(admin.catalog.revokeHiveToken({ hiveId: 'hive-a', tokenId: 'a b' }), status.INVALID_ARGUMENT, /^token_id:/);
    });

    test('ListHiveTokens: NOT_FOUND for a hive not in the catalog', async () => {
      await expectRpcError(admin.catalog.listHiveTokens({ hiveId: 'nowhere' }), status.NOT_FOUND, /no hive "nowhere"/);
    });
  });

  test('reloaded callers: a removed token is refused at once, a new one let in', async () => {
    const rotated = caller('ops', 'admin', 'a-new-admin-token');
    expect(queen.queen.reloadCallers([rotated])).toBe(true);
    await expectRpcError(queen.newClient(ADMIN_TOKEN).rpc.hiveCount({}), status.UNAUTHENTICATED, /unknown or revoked token/);
    await expect(queen.newClient('a-new-admin-token').rpc.hiveCount({})).resolves.toMatchObject({ count: 0 });
  });
});

describe('auth off', () => {
  test('no token needed, hive token RPCs still work, and reloadCallers says auth is off', async () => {
    const queen = await TestQueen.start();
    try {
      await queen.catalog.registerHive({ hiveId: 'hive-a' });
      const { token } = await queen.catalog.issueHiveToken({ hiveId: 'hive-a' });
      expect(token).toMatch(/^hvt_/);
      expect(queen.queen.reloadCallers([])).toBe(false);
      await queen.connectHive('hive-a');
    } finally {
      await queen.stop();
    }
  });
});
