import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Where Linux shows its processes. */
export const DEFAULT_PROC_ROOT = '/proc';
/**
 * Default number of /proc reads in flight at once: libuv's default thread pool size. More would only queue in the
 * pool, in front of the agent's other file and DNS work.
 */
export const DEFAULT_PROC_CONCURRENCY = 4;

/**
 * Calls after which a listening socket whose scan found no holder is scanned again: such a socket is usually
 * another user's (not ours to see), but the holder may also have been mid-exec during the scan.
 */
const EMPTY_SCAN_RETRY_CALLS = 60;

/** `st` of a TCP socket in LISTEN state in /proc/net/tcp{,6}. */
const TCP_LISTEN = '0A';

export interface ProcessTableOptions {
  /** The proc file system's mount point. Default DEFAULT_PROC_ROOT. */
  readonly root?: string;
  /** /proc reads in flight at once during scans. Default DEFAULT_PROC_CONCURRENCY. */
  readonly concurrency?: number;
}

/** A process as /proc/<pid>/stat tells it. */
export interface StatEntry {
  readonly ppid: number;
  /** Clock ticks since boot at which it started: with the pid, tells a process from a later one reusing its pid. */
  readonly startTime: string;
}

/** A process holding a listening socket, as last found. */
interface Holder {
  readonly pid: number;
  readonly startTime: string;
}

/**
 * Parses /proc/<pid>/stat. The comm field (2nd) is in parentheses and may itself hold spaces and ')': the fields
 * after it start after the LAST ')'. Undefined when the text is not a stat line.
 */
export function parseStat(text: string): StatEntry | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") ": state (field 3), ppid (field 4), ..., starttime (field 22).
  const fields = text.slice(close + 2).split(' ');
  const ppid = fields[1];
  const startTime = fields[19];
  if (ppid === undefined || !/^\d+$/.test(ppid) || startTime === undefined || !/^\d+$/.test(startTime)) {
    return undefined;
  }
  return { ppid: Number(ppid), startTime };
}

/**
 * Parses /proc/net/tcp or /proc/net/tcp6 text: for each local port with sockets in LISTEN state (any local
 * address), their inodes.
 */
export function parseListeningInodes(text: string): Map<number, Set<number>> {
  const byPort = new Map<number, Set<number>>();
  for (const line of text.split('\n')) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== TCP_LISTEN) continue;
    const local = fields[1] ?? '';
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    const inode = Number(fields[9]);
    if (!Number.isInteger(port) || !Number.isInteger(inode) || inode <= 0) continue;
    const inodes = byPort.get(port) ?? new Set<number>();
    inodes.add(inode);
    byPort.set(port, inodes);
  }
  return byPort;
}

/** Runs `task` over `items`, at most `concurrency` at once. */
async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T; // next < length was just checked
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1-65535, got ${port}`);
}

/**
 * Linux processes as /proc shows them: which processes listen on a TCP port, and which descend from them. The
 * listening sockets are those of the agent's network namespace (an engine in a container with its own network
 * shows its port as held by the container's proxy, if at all). Processes that cannot be read (another user's, or
 * gone half-way: normal races) are skipped.
 *
 * Cost: finding who holds a new listening socket means reading every process's fd links, O(all open fds). The
 * holders found are remembered per socket inode and only checked (one stat read each) on later calls while the
 * socket still listens and the holder still runs, so a steady state costs two /proc/net reads per call plus one
 * read per holder. (A process that handed its listening socket to another and closed it, which engines do not do,
 * would stay named until it exits.) Calls run one after another, so concurrent callers never scan twice.
 */
export class ProcessTable {
  readonly root: string;
  private readonly concurrency: number;
  /** Holders by listening socket inode; [] when a scan found none. */
  private readonly holders = new Map<number, readonly Holder[]>();
  /** For inodes whose scan found no holder: calls left before the next scan. */
  private readonly emptyScanWait = new Map<number, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: ProcessTableOptions = {}) {
    this.root = options.root ?? DEFAULT_PROC_ROOT;
    this.concurrency = options.concurrency ?? DEFAULT_PROC_CONCURRENCY;
  }

  /** The pids (ascending) of processes holding a TCP socket that listens on `port`, IPv4 or IPv6. */
  async pidsListeningOn(port: number): Promise<number[]> {
    return (await this.listeningPids([port])).get(port) ?? [];
  }

  /**
   * For each of `ports` (1-65535), the pids (ascending; [] when nothing listens) of processes holding a TCP socket
   * in LISTEN state on it, on any local address, IPv4 (/proc/net/tcp) or IPv6 (/proc/net/tcp6). One read of the
   * socket tables answers every port: ask for all engines' ports at once.
   */
  listeningPids(ports: readonly number[]): Promise<Map<number, number[]>> {
    ports.forEach(checkPort);
    const run = this.queue.then(() => this.listeningPidsNow(ports));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * `pids` and all their descendants, ascending (pids that are gone are kept: the caller named them). Reads every
   * process's stat, O(processes): where the interesting processes are known (those nvidia-smi lists), prefer
   * descendantsAmong.
   */
  async withDescendants(pids: readonly number[]): Promise<number[]> {
    const all = await this.allPids();
    const children = new Map<number, number[]>();
    await eachLimited(all, this.concurrency, async (pid) => {
      const stat = await this.stat(pid);
      if (stat === undefined) return;
      const siblings = children.get(stat.ppid) ?? [];
      siblings.push(pid);
      children.set(stat.ppid, siblings);
    });
    const found = new Set<number>(pids);
    const pending = [...found];
    for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
      for (const child of children.get(pid) ?? []) {
        if (!found.has(child)) {
          found.add(child);
          pending.push(child);
        }
      }
    }
    return [...found].sort((a, b) => a - b);
  }

  /**
   * The `candidates` (ascending) that are among `pids` or descend from one of them: the same answer as
   * intersecting withDescendants(pids) with the candidates, reading only the candidates' chains of ancestors
   * (each process's stat at most once per call).
   */
  async descendantsAmong(pids: readonly number[], candidates: readonly number[]): Promise<number[]> {
    const roots = new Set(pids);
    const parents = new Map<number, Promise<number | undefined>>();
    const parentOf = (pid: number): Promise<number | undefined> => {
      let parent = parents.get(pid);
      if (parent === undefined) {
        parent = this.stat(pid).then((stat) => stat?.ppid);
        parents.set(pid, parent);
      }
      return parent;
    };
    const kept: number[] = [];
    await eachLimited([...new Set(candidates)], this.concurrency, async (candidate) => {
      const seen = new Set<number>();
      // pid 0 is the kernel's: the parent of init and kthreadd, never an engine.
      for (let pid: number | undefined = candidate; pid !== undefined && pid > 0; pid = await parentOf(pid)) {
        if (roots.has(pid)) {
          kept.push(candidate);
          return;
        }
        if (seen.has(pid)) return; // a pid reused mid-walk could make a loop
        seen.add(pid);
      }
    });
    return kept.sort((a, b) => a - b);
  }

  private async listeningPidsNow(ports: readonly number[]): Promise<Map<number, number[]>> {
    const listening = new Map<number, Set<number>>();
    for (const file of ['tcp', 'tcp6']) {
      // tcp6 is missing where IPv6 is off: nothing listens there.
      const text = (await this.readText(join('net', file))) ?? '';
      for (const [port, inodes] of parseListeningInodes(text)) {
        listening.set(port, new Set([...(listening.get(port) ?? []), ...inodes]));
      }
    }
    const allListening = new Set([...listening.values()].flatMap((inodes) => [...inodes]));
    for (const inode of this.holders.keys()) {
      if (!allListening.has(inode)) {
        this.holders.delete(inode);
        this.emptyScanWait.delete(inode);
      }
    }

    const wanted = new Set(ports.flatMap((port) => [...(listening.get(port) ?? [])]));
    const unresolved = new Set<number>();
    for (const inode of wanted) {
      const known = this.holders.get(inode);
      if (known === undefined) {
        unresolved.add(inode);
        continue;
      }
      if (known.length === 0) {
        const wait = (this.emptyScanWait.get(inode) ?? 0) - 1;
        if (wait > 0) this.emptyScanWait.set(inode, wait);
        else unresolved.add(inode);
        continue;
      }
      const alive = await this.stillRunning(known);
      // Every known holder gone while the socket still listens: a process we have not seen holds it now.
      if (alive.length === 0) unresolved.add(inode);
      else this.holders.set(inode, alive);
    }
    if (unresolved.size > 0) await this.scanHolders(unresolved);

    const result = new Map<number, number[]>();
    for (const port of ports) {
      const inodes = [...(listening.get(port) ?? [])];
      const pids = inodes.flatMap((inode) => this.holders.get(inode) ?? []).map((holder) => holder.pid);
      result.set(port, [...new Set(pids)].sort((a, b) => a - b));
    }
    return result;
  }

  /** Reads every readable process's fd links and records the holders of `inodes` ([] for an inode none holds). */
  private async scanHolders(inodes: ReadonlySet<number>): Promise<void> {
    const found = new Map<number, Holder[]>([...inodes].map((inode) => [inode, []]));
    await eachLimited(await this.allPids(), this.concurrency, async (pid) => {
      const fdDir = join(this.root, String(pid), 'fd');
      let fds: string[];
      try {
        fds = await readdir(fdDir);
      } catch {
        return; // gone, or another user's (EACCES): normal
      }
      const held = new Set<number>();
      for (const fd of fds) {
        const target = await readlink(join(fdDir, fd)).catch(() => '');
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode !== undefined && inodes.has(Number(inode))) held.add(Number(inode));
      }
      if (held.size === 0) return;
      const stat = await this.stat(pid);
      if (stat === undefined) return;
      for (const inode of held) found.get(inode)?.push({ pid, startTime: stat.startTime });
    });
    for (const [inode, holders] of found) {
      this.holders.set(inode, holders);
      if (holders.length === 0) this.emptyScanWait.set(inode, EMPTY_SCAN_RETRY_CALLS);
      else this.emptyScanWait.delete(inode);
    }
  }

  /** The holders that still run (the same process: same pid and start time). */
  private async stillRunning(holders: readonly Holder[]): Promise<Holder[]> {
    const alive: Holder[] = [];
    for (const holder of holders) {
      if ((await this.stat(holder.pid))?.startTime === holder.startTime) alive.push(holder);
    }
    return alive;
  }

  private async allPids(): Promise<number[]> {
    const entries = await readdir(this.root);
    return entries.filter((name) => /^\d+$/.test(name)).map(Number);
  }

  private async stat(pid: number): Promise<StatEntry | undefined> {
    const text = await this.readText(join(String(pid), 'stat'));
    return text === undefined ? undefined : parseStat(text);
  }

  /** A file under the root, or undefined when it cannot be read (gone, not ours). */
  private async readText(path: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.root, path), 'utf8');
    } catch {
      return undefined;
    }
  }
}
