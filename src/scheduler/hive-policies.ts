import { matchesSelector, type Selector } from './pick-worker.js';

/** What the catalog says of a hive: its labels, and whether it is cordoned. */
export interface HivePolicy {
  readonly labels: Selector;
  readonly cordoned: boolean;
}

/**
 * The catalog's view of hives as scheduling needs it: cordon, and an inverted index of labels (key -> value ->
 * hives), so a selector finds its hives from its rarest entry instead of testing every hive.
 */
export class HivePolicies {
  private readonly policies = new Map<string, HivePolicy>();
  private readonly postings = new Map<string, Map<string, Set<string>>>();

  isCordoned(hiveId: string): boolean {
    return this.policies.get(hiveId)?.cordoned ?? false;
  }

  /**
   * Sets a hive's policy (undefined: it left the catalog, so no labels and not cordoned). Returns whether its
   * cordon changed.
   */
  set(hiveId: string, policy: HivePolicy | undefined): boolean {
    const old = this.policies.get(hiveId);
    for (const [key, value] of Object.entries(old?.labels ?? {})) {
      const values = this.postings.get(key);
      const hives = values?.get(value);
      hives?.delete(hiveId);
      if (hives?.size === 0) values?.delete(value);
      if (values?.size === 0) this.postings.delete(key);
    }
    if (policy === undefined) this.policies.delete(hiveId);
    else this.policies.set(hiveId, policy);
    for (const [key, value] of Object.entries(policy?.labels ?? {})) {
      let values = this.postings.get(key);
      if (values === undefined) this.postings.set(key, (values = new Map()));
      let hives = values.get(value);
      if (hives === undefined) values.set(value, (hives = new Set()));
      hives.add(hiveId);
    }
    return (old?.cordoned ?? false) !== (policy?.cordoned ?? false);
  }

  /** Hives whose labels include every selector entry (a non-empty selector), from the smallest posting list. */
  matching(selector: Selector): string[] {
    let smallest: Set<string> | undefined;
    for (const [key, value] of Object.entries(selector)) {
      const hives = this.postings.get(key)?.get(value);
      if (hives === undefined) return [];
      if (smallest === undefined || hives.size < smallest.size) smallest = hives;
    }
    return [...(smallest ?? [])].filter((hiveId) => matchesSelector(this.policies.get(hiveId)?.labels ?? {}, selector));
  }
}
