// A queen given a catalog already open (QueenOptions.catalog, as a federation's etcd catalog will be): it serves
// from it instead of opening --db, tells it when a hive's stream ends, applies the changes other queens make to it
// as the catalog RPCs would on this queen, and closes it on stop.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import type { RemoteCatalogChange } from '../../src/catalog/catalog';
import { IN_MEMORY } from '../../src/catalog/catalog-store';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog';
import { ManualClock } from '../../src/common/manual-clock';
import type { Caller } from '../../src/server/callers';
import { eventually, expectRpcError, expectStatus } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

const MODEL = 'org/llama-3-8b';
const ADMIN_TOKEN = 'admin-token-for-tests';
const CALLERS: Caller[] = [{ name: 'ops', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest() }];

/** A SQLite catalog standing in for a shared one: the test plays the other queens through `remote`. */
class SharedCatalogDouble extends SqliteCatalog {
  readonly ended: string[] = [];
  closed = false;
  private readonly listeners = new Set<(change: RemoteCatalogChange) => void>();

  override get location(): string {
    return 'shared test catalog';
  }

  override streamEnded(hiveId: string): void {
    this.ended.push(hiveId);
  }

  override onRemoteChange(listener: (change: RemoteCatalogChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
  }

  /** Another queen changed the catalog: changes it underneath, then tells the listeners as a shared store would. */
  remote(change: RemoteCatalogChange): void {
    for (const listener of this.listeners) listener(change);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}

function double(): SharedCatalogDouble {
  const clock = new ManualClock();
  return new SharedCatalogDouble(SqliteCatalog.open(IN_MEMORY, () => clock.wallNow(), 'open').hives);
}

describe('a queen given a catalog', () => {
  let dir: string;
  let catalog: SharedCatalogDouble;
  let q: TestQueen | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'catalog-given-'));
    catalog = double();
  });

  afterEach(async () => {
    await q?.stop();
    q = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  test('serves it instead of opening --db, logs where it lives, and closes it on stop', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const db = join(dir, 'never', 'catalog.db');
    q = await TestQueen.start({ db }, pino({ level: 'info' }, sink), { catalog });
    expect(q.queen.catalog).toBe(catalog);
    expect(lines.find((line) => line.msg === 'hive-registry serving')).toMatchObject({ catalog: 'shared test catalog' });
    await q.catalog.registerHive({ hiveId: 'hive-a', labels: { zone: 'eu' } });
    expect(catalog.get('hive-a')?.labels).toEqual({ zone: 'eu' });
    expect(catalog.subscribers).toBe(1);

    await q.stop();
    q = undefined;
    expect(catalog.closed).toBe(true);
    expect(catalog.subscribers).toBe(0);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  test('a failed start leaves the catalog to the caller: open, and no longer listened to', async () => {
    await expect(TestQueen.start({}, undefined, { catalog, hostName: 'bad host' })).rejects.toThrow(/--queen-id/);
    expect(catalog.subscribers).toBe(0);
    expect(catalog.closed).toBe(false);
    expect(await catalog.register('hive-a', {}, '')).toMatchObject({ hiveId: 'hive-a' });
  });

  test("another queen's label and cordon changes reach the scheduler; its deregistration ends the hive's stream here", async () => {
    q = await TestQueen.start({}, undefined, { catalog });
    const stream = await q.connectHive('hive-a', [wireWorker('w', { modelId: MODEL })]);
    const best = async (selector: Record<string, string> = {}) =>
      (await q!.rpc.findBestWorkerForModel({ modelId: MODEL, selector })).entry?.worker?.workerId;
    expect(await best()).toBe('w');

    const labelled = catalog.hives.update('hive-a', { labels: { zone: 'eu' } });
    catalog.remote({ kind: 'hive', hiveId: 'hive-a', record: labelled });
    expect(await best({ zone: 'eu' })).toBe('w');

    const cordoned = catalog.hives.setCordoned('hive-a', true);
    catalog.remote({ kind: 'hive', hiveId: 'hive-a', record: cordoned });
    await expectRpcError(q.rpc.findBestWorkerForModel({ modelId: MODEL }), status.UNAVAILABLE, /not cordoned/);

    catalog.hives.deregister('hive-a');
    catalog.remote({ kind: 'hive', hiveId: 'hive-a', record: undefined });
    expectStatus(await stream.status, status.ABORTED, /hive "hive-a" was deregistered from the catalog/);
    await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
  });

  test('a hive token revoked by another queen ends the streams opened with it, with UNAUTHENTICATED', async () => {
    q = await TestQueen.start({ callers: CALLERS }, undefined, { catalog });
    const admin = q.newClient(ADMIN_TOKEN);
    await admin.catalog.registerHive({ hiveId: 'hive-a' });
    const { token, tokenId } = await admin.catalog.issueHiveToken({ hiveId: 'hive-a' });
    const stream = q.newClient(token).heartbeat();
    expect((await stream.send(snapshotPayload('hive-a', 1, []))).accepted).toBe(true);

    expect(catalog.hives.revokeToken('hive-a', tokenId)).toBe(true);
    catalog.remote({ kind: 'token_revoked', hiveId: 'hive-a', tokenId });
    expectStatus(await stream.status, status.UNAUTHENTICATED, new RegExp(`hive token "${tokenId}" of this stream was revoked`));
  });

  test("is told once when a hive's stream ends, not when a newer stream of this queen supersedes it", async () => {
    q = await TestQueen.start({}, undefined, { catalog });
    const first = await q.connectHive('hive-a');
    const second = await q.connectHive('hive-a');
    expectStatus(await first.status, status.ABORTED, /superseded/);
    const unbound = q.client.heartbeat();
    unbound.cancel();
    await unbound.status;
    expect(catalog.ended).toEqual([]);

    second.end();
    expect(await eventually(async () => catalog.ended.length > 0)).toBe(true);
    expect(catalog.ended).toEqual(['hive-a']);
  });
});
