import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema, timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import pino from 'pino';
import { HiveCatalog as HiveCatalogService, type CatalogHive } from '../../gen/hive/v1/catalog_pb';
import { IN_MEMORY } from '../../src/catalog/catalog-store';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog';
import type { CatalogRecord } from '../../src/catalog/types';
import { createRegistryClient } from '../../src/client/registry-client';
import { ManualClock } from '../../src/common/manual-clock';
import { HiveRegistry } from '../../src/registry/hive-registry';
import { catalogService, type CatalogHooks } from '../../src/server/catalog-service';
import { grpcServiceDefinition } from '../../src/server/grpc-service';
import { HeartbeatStreams } from '../../src/server/heartbeat-streams';
import { eventually, expectRpcError, expectStatus, QueenClient } from '../helpers/client';
import { TestQueen } from '../helpers/queen';
import { snapshotPayload, wireWorker } from '../helpers/wire-builders';

/** Malformed hive ids, each with what the message must say about a field named `field`. */
function badHiveIds(field: string): (readonly [label: string, hiveId: string, details: RegExp])[] {
  const f = field.replace(/\./g, '\\.');
  return [
    ['empty', '', new RegExp(`^${f}: must not be empty`)],
    ['129 characters', 'h'.repeat(129), new RegExp(`^${f}: must be at most 128 characters, got 129`)],
    ['a space', 'hive 1', new RegExp(`^${f}: must contain only the characters \\[A-Za-z0-9._:-\\]`)],
  ];
}

/** Labels that break one rule each, with what the message must say (the field is named `field`). */
function badLabels(field: string): (readonly [label: string, labels: Record<string, string>, details: RegExp])[] {
  const f = field.replace(/\./g, '\\.');
  return [
    ['an empty key', { '': 'x' }, new RegExp(`^${f}: keys must not be empty`)],
    ['a key with a space', { 'gpu kind': 'a100' }, new RegExp(`^${f}: key "gpu kind" must contain only`)],
    ['a 64-character key', { ['k'.repeat(64)]: 'v' }, new RegExp(`^${f}: key "k+" must be at most 63 characters, got 64`)],
    ['a value with a slash', { gpu: 'nvidia/a100' }, new RegExp(`^${f}\\["gpu"\\]: value must contain only`)],
    ['a 64-character value', { gpu: 'v'.repeat(64) }, new RegExp(`^${f}\\["gpu"\\]: value must be at most 63 characters, got 64`)],
    [
      '65 labels',
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
      new RegExp(`^${f}: at most 64 entries, got 65`),
    ],
  ];
}

const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });

/** The fields of a CatalogHive a test compares as a whole. */
function summary(hive: CatalogHive | undefined) {
  return {
    hiveId: hive?.hiveId,
    labels: hive?.labels,
    description: hive?.description,
    online: hive?.online,
    cordoned: hive?.cordoned,
  };
}

const ms = (t: Timestamp | undefined): number | undefined => (t === undefined ? undefined : timestampMs(t));

describe('HiveCatalog RPCs', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start({ catalogFlushIntervalMs: 3_600_000 });
  });

  afterEach(async () => {
    await q.stop();
  });

  describe('RegisterHive', () => {
    it('returns the hive: labels, description, created_at = updated_at = the queen wall clock, never seen', async () => {
      q.clock.advance(12_345);
      const nowMs = q.clock.wallNow();

      const { hive } = await q.catalog.registerHive({
        hiveId: 'hive-a',
        labels: { gpu: 'a100', 'topology.kubernetes.io/zone': 'eu-west-1a', empty: '' },
        description: 'rack 3, slot 7',
      });

      expect(summary(hive)).toEqual({
        hiveId: 'hive-a',
        labels: { gpu: 'a100', 'topology.kubernetes.io/zone': 'eu-west-1a', empty: '' },
        description: 'rack 3, slot 7',
        online: false,
        cordoned: false,
      });
      expect(hive?.createdAt).toEqual(timestampFromMs(nowMs));
      expect(hive?.updatedAt).toEqual(timestampFromMs(nowMs));
      expect(hive?.lastSeen).toBeUndefined();
      expect(hive?.lastPeer).toBe('');
      // The registry learns of a hive from its heartbeats, not from the catalog.
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
    });

    it('accepts the limits: a 128-character id, 64 labels, 63-character key and value, 1024-character description', async () => {
      const labels = Object.fromEntries(Array.from({ length: 63 }, (_, i) => [`k${i}`, 'v']));
      labels['k'.repeat(63)] = 'v'.repeat(63);
      const { hive } = await q.catalog.registerHive({
        hiveId: 'h'.repeat(128),
        labels,
        description: 'd'.repeat(1024),
      });
      expect(Object.keys(hive?.labels ?? {}).length).toBe(64);
      expect(hive?.description.length).toBe(1024);
    });

    it('answers ALREADY_EXISTS on a second register, and keeps the first one', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' }, description: 'first' });
      await expectRpcError(
        q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'h100' }, description: 'second' }),
        status.ALREADY_EXISTS,
        /^hive_id: hive "hive-a" is already in the catalog/,
      );
      const { hive } = await q.catalog.getCatalogHive({ hiveId: 'hive-a' });
      expect({ labels: hive?.labels, description: hive?.description }).toEqual({
        labels: { gpu: 'a100' },
        description: 'first',
      });
    });

    it.each(badHiveIds('hive_id'))('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_l, hiveId, details) => {
      await expectRpcError(q.catalog.registerHive({ hiveId }), status.INVALID_ARGUMENT, details);
      expect((await q.catalog.listCatalogHives()).hives).toEqual([]);
    });

    it.each(badLabels('labels'))('rejects labels with %s: INVALID_ARGUMENT naming labels', async (_l, labels, details) => {
      await expectRpcError(q.catalog.registerHive({ hiveId: 'hive-a', labels }), status.INVALID_ARGUMENT, details);
      await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
    });

    it('rejects a description over 1024 characters: INVALID_ARGUMENT naming description', async () => {
      await expectRpcError(
        q.catalog.registerHive({ hiveId: 'hive-a', description: 'd'.repeat(1025) }),
        status.INVALID_ARGUMENT,
        /^description: must be at most 1024 characters, got 1025/,
      );
      await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
    });
  });

  describe('GetCatalogHive', () => {
    it('returns a registered hive as RegisterHive returned it', async () => {
      const registered = await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' }, description: 'x' });
      q.clock.advance(5_000);
      const { hive } = await q.catalog.getCatalogHive({ hiveId: 'hive-a' });
      expect(hive).toEqual(registered.hive);
    });

    it('answers NOT_FOUND naming the hive', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a' });
      await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-b' }), status.NOT_FOUND, /^hive_id: no hive "hive-b"/);
    });

    it.each(badHiveIds('hive_id'))('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_l, hiveId, details) => {
      await expectRpcError(q.catalog.getCatalogHive({ hiveId }), status.INVALID_ARGUMENT, details);
    });

    it('a connected hive is online with last_seen = the receive time and its peer address; after its stream ends, offline with last_seen kept', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
      q.clock.advance(7_000);
      const stream = q.client.heartbeat();
      const ack = await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w-1')]));
      expect({ accepted: ack.accepted, error: ack.error }).toEqual({ accepted: true, error: '' });
      const receivedMs = q.clock.wallNow();
      expect(ms(ack.receivedAt)).toBe(receivedMs);

      const online = (await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive;
      expect(summary(online)).toEqual({
        hiveId: 'hive-a',
        labels: { gpu: 'a100' },
        description: '',
        online: true,
        cordoned: false,
      });
      expect(ms(online?.lastSeen)).toBe(receivedMs);
      expect(online?.lastPeer).toMatch(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d{1,5}$/);
      // Being seen is not an operator change.
      expect(ms(online?.updatedAt)).toBe(receivedMs - 7_000);

      q.clock.advance(3_000);
      stream.end();
      expectStatus(await stream.status, status.OK);

      const offline = (await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive;
      expect(offline?.online).toBe(false);
      expect(ms(offline?.lastSeen)).toBe(receivedMs);
      expect(offline?.lastPeer).toBe(online?.lastPeer);
    });

    it('a client cancel takes the hive offline (once the cancel reaches the server), last_seen kept', async () => {
      const stream = await q.connectHive('hive-a');
      const seenMs = q.clock.wallNow();
      stream.cancel();
      expectStatus(await stream.status, status.CANCELLED);
      // The cancel reaches the server asynchronously: poll, bounded. The clock does not move.
      const offline = await eventually(async () => (await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive?.online === false);
      expect(offline).toBe(true);
      expect(ms((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive?.lastSeen)).toBe(seenMs);
    });

    it('last_seen follows every accepted payload, and not a rejected one', async () => {
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      q.clock.advance(2_000);
      const second = await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w-1')]));
      expect(second.accepted).toBe(true);
      q.clock.advance(2_000);
      const rejected = await stream.send(snapshotPayload('hive-a', 2, [wireWorker('w-1')])); // sequence not increasing
      expect(rejected.accepted).toBe(false);
      const { hive } = await q.catalog.getCatalogHive({ hiveId: 'hive-a' });
      expect(ms(hive?.lastSeen)).toBe(ms(second.receivedAt));
    });

    it('a hive silent past the offline threshold reads online=false even though its stream is open', async () => {
      const stream = await q.connectHive('hive-a');
      q.clock.advance(q.config.offlineAfterMs);
      expect((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive?.online).toBe(false);
      expect(stream.ended).toBe(false);
    });
  });

  describe('ListCatalogHives', () => {
    beforeEach(async () => {
      await q.catalog.registerHive({ hiveId: 'hive-c', labels: { gpu: 'a100', zone: 'eu' } });
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100', zone: 'us' } });
      await q.catalog.registerHive({ hiveId: 'hive-b', labels: { gpu: 'h100', zone: 'eu' } });
      await q.catalog.registerHive({ hiveId: 'hive-B', labels: {} }); // 'B' < 'a': byte order, not locale order
    });

    const ids = (hives: CatalogHive[]) => hives.map((h) => h.hiveId);

    it('with an empty selector lists every hive, sorted by hive_id; offline and never-seen included', async () => {
      const gone = await q.connectHive('hive-c');
      gone.end();
      expectStatus(await gone.status, status.OK);
      await q.connectHive('hive-a');

      const { hives } = await q.catalog.listCatalogHives({});

      expect(hives.map((h) => [h.hiveId, h.online, h.lastSeen !== undefined])).toEqual([
        ['hive-B', false, false],
        ['hive-a', true, true],
        ['hive-b', false, false],
        ['hive-c', false, true],
      ]);
    });

    it('with a selector lists the hives matching every entry', async () => {
      expect(ids((await q.catalog.listCatalogHives({ selector: { gpu: 'a100' } })).hives)).toEqual(['hive-a', 'hive-c']);
      expect(ids((await q.catalog.listCatalogHives({ selector: { zone: 'eu' } })).hives)).toEqual(['hive-b', 'hive-c']);
      expect(ids((await q.catalog.listCatalogHives({ selector: { gpu: 'a100', zone: 'eu' } })).hives)).toEqual([
        'hive-c',
      ]);
      expect(ids((await q.catalog.listCatalogHives({ selector: { gpu: 'a100', zone: 'asia' } })).hives)).toEqual([]);
      // A key the hive lacks never matches, not even an empty value.
      expect(ids((await q.catalog.listCatalogHives({ selector: { rack: '' } })).hives)).toEqual([]);
    });

    it('returns each hive in full (labels and description)', async () => {
      await q.catalog.updateHive({ hive: { hiveId: 'hive-b', description: 'spare' }, updateMask: mask('description') });
      const { hives } = await q.catalog.listCatalogHives({ selector: { gpu: 'h100' } });
      expect(hives.map(summary)).toEqual([
        { hiveId: 'hive-b', labels: { gpu: 'h100', zone: 'eu' }, description: 'spare', online: false, cordoned: false },
      ]);
    });

    it('is empty for an empty catalog', async () => {
      for (const hiveId of ['hive-a', 'hive-b', 'hive-B', 'hive-c']) {
        expect((await q.catalog.deregisterHive({ hiveId })).removed).toBe(true);
      }
      expect((await q.catalog.listCatalogHives({})).hives).toEqual([]);
    });

    it.each([
      ['a key with a space', { 'bad key': 'x' }, /^selector: key "bad key" must contain only/],
      ['an empty key', { '': 'x' }, /^selector: keys must not be empty/],
      ['a bad value', { gpu: 'a 100' }, /^selector\["gpu"\]: value must contain only/],
    ])('rejects a selector with %s: INVALID_ARGUMENT naming selector', async (_l, selector, details) => {
      await expectRpcError(q.catalog.listCatalogHives({ selector }), status.INVALID_ARGUMENT, details);
    });
  });

  describe('UpdateHive', () => {
    beforeEach(async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100', zone: 'eu' }, description: 'old' });
    });

    const current = async () => summary((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive);

    it('mask labels: replaces the whole map and keeps the description', async () => {
      const { hive } = await q.catalog.updateHive({
        hive: { hiveId: 'hive-a', labels: { gpu: 'h100' }, description: 'ignored' },
        updateMask: mask('labels'),
      });
      const expected = { hiveId: 'hive-a', labels: { gpu: 'h100' }, description: 'old', online: false, cordoned: false };
      expect(summary(hive)).toEqual(expected);
      expect(await current()).toEqual(expected);
    });

    it('mask labels with empty labels clears them', async () => {
      const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a' }, updateMask: mask('labels') });
      expect({ labels: hive?.labels, description: hive?.description }).toEqual({ labels: {}, description: 'old' });
    });

    it('mask description: changes it and keeps the labels', async () => {
      const { hive } = await q.catalog.updateHive({
        hive: { hiveId: 'hive-a', labels: { ignored: 'yes' }, description: 'new' },
        updateMask: mask('description'),
      });
      const expected = { hiveId: 'hive-a', labels: { gpu: 'a100', zone: 'eu' }, description: 'new', online: false, cordoned: false };
      expect(summary(hive)).toEqual(expected);
      expect(await current()).toEqual(expected);
    });

    it('mask *: sets both, and empty values clear them', async () => {
      const both = await q.catalog.updateHive({
        hive: { hiveId: 'hive-a', labels: { rack: 'r7' }, description: 'new' },
        updateMask: mask('*'),
      });
      expect({ labels: both.hive?.labels, description: both.hive?.description }).toEqual({
        labels: { rack: 'r7' },
        description: 'new',
      });
      const cleared = await q.catalog.updateHive({ hive: { hiveId: 'hive-a' }, updateMask: mask('*') });
      expect({ labels: cleared.hive?.labels, description: cleared.hive?.description }).toEqual({
        labels: {},
        description: '',
      });
      expect(await current()).toMatchObject({ labels: {}, description: '' });
    });

    it('no mask: updates only the populated fields (description only)', async () => {
      const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a', description: 'new' } });
      expect({ labels: hive?.labels, description: hive?.description }).toEqual({
        labels: { gpu: 'a100', zone: 'eu' },
        description: 'new',
      });
    });

    it('no mask: updates only the populated fields (labels only)', async () => {
      const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { gpu: 'h100' } } });
      expect({ labels: hive?.labels, description: hive?.description }).toEqual({
        labels: { gpu: 'h100' },
        description: 'old',
      });
    });

    it('no mask and nothing populated: INVALID_ARGUMENT naming update_mask, nothing changed', async () => {
      await expectRpcError(q.catalog.updateHive({ hive: { hiveId: 'hive-a' } }), status.INVALID_ARGUMENT, /^update_mask: /);
      expect(await current()).toMatchObject({ labels: { gpu: 'a100', zone: 'eu' }, description: 'old' });
    });

    it.each([
      [['online'], 0],
      [['cordoned'], 0],
      [['labels.gpu'], 0],
      [['nope'], 0],
      [['description', 'last_seen'], 1],
    ])('mask %j: INVALID_ARGUMENT naming update_mask.paths[%d], nothing changed', async (paths, index) => {
      await expectRpcError(
        q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: {}, description: 'new', online: true }, updateMask: mask(...paths) }),
        status.INVALID_ARGUMENT,
        new RegExp(`^update_mask\\.paths\\[${index}\\]: "${(paths[index] ?? '').replace(/\./g, '\\.')}" cannot be updated`),
      );
      expect(await current()).toMatchObject({ labels: { gpu: 'a100', zone: 'eu' }, description: 'old', online: false });
    });

    it('missing hive: INVALID_ARGUMENT naming hive', async () => {
      await expectRpcError(q.catalog.updateHive({ updateMask: mask('description') }), status.INVALID_ARGUMENT, /^hive: must be set/);
    });

    it.each(badHiveIds('hive.hive_id'))(
      'rejects a hive.hive_id with %s: INVALID_ARGUMENT naming hive.hive_id',
      async (_l, hiveId, details) => {
        await expectRpcError(
          q.catalog.updateHive({ hive: { hiveId, description: 'x' }, updateMask: mask('description') }),
          status.INVALID_ARGUMENT,
          details,
        );
      },
    );

    it('unknown hive: NOT_FOUND naming it', async () => {
      await expectRpcError(
        q.catalog.updateHive({ hive: { hiveId: 'hive-x', description: 'x' }, updateMask: mask('description') }),
        status.NOT_FOUND,
        /"hive-x"/,
      );
      await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-x' }), status.NOT_FOUND, /hive-x/);
    });

    it('moves updated_at to the queen wall clock and leaves created_at', async () => {
      const createdMs = q.clock.wallNow();
      q.clock.advance(60_000);
      const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a', description: 'new' } });
      expect({ created: ms(hive?.createdAt), updated: ms(hive?.updatedAt) }).toEqual({
        created: createdMs,
        updated: createdMs + 60_000,
      });
      const read = (await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive;
      expect({ created: ms(read?.createdAt), updated: ms(read?.updatedAt) }).toEqual({
        created: createdMs,
        updated: createdMs + 60_000,
      });
    });

    it('keeps last_seen, last_peer and online of a connected hive', async () => {
      await q.connectHive('hive-a');
      const seenMs = q.clock.wallNow();
      const before = (await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive;
      q.clock.advance(1_000);
      const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a', description: 'new' } });
      expect({ online: hive?.online, lastSeen: ms(hive?.lastSeen), lastPeer: hive?.lastPeer }).toEqual({
        online: true,
        lastSeen: seenMs,
        lastPeer: before?.lastPeer,
      });
    });

    it.each(badLabels('hive.labels'))(
      'rejects hive.labels with %s: INVALID_ARGUMENT naming hive.labels',
      async (_l, labels, details) => {
        await expectRpcError(
          q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels }, updateMask: mask('labels') }),
          status.INVALID_ARGUMENT,
          details,
        );
        expect(await current()).toMatchObject({ labels: { gpu: 'a100', zone: 'eu' } });
      },
    );

    it('rejects bad hive.labels without a mask too', async () => {
      await expectRpcError(
        q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { 'a b': 'c' } } }),
        status.INVALID_ARGUMENT,
        /^hive\.labels: key "a b"/,
      );
    });

    it('rejects a hive.description over 1024 characters: INVALID_ARGUMENT naming hive.description', async () => {
      await expectRpcError(
        q.catalog.updateHive({ hive: { hiveId: 'hive-a', description: 'd'.repeat(1025) }, updateMask: mask('description') }),
        status.INVALID_ARGUMENT,
        /^hive\.description: must be at most 1024 characters, got 1025/,
      );
    });
  });

  describe('DeregisterHive', () => {
    it('answers removed=true, then false', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a' });
      expect((await q.catalog.deregisterHive({ hiveId: 'hive-a' })).removed).toBe(true);
      expect((await q.catalog.deregisterHive({ hiveId: 'hive-a' })).removed).toBe(false);
      expect((await q.catalog.deregisterHive({ hiveId: 'hive-never' })).removed).toBe(false);
    });

    it('removes the hive from the catalog and the registry, and ends its stream with ABORTED saying deregistered', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
      await q.catalog.registerHive({ hiveId: 'hive-b' });
      const stream = await q.connectHive('hive-a', [wireWorker('w-1')]);
      const other = await q.connectHive('hive-b', [wireWorker('w-2')]);

      expect((await q.catalog.deregisterHive({ hiveId: 'hive-a' })).removed).toBe(true);

      const ended = await stream.status;
      expectStatus(ended, status.ABORTED, /deregistered/);
      expect(ended.details).toContain('"hive-a"');
      expect((await q.catalog.listCatalogHives({})).hives.map((h) => h.hiveId)).toEqual(['hive-b']);
      await expectRpcError(q.catalog.getCatalogHive({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
      await expectRpcError(q.rpc.getWorker({ workerId: 'w-1' }), status.NOT_FOUND, /w-1/);
      expect((await q.rpc.listAllHives()).hiveIds).toEqual(['hive-b']);
      expect(other.ended).toBe(false);
    });

    it('removes an offline hive from the registry too', async () => {
      const stream = await q.connectHive('hive-a');
      stream.end();
      expectStatus(await stream.status, status.OK);
      expect((await q.catalog.deregisterHive({ hiveId: 'hive-a' })).removed).toBe(true);
      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
    });

    it('lets the hive register again afterwards, as a new record', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' }, description: 'old' });
      await q.catalog.deregisterHive({ hiveId: 'hive-a' });
      q.clock.advance(1_000);
      const { hive } = await q.catalog.registerHive({ hiveId: 'hive-a' });
      expect({ labels: hive?.labels, description: hive?.description, created: ms(hive?.createdAt) }).toEqual({
        labels: {},
        description: '',
        created: q.clock.wallNow(),
      });
    });

    it.each(badHiveIds('hive_id'))('rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id', async (_l, hiveId, details) => {
      await expectRpcError(q.catalog.deregisterHive({ hiveId }), status.INVALID_ARGUMENT, details);
    });
  });

  describe('open registration (the default)', () => {
    it('a hive that connects unregistered joins the catalog: empty labels, created_at = its first heartbeat time', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-b', labels: { gpu: 'a100' } });
      q.clock.advance(4_000);
      const stream = q.client.heartbeat();
      const first = await stream.send(snapshotPayload('hive-a', 1));
      expect(first.accepted).toBe(true);
      q.clock.advance(1_000);
      const second = await stream.send(snapshotPayload('hive-a', 2));
      expect(second.accepted).toBe(true);

      const { hives } = await q.catalog.listCatalogHives({});
      expect(hives.map((h) => h.hiveId)).toEqual(['hive-a', 'hive-b']);
      const joined = hives[0];
      expect(summary(joined)).toEqual({ hiveId: 'hive-a', labels: {}, description: '', online: true, cordoned: false });
      expect({
        created: ms(joined?.createdAt),
        updated: ms(joined?.updatedAt),
        lastSeen: ms(joined?.lastSeen),
      }).toEqual({
        created: ms(first.receivedAt),
        updated: ms(first.receivedAt),
        lastSeen: ms(second.receivedAt),
      });
      expect(joined?.lastPeer).toMatch(/:\d+$/);
    });

    it('RegisterHive for a hive that joined by heartbeat answers ALREADY_EXISTS', async () => {
      await q.connectHive('hive-a');
      await expectRpcError(
        q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } }),
        status.ALREADY_EXISTS,
        /"hive-a"/,
      );
      // The operator labels it with UpdateHive instead.
      const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { gpu: 'a100' } } });
      expect(summary(hive)).toEqual({ hiveId: 'hive-a', labels: { gpu: 'a100' }, description: '', online: true, cordoned: false });
    });

    it('a hive rejected on its first payload does not join the catalog', async () => {
      const stream = q.client.heartbeat();
      const ack = await stream.send(snapshotPayload('hive-a', 1, [wireWorker('w-1', { url: 'nope' })]));
      expect(ack.accepted).toBe(false);
      expect((await q.catalog.listCatalogHives({})).hives).toEqual([]);
    });
  });

  describe('HiveRegistry/RemoveHive', () => {
    it('removes the hive from the registry but not from the catalog', async () => {
      await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
      const stream = await q.connectHive('hive-a');
      const seenMs = q.clock.wallNow();

      expect((await q.rpc.removeHive({ hiveId: 'hive-a' })).removed).toBe(true);
      expectStatus(await stream.status, status.ABORTED, /removed/);

      await expectRpcError(q.rpc.getHiveState({ hiveId: 'hive-a' }), status.NOT_FOUND, /hive-a/);
      const { hive } = await q.catalog.getCatalogHive({ hiveId: 'hive-a' });
      expect({ ...summary(hive), lastSeen: ms(hive?.lastSeen) }).toEqual({
        hiveId: 'hive-a',
        labels: { gpu: 'a100' },
        description: '',
        online: false,
        cordoned: false,
        lastSeen: seenMs,
      });
      expect((await q.catalog.listCatalogHives({})).hives.map((h) => h.hiveId)).toEqual(['hive-a']);
    });
  });
});

describe('HiveCatalog CordonHive and UncordonHive', () => {
  let q: TestQueen;

  beforeEach(async () => {
    q = await TestQueen.start({ catalogFlushIntervalMs: 3_600_000 });
    await q.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' }, description: 'rack 3' });
  });

  afterEach(async () => {
    await q.stop();
  });

  it('CordonHive returns the hive cordoned, labels and description kept, updated_at moved; reads agree', async () => {
    const createdMs = q.clock.wallNow();
    q.clock.advance(30_000);
    const { hive } = await q.catalog.cordonHive({ hiveId: 'hive-a' });
    const expected = { hiveId: 'hive-a', labels: { gpu: 'a100' }, description: 'rack 3', online: false, cordoned: true };
    expect(summary(hive)).toEqual(expected);
    expect({ created: ms(hive?.createdAt), updated: ms(hive?.updatedAt) }).toEqual({
      created: createdMs,
      updated: createdMs + 30_000,
    });
    expect((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive).toEqual(hive);
    expect((await q.catalog.listCatalogHives({ selector: { gpu: 'a100' } })).hives.map(summary)).toEqual([expected]);
  });

  it('UncordonHive returns the hive uncordoned, updated_at moved again', async () => {
    await q.catalog.cordonHive({ hiveId: 'hive-a' });
    q.clock.advance(5_000);
    const { hive } = await q.catalog.uncordonHive({ hiveId: 'hive-a' });
    expect(summary(hive)).toEqual({ hiveId: 'hive-a', labels: { gpu: 'a100' }, description: 'rack 3', online: false, cordoned: false });
    expect(ms(hive?.updatedAt)).toBe(q.clock.wallNow());
    expect((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive?.cordoned).toBe(false);
  });

  it('is idempotent: a second cordon (or an uncordon of an uncordoned hive) answers the hive as it is', async () => {
    const first = (await q.catalog.cordonHive({ hiveId: 'hive-a' })).hive;
    const writes = q.queen.catalog.writeTransactions;
    q.clock.advance(5_000);
    const again = (await q.catalog.cordonHive({ hiveId: 'hive-a' })).hive;
    expect(again).toEqual(first);
    expect(q.queen.catalog.writeTransactions).toBe(writes);

    await q.catalog.registerHive({ hiveId: 'hive-b' });
    const b = (await q.catalog.getCatalogHive({ hiveId: 'hive-b' })).hive;
    expect((await q.catalog.uncordonHive({ hiveId: 'hive-b' })).hive).toEqual(b);
  });

  it("a connected hive's workers stay listed while it is cordoned, and it stays online", async () => {
    await q.connectHive('hive-a', [wireWorker('w-1')]);
    const { hive } = await q.catalog.cordonHive({ hiveId: 'hive-a' });
    expect({ online: hive?.online, cordoned: hive?.cordoned }).toEqual({ online: true, cordoned: true });
    expect((await q.rpc.getWorkersOnHive({ hiveId: 'hive-a' })).workers.map((w) => w.workerId)).toEqual(['w-1']);
    expect((await q.rpc.listAllWorkers({})).workers.map((e) => e.worker?.workerId)).toEqual(['w-1']);
    expect((await q.rpc.isHiveOnline({ hiveId: 'hive-a' })).online).toBe(true);
  });

  it('a hive that joined by heartbeat can be cordoned', async () => {
    await q.connectHive('hive-j');
    const { hive } = await q.catalog.cordonHive({ hiveId: 'hive-j' });
    expect(summary(hive)).toEqual({ hiveId: 'hive-j', labels: {}, description: '', online: true, cordoned: true });
  });

  it('UpdateHive keeps the cordon; a deregistered and registered-again hive is not cordoned', async () => {
    await q.catalog.cordonHive({ hiveId: 'hive-a' });
    const { hive } = await q.catalog.updateHive({ hive: { hiveId: 'hive-a', labels: { gpu: 'h100' } }, updateMask: mask('labels') });
    expect({ labels: hive?.labels, cordoned: hive?.cordoned }).toEqual({ labels: { gpu: 'h100' }, cordoned: true });
    await q.catalog.deregisterHive({ hiveId: 'hive-a' });
    expect((await q.catalog.registerHive({ hiveId: 'hive-a' })).hive?.cordoned).toBe(false);
  });

  it.each([
    ['CordonHive', 'cordonHive'],
    ['UncordonHive', 'uncordonHive'],
  ] as const)('%s of a hive not in the catalog: NOT_FOUND naming it, nothing created', async (_rpc, method) => {
    await expectRpcError(q.catalog[method]({ hiveId: 'hive-x' }), status.NOT_FOUND, /^hive_id: no hive "hive-x" in the catalog/);
    expect((await q.catalog.listCatalogHives({})).hives.map((h) => h.hiveId)).toEqual(['hive-a']);
  });

  for (const method of ['cordonHive', 'uncordonHive'] as const) {
    it.each(badHiveIds('hive_id'))(`${method} rejects a hive_id with %s: INVALID_ARGUMENT naming hive_id`, async (_l, hiveId, details) => {
      await expectRpcError(q.catalog[method]({ hiveId }), status.INVALID_ARGUMENT, details);
      expect((await q.catalog.getCatalogHive({ hiveId: 'hive-a' })).hive?.cordoned).toBe(false);
    });
  }

  it('the typed client: cordonHive and uncordonHive return the CatalogHive; NOT_FOUND rejects with ClientError', async () => {
    const client = createRegistryClient(q.address, { deadlineMs: 2_000 });
    try {
      q.clock.advance(1_000);
      const cordoned = await client.cordonHive('hive-a');
      expect(cordoned).toMatchObject({ hiveId: 'hive-a', labels: { gpu: 'a100' }, cordoned: true, updatedAtMs: q.clock.wallNow() });
      expect((await client.getCatalogHive('hive-a')).cordoned).toBe(true);
      expect((await client.uncordonHive('hive-a')).cordoned).toBe(false);
      await expect(client.cordonHive('hive-x')).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      client.close();
    }
  });
});

describe('cordon across a queen restart', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'catalog-cordon-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a queen restarted on the same file still has the hive cordoned (and the uncordoned one not)', async () => {
    const db = join(dir, 'catalog.db');
    // No periodic flush: what survives was committed by the RPC itself.
    const first = await TestQueen.start({ db, catalogFlushIntervalMs: 3_600_000 });
    let cordonedHive: CatalogHive | undefined;
    try {
      await first.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
      await first.catalog.registerHive({ hiveId: 'hive-b' });
      first.clock.advance(1_000);
      cordonedHive = (await first.catalog.cordonHive({ hiveId: 'hive-a' })).hive;
      await first.catalog.cordonHive({ hiveId: 'hive-b' });
      await first.catalog.uncordonHive({ hiveId: 'hive-b' });
    } finally {
      await first.stop();
    }

    const second = await TestQueen.start({ db, catalogFlushIntervalMs: 3_600_000 });
    try {
      const { hives } = await second.catalog.listCatalogHives({});
      expect(hives.map((h) => [h.hiveId, h.cordoned])).toEqual([
        ['hive-a', true],
        ['hive-b', false],
      ]);
      expect(hives[0]).toEqual(cordonedHive);
      // And it can be uncordoned after the restart.
      expect((await second.catalog.uncordonHive({ hiveId: 'hive-a' })).hive?.cordoned).toBe(false);
    } finally {
      await second.stop();
    }
  });
});

describe('catalogService hooks', () => {
  const clock = new ManualClock();
  const silent = pino({ level: 'silent' });
  let catalog: SqliteCatalog;
  let server: Server;
  let client: QueenClient;
  let calls: [string, CatalogRecord | undefined][];
  let throwing: boolean;
  let errors: Record<string, unknown>[];

  beforeEach(async () => {
    calls = [];
    throwing = false;
    errors = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        const line = JSON.parse(chunk.toString()) as Record<string, unknown>;
        if (line.level === 50) errors.push(line);
        done();
      },
    });
    catalog = SqliteCatalog.open(IN_MEMORY, () => clock.wallNow(), 'open');
    const registry = new HiveRegistry(clock, { offlineAfterMs: 15_000, evictAfterMs: 600_000 });
    const streams = new HeartbeatStreams(
      registry,
      clock,
      silent,
      {
        heartbeatIntervalMs: 5_000,
        maxStreams: 10,
        maxStreamsPerAddress: 10,
        rateLimit: 100,
        unboundTimeoutMs: 10_000,
        limits: { maxWorkersPerHive: 16, maxDevicesPerHive: 4 },
      },
      catalog,
    );
    const hooks: CatalogHooks = {
      hiveChanged(hiveId, record) {
        calls.push([hiveId, record]);
        if (throwing) throw new Error('listener bug');
      },
    };
    server = new Server();
    server.addService(
      grpcServiceDefinition(HiveCatalogService),
      catalogService(catalog, registry, streams, pino({ level: 'info' }, sink), hooks),
    );
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      );
    });
    client = new QueenClient(`127.0.0.1:${port}`);
  });

  afterEach(async () => {
    client.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await catalog.close();
  });

  it('is told of every committed write by an RPC, with the record as it now is (undefined when deregistered)', async () => {
    await client.catalog.registerHive({ hiveId: 'hive-a', labels: { gpu: 'a100' } });
    await client.catalog.updateHive({ hive: { hiveId: 'hive-a', description: 'rack 3' }, updateMask: mask('description') });
    await client.catalog.cordonHive({ hiveId: 'hive-a' });
    await client.catalog.uncordonHive({ hiveId: 'hive-a' });
    await client.catalog.deregisterHive({ hiveId: 'hive-a' });

    expect(calls.map(([hiveId, record]) => [hiveId, record && { labels: record.labels, description: record.description, cordoned: record.cordoned }])).toEqual([
      ['hive-a', { labels: { gpu: 'a100' }, description: '', cordoned: false }],
      ['hive-a', { labels: { gpu: 'a100' }, description: 'rack 3', cordoned: false }],
      ['hive-a', { labels: { gpu: 'a100' }, description: 'rack 3', cordoned: true }],
      ['hive-a', { labels: { gpu: 'a100' }, description: 'rack 3', cordoned: false }],
      ['hive-a', undefined],
    ]);
  });

  it('is not told of failed calls, reads, or a deregister that removed nothing', async () => {
    await client.catalog.registerHive({ hiveId: 'hive-a' });
    calls = [];
    await expectRpcError(client.catalog.registerHive({ hiveId: 'hive-a' }), status.ALREADY_EXISTS, /hive-a/);
    await expectRpcError(client.catalog.cordonHive({ hiveId: 'hive-x' }), status.NOT_FOUND, /hive-x/);
    await expectRpcError(client.catalog.uncordonHive({ hiveId: 'bad id' }), status.INVALID_ARGUMENT, /^hive_id: /);
    await expectRpcError(
      client.catalog.updateHive({ hive: { hiveId: 'hive-x', description: 'x' }, updateMask: mask('description') }),
      status.NOT_FOUND,
      /hive-x/,
    );
    await client.catalog.getCatalogHive({ hiveId: 'hive-a' });
    await client.catalog.listCatalogHives({});
    expect((await client.catalog.deregisterHive({ hiveId: 'hive-x' })).removed).toBe(false);
    expect(calls).toEqual([]);
  });

  it('a throwing hook is logged and the RPC still answers OK: its write stands', async () => {
    throwing = true;
    const { hive } = await client.catalog.registerHive({ hiveId: 'hive-a' });
    expect(hive?.hiveId).toBe('hive-a');
    const cordoned = await client.catalog.cordonHive({ hiveId: 'hive-a' });
    expect(cordoned.hive?.cordoned).toBe(true);
    expect(catalog.get('hive-a')?.cordoned).toBe(true);
    expect(calls.length).toBe(2);
    expect(errors.map((e) => [e.rpc, e.hiveId, e.msg])).toEqual([
      ['RegisterHive', 'hive-a', 'catalog change hook failed; the catalog write stands'],
      ['CordonHive', 'hive-a', 'catalog change hook failed; the catalog write stands'],
    ]);
  });
});
