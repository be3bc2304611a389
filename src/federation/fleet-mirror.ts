import type { Logger } from 'pino';
import type { HiveRegistry } from '../registry/hive-registry.js';
import type { PublishedHive, StreamId } from '../registry/types.js';
import type { EtcdEntry, EtcdStore } from './etcd-store.js';
import { PrefixMirror } from './prefix-mirror.js';
import { decodeHiveRecord } from './published-hive-codec.js';

/** What the mirror needs done outside the registry: ending streams another queen took over, or a removal. */
export interface MirrorEffects {
  /** This queen's stream for the hive must end with ABORTED: `why` says who took the hive or removed it. */
  endStream(stream: StreamId, hiveId: string, why: string): void;
  /** A hive this queen owned is now another queen's, or removed, or its key went with this queen's old lease. */
  ownershipLost(hiveId: string): void;
  /** Whether this queen is claiming the hive (a stream here whose claim is not written yet). */
  claiming(hiveId: string): boolean;
}

/** What etcd holds for one hive key, as this queen last saw it. */
export interface KeyState {
  readonly owner: string;
  readonly modRevision: bigint;
}

/**
 * Every queen's hives, mirrored into this queen's registry: list `<prefix>hives/`, then watch it. Another queen's
 * hive is applied read-only (`applyRemote`); its key deleted (the owner's lease ended) takes it offline here; a
 * removal record removes it. This queen's own records come back as echoes and change nothing, but every key's
 * owner and mod revision are kept: the publisher's claims compare against them.
 */
export class FleetMirror {
  private readonly keys = new Map<string, KeyState>();
  /**
   * Other queens' hives shown offline here while this queen was cut off from etcd: their records are applied again
   * by the next listing even when unchanged (their owners may have kept them all along).
   */
  private readonly shownOffline = new Set<string>();
  /** Other queens' records of hives this queen is claiming, held until the claim is written or lost. */
  private readonly held = new Map<string, EtcdEntry>();
  private readonly mirror: PrefixMirror;
  private readonly hivesPrefix: string;

  constructor(
    store: EtcdStore,
    prefix: string,
    private readonly self: string,
    private readonly registry: HiveRegistry,
    private readonly effects: MirrorEffects,
    private readonly logger: Logger,
  ) {
    this.hivesPrefix = `${prefix}hives/`;
    this.mirror = new PrefixMirror(
      store,
      this.hivesPrefix,
      {
        reset: (entries) => this.reset(entries),
        put: (entry) => this.put(entry),
        delete: (key) => this.deleted(key.slice(this.hivesPrefix.length)),
      },
      logger,
    );
  }

  /** The key of a hive's record. */
  keyOf(hiveId: string): string {
    return this.hivesPrefix + hiveId;
  }

  /** The hive's key as last seen (owner, mod revision), or undefined when absent. */
  stateOf(hiveId: string): KeyState | undefined {
    return this.keys.get(hiveId);
  }

  start(): Promise<void> {
    return this.mirror.start();
  }

  relist(): Promise<void> {
    return this.mirror.relist();
  }

  stop(): void {
    this.mirror.stop();
  }

  /**
   * This queen lost sight of etcd for longer than its lease: every other queen's hive is offline here until the
   * mirror lists again (the contract's "lists the other queens' hives offline once its lease TTL has passed").
   */
  markRemoteOffline(): void {
    for (const [hiveId, owner] of this.registry.remoteOwners()) {
      this.registry.remoteGone(hiveId, owner);
      this.shownOffline.add(hiveId);
    }
  }

  /** A publication this queen wrote (or read while claiming): the key's state, before its echo comes. */
  noteOwn(hiveId: string, state: KeyState | undefined): void {
    if (state === undefined) this.keys.delete(hiveId);
    else this.keys.set(hiveId, state);
  }

  /**
   * This queen's claim of the hive was written, lost or put off: a record held meanwhile is applied now unless the
   * claim's outcome is newer (then it is dropped), or held again while the claim goes on.
   */
  claimSettled(hiveId: string): void {
    const entry = this.held.get(hiveId);
    if (entry === undefined) return;
    this.held.delete(hiveId);
    this.put(entry);
  }

  /** Applies another queen's publication (read while claiming, or from the watch). */
  applyRemote(hive: PublishedHive): void {
    const { superseded } = this.registry.applyRemote(hive);
    this.effects.ownershipLost(hive.hiveId);
    if (superseded !== undefined) {
      this.effects.endStream(superseded, hive.hiveId, `its stream moved to queen "${hive.owner}"`);
    }
  }

  private reset(entries: readonly EtcdEntry[]): void {
    this.held.clear();
    const listed = new Set<string>();
    for (const entry of entries) {
      listed.add(entry.key.slice(this.hivesPrefix.length));
      this.put(entry);
    }
    for (const hiveId of [...this.keys.keys()]) if (!listed.has(hiveId)) this.deleted(hiveId);
    // Hives this queen still shows as another's, whose key is gone (this queen was away meanwhile): offline.
    for (const [hiveId, owner] of this.registry.remoteOwners()) {
      if (!listed.has(hiveId)) this.registry.remoteGone(hiveId, owner);
    }
  }

  private put(entry: EtcdEntry): void {
    const hiveId = entry.key.slice(this.hivesPrefix.length);
    const known = this.keys.get(hiveId);
    if (known !== undefined && known.modRevision >= entry.modRevision) {
      if (known.modRevision > entry.modRevision || !this.shownOffline.has(hiveId)) return;
    }
    const value = decodeHiveRecord(hiveId, entry.value);
    if ('error' in value) {
      this.logger.warn({ hiveId, err: value.error }, 'unreadable hive record in etcd: skipped');
      return;
    }
    if (value.kind === 'removed') {
      this.keys.delete(hiveId);
      this.held.delete(hiveId);
      this.shownOffline.delete(hiveId);
      const wasOwn = this.registry.ownsHive(hiveId);
      this.effects.ownershipLost(hiveId);
      const departure = this.registry.removeHive(hiveId);
      if (departure?.stream !== undefined) {
        this.effects.endStream(departure.stream, hiveId, `was removed from the federation by queen "${value.by}"`);
      }
      if (departure !== undefined) {
        this.logger.info({ hiveId, by: value.by, owned: wasOwn }, 'hive removed by another queen');
      }
      return;
    }
    if (value.hive.owner !== this.self && !value.hive.online && this.registry.ownsHive(hiveId) && this.registry.isHiveOnline(hiveId)) {
      // Another queen's record says the hive is offline while its stream is here, online: no queen holds it but this
      // one (such a record is left by a queen whose stream ended, written after this queen's key went with an old
      // lease). It takes nothing away here: this queen claims the hive over it.
      this.keys.set(hiveId, { owner: value.hive.owner, modRevision: entry.modRevision });
      this.shownOffline.delete(hiveId);
      this.effects.ownershipLost(hiveId);
      return;
    }
    if (value.hive.owner !== this.self && this.effects.claiming(hiveId)) {
      // A record older than this queen's claim in flight can arrive before the claim's answer: applied now, it
      // would end the very stream the claim is for. The claim's outcome decides (see claimSettled); the key's
      // state stays as the claim read it, so the transaction still decides between two claims.
      const earlier = this.held.get(hiveId);
      if (earlier === undefined || earlier.modRevision < entry.modRevision) this.held.set(hiveId, entry);
      return;
    }
    this.keys.set(hiveId, { owner: value.hive.owner, modRevision: entry.modRevision });
    this.shownOffline.delete(hiveId);
    if (value.hive.owner === this.self) return;
    this.applyRemote(value.hive);
  }

  private deleted(hiveId: string): void {
    this.held.delete(hiveId);
    this.shownOffline.delete(hiveId);
    const known = this.keys.get(hiveId);
    this.keys.delete(hiveId);
    if (known === undefined) return;
    if (known.owner === this.self) {
      // This queen's own key went with an old lease (or its removal record was cleared): claimed again on rejoin.
      this.effects.ownershipLost(hiveId);
      return;
    }
    this.registry.remoteGone(hiveId, known.owner);
  }
}
