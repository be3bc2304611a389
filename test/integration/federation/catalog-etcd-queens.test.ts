// Several queens over one catalog in a real etcd: each sees the others' writes within 1 s and is told of them (never
// of its own), concurrent writes to one hive lose nothing, last_seen reaches etcd at a stream's end and otherwise at
// a bounded pace, a watch that fell behind a compaction recovers, and a paused etcd makes writes fail fast while
// reads go on.
import pino from 'pino';
import type { RemoteCatalogChange } from '../../../src/catalog/catalog';
import { EtcdCatalog, type EtcdCatalogOptions } from '../../../src/catalog/etcd-catalog';
import { DomainError } from '../../../src/common/domain-error';
import { Etcd3Store } from '../../../src/federation/etcd3-store';
import { EtcdProcess } from '../../helpers/etcd-process';
import { EtcdStoreProxy } from '../../helpers/etcd-store-proxy';
import { FakeWall, START_MS } from '../catalog-contract';

jest.setTimeout(30_000);

const TIMEOUT_MS = 1_000;
const PEER = 'ipv4:10.0.0.7:50123';

let etcd: EtcdProcess;
let prefixes = 0;
let wall: FakeWall;
const opened: { catalog: EtcdCatalog; store: EtcdStoreProxy }[] = [];

beforeAll(async () => {
  etcd = await EtcdProcess.start();
});
afterAll(async () => {
  await etcd.stop();
});
beforeEach(() => {
  wall = new FakeWall();
});
afterEach(async () => {
  for (const { catalog, store } of opened.splice(0)) {
    await catalog.close();
    store.close();
  }
});

function newPrefix(): string {
  prefixes += 1;
  return `/queens-${prefixes}/`;
}

interface Queen {
  readonly catalog: EtcdCatalog;
  readonly store: EtcdStoreProxy;
  /** What the catalog reported as other queens' changes, in order. */
  readonly changes: RemoteCatalogChange[];
}

/** A queen's catalog over `prefix`, with its own connection to etcd (as a queen in another process has). */
async function queen(prefix: string, options: Partial<EtcdCatalogOptions> = {}): Promise<Queen> {
  const store = new EtcdStoreProxy(new Etcd3Store({ endpoints: [etcd.endpoint], timeoutMs: TIMEOUT_MS }));
  const catalog = await EtcdCatalog.open(store, { prefix, registration: 'open', wallNow: wall.now, ...options });
  opened.push({ catalog, store });
  const changes: RemoteCatalogChange[] = [];
  catalog.onRemoteChange((change) => changes.push(change));
  return { catalog, store, changes };
}

/** Resolves with how long `check` took to hold; rejects after `timeoutMs`. */
async function within(timeoutMs: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Date.now() - started;
}

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(() => undefined, (thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

const hiveChange = (change: RemoteCatalogChange) =>
  change.kind === 'hive'
    ? { hive: change.hiveId, labels: change.record?.labels, cordoned: change.record?.cordoned, gone: change.record === undefined }
    : { token: change.tokenId, of: change.hiveId };

test("two queens see each other's writes within 1 s, told as remote changes, and never their own", async () => {
  const prefix = newPrefix();
  const a = await queen(prefix);
  const b = await queen(prefix);

  await a.catalog.register('h1', { zone: 'eu' }, 'rack 4');
  expect(await within(1_000, () => b.catalog.get('h1') !== undefined)).toBeLessThan(1_000);
  expect(b.catalog.get('h1')).toStrictEqual(a.catalog.get('h1'));

  await b.catalog.update('h1', { labels: { zone: 'us' } });
  await within(1_000, () => a.catalog.get('h1')?.labels.zone === 'us');
  await b.catalog.setCordoned('h1', true);
  await within(1_000, () => a.catalog.get('h1')?.cordoned === true);

  const first = await a.catalog.issueToken('h1');
  await within(1_000, () => b.catalog.tokens.verify(first.token) !== undefined);
  expect(await b.catalog.revokeToken('h1', first.tokenId)).toBe(true);
  await within(1_000, () => a.catalog.tokens.verify(first.token) === undefined);

  const second = await a.catalog.issueToken('h1');
  await within(1_000, () => b.catalog.tokens.verify(second.token) !== undefined);
  expect(await a.catalog.deregister('h1')).toBe(true);
  await within(1_000, () => b.catalog.get('h1') === undefined && b.catalog.tokens.size === 0);
  await new Promise((resolve) => setTimeout(resolve, 100)); // room for a stray echo of a queen's own write

  expect(a.changes.map(hiveChange)).toEqual([
    { hive: 'h1', labels: { zone: 'us' }, cordoned: false, gone: false },
    { hive: 'h1', labels: { zone: 'us' }, cordoned: true, gone: false },
    { token: first.tokenId, of: 'h1' },
  ]);
  expect(b.changes.map(hiveChange)).toEqual([
    { hive: 'h1', labels: { zone: 'eu' }, cordoned: false, gone: false },
    { hive: 'h1', labels: undefined, cordoned: undefined, gone: true },
    { token: second.tokenId, of: 'h1' },
  ]);
});

test('RegisterHive of one id on two queens at once: exactly one wins, the other is already_exists', async () => {
  const prefix = newPrefix();
  const a = await queen(prefix);
  const b = await queen(prefix);
  for (let i = 0; i < 5; i += 1) {
    const hiveId = `race-${i}`;
    const outcomes = await Promise.allSettled([
      a.catalog.register(hiveId, { by: 'a' }, ''),
      b.catalog.register(hiveId, { by: 'b' }, ''),
    ]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as DomainError] : []));
    expect(won).toHaveLength(1);
    expect(lost.map((e) => [e.reason, e.message])).toEqual([['already_exists', `hive_id: hive "${hiveId}" is already in the catalog`]]);
    const winner = won[0]?.status === 'fulfilled' ? won[0].value.labels.by : undefined;
    await within(1_000, () => a.catalog.get(hiveId)?.labels.by === winner && b.catalog.get(hiveId)?.labels.by === winner);
  }
});

test('a label update on one queen and a cordon on another, at once or from a stale copy: both survive', async () => {
  const prefix = newPrefix();
  const a = await queen(prefix);
  const b = await queen(prefix);
  await a.catalog.register('h1', {}, '');
  await within(1_000, () => b.catalog.get('h1') !== undefined);

  // b's copy is stale for sure: its watch is cut while a relabels; b's cordon loses its compare, reads, re-applies.
  b.store.cutWatches();
  await a.catalog.update('h1', { labels: { zone: 'eu' } });
  const txnsBefore = b.store.txns;
  expect(await b.catalog.setCordoned('h1', true)).toMatchObject({ labels: { zone: 'eu' }, cordoned: true });
  expect(b.store.txns - txnsBefore).toBe(2);
  b.store.restoreWatches();

  // At once, several rounds: whichever commits first, the other re-applies its change on top.
  for (let round = 0; round < 5; round += 1) {
    const zone = `z${round}`;
    const cordoned = round % 2 === 0;
    await Promise.all([a.catalog.update('h1', { labels: { zone } }), b.catalog.setCordoned('h1', cordoned)]);
    const reader = await queen(prefix);
    expect(reader.catalog.get('h1')).toMatchObject({ labels: { zone }, cordoned });
    await within(1_000, () =>
      [a, b].every((q) => q.catalog.get('h1')?.labels.zone === zone && q.catalog.get('h1')?.cordoned === cordoned),
    );
  }
});

test('last_seen reaches etcd at the first sighting, at the end of the stream, and otherwise at most every interval', async () => {
  const prefix = newPrefix();
  const a = await queen(prefix, { seenWriteIntervalMs: 30_000 });
  const b = await queen(prefix);
  await a.catalog.register('h1', {}, '');
  const { tokenId } = await a.catalog.issueToken('h1');
  const seenOnB = (): number | undefined => b.catalog.get('h1')?.lastSeenMs;

  a.catalog.seen('h1', wall.advance(1_000), PEER);
  a.catalog.tokens.used(tokenId, wall.ms);
  expect(await a.catalog.flush()).toBe(2);
  await within(1_000, () => seenOnB() === START_MS + 1_000);

  for (let i = 0; i < 3; i += 1) a.catalog.seen('h1', wall.advance(5_000), PEER);
  a.catalog.tokens.used(tokenId, wall.ms);
  expect(await a.catalog.flush()).toBe(0);
  expect(a.catalog.pendingWrites).toBe(2);
  expect(a.catalog.get('h1')?.lastSeenMs).toBe(START_MS + 16_000); // exact on the queen holding the stream

  a.catalog.seen('h1', wall.advance(15_000), PEER); // 30 s after the last write
  expect(await a.catalog.flush()).toBe(2);
  await within(1_000, () => seenOnB() === START_MS + 31_000);
  expect(b.catalog.listTokens('h1')[0]?.lastUsedAtMs).toBe(START_MS + 16_000);

  a.catalog.seen('h1', wall.advance(2_000), PEER);
  expect(await a.catalog.flush()).toBe(0);
  a.catalog.streamEnded('h1');
  expect(await a.catalog.flush()).toBe(1);
  await within(1_000, () => seenOnB() === START_MS + 33_000);
  expect(a.catalog.pendingWrites).toBe(0);

  // The last_seen write never clobbers what another queen changed meanwhile (a's copy is stale: its watch is cut).
  a.store.cutWatches();
  await b.catalog.update('h1', { labels: { zone: 'eu' } });
  await b.catalog.setCordoned('h1', true);
  a.catalog.seen('h1', wall.advance(1_000), PEER);
  a.catalog.streamEnded('h1');
  expect(await a.catalog.flush()).toBe(1);
  expect((await queen(prefix)).catalog.get('h1')).toMatchObject({ labels: { zone: 'eu' }, cordoned: true, lastSeenMs: START_MS + 34_000 });
  expect(a.catalog.get('h1')).toMatchObject({ labels: { zone: 'eu' }, cordoned: true, lastSeenMs: START_MS + 34_000 });
});

test('a queen whose watch fell behind a compaction lists again and reports what changed meanwhile', async () => {
  const prefix = newPrefix();
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => logs.push((JSON.parse(line) as { msg: string }).msg) });
  const a = await queen(prefix, { logger });
  const b = await queen(prefix);
  await b.catalog.register('h1', {}, '');
  await b.catalog.register('h2', {}, '');
  await b.catalog.register('h3', {}, '');
  const gone = await b.catalog.issueToken('h2');
  await within(1_000, () => a.catalog.tokens.verify(gone.token) !== undefined && a.catalog.size === 3);

  a.changes.length = 0;
  a.store.cutWatches();
  await b.catalog.update('h1', { labels: { zone: 'eu' } });
  await b.catalog.deregister('h2');
  await b.catalog.register('h4', {}, 'new');
  const kept = await b.catalog.issueToken('h3');
  await etcd.compact();
  a.store.restoreWatches();

  await within(2_000, () => a.catalog.get('h4') !== undefined);
  expect(logs).toContain('catalog watch fell behind a compaction of etcd; listing the catalog again');
  expect(a.catalog.list().map((r) => r.hiveId)).toEqual(['h1', 'h3', 'h4']);
  expect(a.catalog.get('h1')?.labels).toEqual({ zone: 'eu' });
  expect(a.catalog.tokens.verify(gone.token)).toBeUndefined();
  expect(a.catalog.tokens.verify(kept.token)?.hiveId).toBe('h3');
  expect(a.changes.map(hiveChange)).toEqual(
    expect.arrayContaining([
      { hive: 'h1', labels: { zone: 'eu' }, cordoned: false, gone: false },
      { hive: 'h2', labels: undefined, cordoned: undefined, gone: true },
      { token: gone.tokenId, of: 'h2' },
      { hive: 'h4', labels: {}, cordoned: false, gone: false },
    ]),
  );
  expect(a.changes).toHaveLength(4);

  // The watch goes on from the new listing.
  await b.catalog.setCordoned('h4', true);
  await within(1_000, () => a.catalog.get('h4')?.cordoned === true);
});

test('etcd paused: writes reject unavailable within the timeout while reads answer; resumed, writes work again', async () => {
  const prefix = newPrefix();
  const a = await queen(prefix);
  await a.catalog.register('h1', { zone: 'eu' }, '');
  const { token } = await a.catalog.issueToken('h1');
  a.catalog.seen('h1', wall.advance(1_000), PEER);

  etcd.pause();
  try {
    const started = Date.now();
    const error = await rejection(a.catalog.update('h1', { labels: { zone: 'us' } }));
    const elapsedMs = Date.now() - started;
    expect(error.reason).toBe('unavailable');
    expect(error.message).toMatch(new RegExp(`^catalog: etcd \\(http://127\\.0\\.0\\.1:\\d+\\) did not commit the write within ${TIMEOUT_MS} ms`));
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 1_000);
    expect((await rejection(a.catalog.flush())).reason).toBe('unavailable');
    expect(a.catalog.pendingWrites).toBe(1);
    expect(a.catalog.get('h1')).toMatchObject({ labels: { zone: 'eu' }, lastSeenMs: START_MS + 1_000 });
    expect(a.catalog.list({ zone: 'eu' }).map((r) => r.hiveId)).toEqual(['h1']);
    expect(a.catalog.tokens.verify(token)?.hiveId).toBe('h1');
    expect(a.catalog.refusal('h1')).toBeUndefined();
  } finally {
    etcd.resume();
  }

  // Nothing restarted: the same catalog and connection write again as soon as etcd answers.
  let flushed: number | undefined;
  const recoveredInMs = await retryUntilWritten(async () => (flushed = await a.catalog.flush()));
  expect(recoveredInMs).toBeLessThan(10_000);
  expect(flushed).toBe(1);
  await a.catalog.update('h1', { labels: { zone: 'us' } });
  expect((await queen(prefix)).catalog.get('h1')).toMatchObject({ labels: { zone: 'us' }, lastSeenMs: START_MS + 1_000 });
});

/** Retries `write` while it rejects unavailable (etcd just resumed); resolves with how long it took. */
async function retryUntilWritten(write: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      await write();
      return Date.now() - started;
    } catch (error) {
      if (!(error instanceof DomainError && error.reason === 'unavailable') || Date.now() - started > 10_000) throw error;
    }
  }
}
