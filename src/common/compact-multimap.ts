/**
 * A map from a key to a set of values that keeps a key's only value by itself and makes a Set only once the key
 * has two. The registry's per-worker indexes (a worker id's holders, its scheduling slots) nearly always hold one
 * value per key, and a one-element Set costs about 150 bytes of heap: with 8 workers per hive and two such
 * indexes, about 2.4 KB per hive. Values must not themselves be Sets. Insertion order is kept, as a Set keeps it.
 */
export class CompactMultimap<K, V> {
  private readonly entries = new Map<K, V | Set<V>>();

  /** Adds `value` under `key` (a value already there stays once). */
  add(key: K, value: V): void {
    const current = this.entries.get(key);
    if (current === undefined) {
      this.entries.set(key, value);
    } else if (current instanceof Set) {
      current.add(value);
    } else if (current !== value) {
      this.entries.set(key, new Set([current, value]));
    }
  }

  /** Removes `value` from `key`'s values; the key goes when it has none left. */
  delete(key: K, value: V): void {
    const current = this.entries.get(key);
    if (current === undefined) return;
    if (!(current instanceof Set)) {
      if (current === value) this.entries.delete(key);
      return;
    }
    current.delete(value);
    // Back to a single value: the common case pays for no Set again.
    if (current.size === 1) this.entries.set(key, current.values().next().value as V);
  }

  /** How many values `key` has. */
  count(key: K): number {
    const current = this.entries.get(key);
    if (current === undefined) return 0;
    return current instanceof Set ? current.size : 1;
  }

  /** Whether `value` is among `key`'s values. */
  has(key: K, value: V): boolean {
    const current = this.entries.get(key);
    return current instanceof Set ? current.has(value) : current !== undefined && current === value;
  }

  /** `key`'s values (none when it has none), in insertion order; not to be changed while walked. */
  values(key: K): Iterable<V> {
    const current = this.entries.get(key);
    if (current === undefined) return [];
    return current instanceof Set ? current : [current];
  }
}
