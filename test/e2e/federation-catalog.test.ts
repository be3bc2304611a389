// The catalog of a federation lives in etcd: written through one real queen, read on the others within 1 s, with
// the same codes as on one queen; labels, cordon and hive tokens change scheduling and admission on every queen.
// The queens run with authentication and --registration required, as a federation on a network would.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { CLI } from '../helpers/cli-process';
import { expectRpcError, expectStatus, type QueenClient } from '../helpers/client';
import { EtcdProcess, etcdAvailable } from '../helpers/etcd-process';
import { ownersOn, QueenFleet } from '../helpers/queen-fleet';
import type { QueenProcess } from '../helpers/queen-process';
import { holdsFor, waitFor } from '../helpers/wait-for';
import { run } from '../helpers/run';
import { within } from '../helpers/watch-events';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

jest.setTimeout(60_000);

if (!etcdAvailable()) throw new Error('these tests need etcd (apt-get install etcd-server)');

/** The contract: a catalog write made on one queen is readable on the others within 1 s. */
const CATALOG_SPREAD_MS = 1_000;
/** What polling and a loaded machine add to a measured spread. */
const SLACK_MS = 500;

const ADMIN_TOKEN = randomBytes(24).toString('hex');
let etcd: EtcdProcess;
let dir: string;
let authFile: string;
let adminTokenFile: string;
let fleet: QueenFleet | undefined;
let prefixes = 0;

beforeAll(async () => {
  etcd = await EtcdProcess.start();
  dir = mkdtempSync(join(tmpdir(), 'hive-fed-auth-'));
  authFile = join(dir, 'auth.json');
  const hash = createHash('sha256').update(ADMIN_TOKEN).digest('hex');
  writeFileSync(authFile, JSON.stringify({ callers: [{ name: 'ops', role: 'admin', token_sha256: hash }] }), { mode: 0o600 });
  adminTokenFile = join(dir, 'ops.token');
  writeFileSync(adminTokenFile, ADMIN_TOKEN, { mode: 0o600 });
});
afterAll(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

async function startFleet(): Promise<QueenFleet> {
  prefixes += 1;
  fleet = await QueenFleet.start(etcd, `/e2e-catalog-${prefixes}/`, {
    args: ['--auth-file', authFile, '--registration', 'required'],
    token: ADMIN_TOKEN,
  });
  return fleet;
}

/** How long until `read` succeeds on every one of `queens` (polled every 20 ms). */
async function spread(queens: readonly QueenProcess[], what: string, read: (queen: QueenProcess) => Promise<boolean>): Promise<number> {
  const results = await Promise.all(queens.map((queen) => waitFor(`${what} on ${queen.id}`, () => read(queen), (ok) => ok, 5_000, 20)));
  return Math.max(...results.map((r) => r.ms));
}

test('catalog writes on one queen are read on the others within 1 s, with the codes of a single queen', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  const spreads: Record<string, number> = {};

  const { hive: registered } = await q1.catalog.registerHive({ hiveId: 'cat-1', labels: { zone: 'eu-1' }, description: 'rack 4' });
  expect(registered).toMatchObject({ hiveId: 'cat-1', labels: { zone: 'eu-1' }, description: 'rack 4' });
  spreads.register = await spread([q2, q3], 'cat-1 registered', async (q) => (await q.catalog.getCatalogHive({ hiveId: 'cat-1' })).hive?.description === 'rack 4');
  await expectRpcError(q3.catalog.registerHive({ hiveId: 'cat-1' }), status.ALREADY_EXISTS, /cat-1/);
  await q3.catalog.registerHive({ hiveId: 'cat-2', labels: { zone: 'us-1' } });

  await q2.catalog.updateHive({
    hive: { hiveId: 'cat-2', labels: { zone: 'eu-1', gpu: 'h100' } },
    updateMask: create(FieldMaskSchema, { paths: ['labels'] }),
  });
  spreads.update = await spread([q1, q3], 'cat-2 relabelled', async (q) =>
    (await q.catalog.listCatalogHives({ selector: { zone: 'eu-1' } })).hives.map((h) => h.hiveId).join() === 'cat-1,cat-2',
  );
  await expectRpcError(
    q1.catalog.updateHive({ hive: { hiveId: 'nowhere', description: 'x' }, updateMask: create(FieldMaskSchema, { paths: ['description'] }) }),
    status.NOT_FOUND,
    /nowhere/,
  );
  const lists = await Promise.all(queens.map(async (q) => (await q.catalog.listCatalogHives({ selector: { gpu: 'h100' } })).hives));
  for (const list of lists) expect(list.map((h) => [h.hiveId, h.labels])).toEqual([['cat-2', { zone: 'eu-1', gpu: 'h100' }]]);

  expect(await q3.catalog.deregisterHive({ hiveId: 'cat-1' })).toMatchObject({ removed: true });
  spreads.deregister = await spread([q1, q2], 'cat-1 deregistered', async (q) => {
    try {
      await q.catalog.getCatalogHive({ hiveId: 'cat-1' });
      return false;
    } catch (error) {
      return (error as { code?: number }).code === status.NOT_FOUND;
    }
  });
  expect(await q1.catalog.deregisterHive({ hiveId: 'cat-1' })).toMatchObject({ removed: false });

  for (const [what, ms] of Object.entries(spreads)) expect({ what, ms: Math.min(ms, CATALOG_SPREAD_MS + SLACK_MS) }).toEqual({ what, ms });
  console.log(`catalog spread (ms): ${JSON.stringify(spreads)}`);
});

test('a token issued on q1 admits a hive on q2; a revoke on q3 ends the stream on the queen that holds it', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  await q1.catalog.registerHive({ hiveId: 'tok-1' });
  // The operator's command against q1, as typed: the token alone on stdout.
  const issued = await run(process.execPath, [CLI, 'catalog', 'issue-token', 'tok-1', '--queen', q1.address, '--token-file', adminTokenFile]);
  expect(issued.code).toBe(0);
  const tokenFile = fleet!.writeFile('tok-1.token', issued.stdout.trim());
  const agent = fleet!.agent('tok-1', ['--simulate', '1', '--steady', '--token-file', tokenFile], [q2]);
  await waitFor('tok-1 online on q2, everywhere', () => ownersOn(queens, 'tok-1'), (o) => o.every((x) => x === 'q2'), 10_000);
  const listed = (await q3.catalog.listHiveTokens({ hiveId: 'tok-1' })).tokens;
  expect(listed).toHaveLength(1);
  const tokenId = listed[0]!.tokenId;

  // A stream on q1 with a token issued on q2 for another hive.
  await q1.catalog.registerHive({ hiveId: 'tok-2' });
  const second = await q2.catalog.issueHiveToken({ hiveId: 'tok-2' });
  const hiveClient: QueenClient = q1.newClient();
  const stream = hiveClient.heartbeat(second.token);
  await waitFor('tok-2 admitted on q1', async () => {
    const ack = await stream.send(snapshotPayload('tok-2', 1, [wireWorker('tok-2-w0')]));
    return ack.accepted;
  }, (ok) => ok, 3_000);

  // Revoked on q3: q1 ends its stream, q2 ends the agent's.
  expect(await q3.catalog.revokeHiveToken({ hiveId: 'tok-2', tokenId: second.tokenId })).toMatchObject({ revoked: true });
  expectStatus(await within(stream.status, 3_000, 'the end of the tok-2 stream on q1'), status.UNAUTHENTICATED);
  expect(await q3.catalog.revokeHiveToken({ hiveId: 'tok-1', tokenId })).toMatchObject({ revoked: true });
  await waitFor('tok-1 offline everywhere', () => ownersOn(queens, 'tok-1'), (o) => o.every((x) => x === 'offline'), 5_000);
  // The agent keeps trying with its revoked token, and is refused.
  await holdsFor('tok-1 offline everywhere', () => ownersOn(queens, 'tok-1'), (o) => o.every((x) => x === 'offline'), 1_500);
  expect(agent.child.exitCode).toBeNull();
  expect((await q2.catalog.listHiveTokens({ hiveId: 'tok-1' })).tokens).toEqual([]);
  // A hive token opens only its own hive's stream, whichever queen issued it and whichever queen is asked.
  const third = await q1.catalog.issueHiveToken({ hiveId: 'tok-1' });
  const stranger = q3.newClient().heartbeat(third.token);
  const refused = await stranger.send(snapshotPayload('stranger', 1, [wireWorker('stranger-w0')]));
  expect(refused.accepted).toBe(false);
  expectStatus(await within(stranger.status, 3_000, 'the end of the stranger stream'), status.PERMISSION_DENIED);
});

test('a cordon on q2 stops q3 from picking the hive\'s workers; labels set on q1 steer q3\'s selector picks', async () => {
  const { queens } = await startFleet();
  const [q1, q2, q3] = queens as [QueenProcess, QueenProcess, QueenProcess];
  const model = 'meta/llama-3-8b';
  // Two hives with the model: c1's worker is the less loaded, so the one picked. Each is registered on the queen it
  // streams to: a token issued elsewhere may take up to the catalog's spread to be known there.
  for (const [hiveId, queen, gpuPercent] of [['c1', q1, 10], ['c2', q2, 60]] as const) {
    await queen.catalog.registerHive({ hiveId });
    const { token } = await queen.catalog.issueHiveToken({ hiveId });
    const stream = queen.newClient().heartbeat(token);
    const ack = await stream.send(snapshotPayload(hiveId, 1, [wireWorker(`${hiveId}-w0`, { modelId: model, gpuPercent })]));
    expect(ack.accepted).toBe(true);
  }
  const bestOn = async (queen: QueenProcess, selector: Record<string, string> = {}): Promise<string> => {
    try {
      return (await queen.rpc.findBestWorkerForModel({ modelId: model, selector })).entry?.worker?.workerId ?? 'none';
    } catch (error) {
      return `error ${(error as { code?: number }).code}`;
    }
  };
  await waitFor('q3 picks c1-w0', () => bestOn(q3), (w) => w === 'c1-w0', 5_000);

  await q2.catalog.cordonHive({ hiveId: 'c1' });
  const cordoned = await waitFor('q3 picks c2-w0 once c1 is cordoned', () => bestOn(q3), (w) => w === 'c2-w0', 5_000, 20);
  expect((await q3.catalog.getCatalogHive({ hiveId: 'c1' })).hive?.cordoned).toBe(true);
  // Still listed, only never picked.
  expect((await q3.rpc.findWorkersByModel({ modelId: model })).workers.map((e) => e.worker?.workerId)).toEqual(['c1-w0', 'c2-w0']);
  await q1.catalog.uncordonHive({ hiveId: 'c1' });
  const uncordoned = await waitFor('q3 picks c1-w0 again', () => bestOn(q3), (w) => w === 'c1-w0', 5_000, 20);

  await q1.catalog.updateHive({ hive: { hiveId: 'c2', labels: { zone: 'eu-1' } }, updateMask: create(FieldMaskSchema, { paths: ['labels'] }) });
  const labelled = await waitFor('q3 picks c2-w0 for zone=eu-1', () => bestOn(q3, { zone: 'eu-1' }), (w) => w === 'c2-w0', 5_000, 20);
  expect(await bestOn(q2, { zone: 'eu-1' })).toBe('c2-w0');
  expect(await bestOn(q3)).toBe('c1-w0');

  for (const { ms } of [cordoned, uncordoned, labelled]) expect(ms).toBeLessThanOrEqual(CATALOG_SPREAD_MS + SLACK_MS);
  console.log(`scheduling follows the catalog after (ms): cordon ${cordoned.ms}, uncordon ${uncordoned.ms}, labels ${labelled.ms}`);
});
