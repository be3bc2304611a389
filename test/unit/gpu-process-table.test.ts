import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseListeningInodes, parseStat, ProcessTable } from '../../src/agent/engines/process-table';

/** A /proc/<pid>/stat line: 52 fields as Linux prints them, with the ones read here set. */
function statLine(pid: number, comm: string, ppid: number, startTime: number): string {
  const rest = Array.from({ length: 48 }, (_, i) => (i === 17 ? String(startTime) : '0'));
  return `${pid} (${comm}) S ${ppid} ${rest.join(' ')}\n`;
}

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** One /proc/net/tcp{,6} line. */
function tcpLine(local: string, state: string, inode: number): string {
  return `   0: ${local} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;
}

describe('parseStat', () => {
  test('reads ppid and start time after the last ")", whatever the command name holds', () => {
    expect(parseStat(statLine(4242, 'python3', 1, 987654))).toEqual({ ppid: 1, startTime: '987654' });
    expect(parseStat(statLine(4243, 'VLLM::EngineCore) S 7 (x', 4242, 55))).toEqual({ ppid: 4242, startTime: '55' });
    expect(parseStat(statLine(4244, 'a b  c', 17, 3))).toEqual({ ppid: 17, startTime: '3' });
  });

  test('is undefined for text that is not a stat line', () => {
    expect(parseStat('')).toBeUndefined();
    expect(parseStat('12 (x) S')).toBeUndefined();
    expect(parseStat('12 (x) S abc 1 2')).toBeUndefined();
  });
});

describe('parseListeningInodes', () => {
  test('LISTEN sockets by port, any local address, IPv4 and IPv6; other states ignored', () => {
    const tcp =
      TCP_HEADER +
      tcpLine('0100007F:1F90', '0A', 5001) + // 127.0.0.1:8080
      tcpLine('00000000:1F90', '0A', 5002) + // 0.0.0.0:8080
      tcpLine('0100007F:1F90', '01', 5003) + // an established connection on 8080
      tcpLine('0100007F:0050', '0A', 0); // no inode: not a socket anyone holds
    expect(parseListeningInodes(tcp)).toEqual(new Map([[8080, new Set([5001, 5002])]]));
    const tcp6 = TCP6_HEADER + tcpLine('00000000000000000000000001000000:1F91', '0A', 6001); // [::1]:8081
    expect(parseListeningInodes(tcp6)).toEqual(new Map([[8081, new Set([6001])]]));
  });
});

describe('ProcessTable on a fake /proc', () => {
  let root: string;

  function writeProc(path: string, text: string): void {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }

  function process(pid: number, ppid: number, fds: Record<string, string>, startTime = 1000): void {
    writeProc(`${pid}/stat`, statLine(pid, `proc ${pid}`, ppid, startTime));
    mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
    for (const [fd, target] of Object.entries(fds)) symlinkSync(target, join(root, String(pid), 'fd', fd));
  }

  function listening(tcp: string[], tcp6: string[] = []): void {
    writeProc('net/tcp', TCP_HEADER + tcp.join(''));
    writeProc('net/tcp6', TCP6_HEADER + tcp6.join(''));
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'fake-proc-'));
    listening(
      [tcpLine('0100007F:1F90', '0A', 5001), tcpLine('00000000:1770', '0A', 5002), tcpLine('0100007F:1F90', '01', 5009)],
      [tcpLine('00000000000000000000000001000000:1F91', '0A', 5003)],
    );
    process(1, 0, {});
    process(100, 1, { '0': '/dev/null', '3': 'socket:[5001]', '4': 'socket:[5009]', '5': 'pipe:[77]' }); // 8080
    process(101, 100, { '0': '/dev/null' }); // the API server's engine core
    process(102, 101, {}); // a worker of the engine core
    process(103, 1, { '3': 'socket:[5002]' }); // 6000: another server
    process(104, 103, {});
    process(200, 1, { '7': 'socket:[5003]' }); // [::1]:8081
    writeProc('300/stat', statLine(300, 'no fd dir', 1, 1000)); // another user's: its fds cannot be read
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('pidsListeningOn finds the holder of the LISTEN socket, IPv4 and IPv6', async () => {
    const table = new ProcessTable({ root });
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([100]);
    await expect(table.pidsListeningOn(8081)).resolves.toEqual([200]);
    await expect(table.pidsListeningOn(6000)).resolves.toEqual([103]);
    await expect(table.pidsListeningOn(9999)).resolves.toEqual([]);
    await expect(table.listeningPids([8080, 8081, 9999])).resolves.toEqual(
      new Map([
        [8080, [100]],
        [8081, [200]],
        [9999, []],
      ]),
    );
  });

  test('every process holding the socket is named (a fork that inherited it)', async () => {
    process(105, 100, { '3': 'socket:[5001]' });
    await expect(new ProcessTable({ root }).pidsListeningOn(8080)).resolves.toEqual([100, 105]);
  });

  test('a port outside 1-65535 is a programming error', () => {
    const table = new ProcessTable({ root });
    expect(() => table.listeningPids([0])).toThrow(RangeError);
    expect(() => table.listeningPids([65536])).toThrow('port must be 1-65535, got 65536');
  });

  test('withDescendants: the pids and every process below them', async () => {
    const table = new ProcessTable({ root });
    await expect(table.withDescendants([100])).resolves.toEqual([100, 101, 102]);
    await expect(table.withDescendants([101, 103])).resolves.toEqual([101, 102, 103, 104]);
    await expect(table.withDescendants([999])).resolves.toEqual([999]);
    await expect(table.withDescendants([])).resolves.toEqual([]);
  });

  test('descendantsAmong: the candidates under the pids, as withDescendants would say', async () => {
    const table = new ProcessTable({ root });
    await expect(table.descendantsAmong([100], [102, 104, 100, 200, 5555, 101, 102])).resolves.toEqual([100, 101, 102]);
    await expect(table.descendantsAmong([103], [102, 104])).resolves.toEqual([104]);
    await expect(table.descendantsAmong([], [102])).resolves.toEqual([]);
  });

  test('a known holder is only checked, not searched again, while it runs', async () => {
    const table = new ProcessTable({ root });
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([100]);
    process(106, 1, { '3': 'socket:[5001]' }); // a new holder, unseen without a full scan
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([100]);
    // 100 exits and its pid is reused: a full scan finds who holds the socket now.
    rmSync(join(root, '100'), { recursive: true });
    process(100, 1, {}, 2000);
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([106]);
  });

  test('a socket that stops listening is forgotten; a new one on the port is searched', async () => {
    const table = new ProcessTable({ root });
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([100]);
    listening([tcpLine('00000000:1770', '0A', 5002)]);
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([]);
    process(107, 1, { '9': 'socket:[5010]' });
    listening([tcpLine('00000000:1F90', '0A', 5010)]);
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([107]);
  });

  test('a socket nobody visible holds is searched again only after a while', async () => {
    listening([tcpLine('0100007F:2328', '0A', 5020)]); // 9000, held by no readable process
    const table = new ProcessTable({ root });
    await expect(table.pidsListeningOn(9000)).resolves.toEqual([]);
    process(108, 1, { '3': 'socket:[5020]' });
    const answers: number[][] = [];
    for (let call = 0; call < 60; call++) answers.push(await table.pidsListeningOn(9000));
    expect(answers.slice(0, 59).every((pids) => pids.length === 0)).toBe(true);
    expect(answers[59]).toEqual([108]);
  });

  test('a missing tcp6 table (IPv6 off) and vanishing processes are not errors', async () => {
    unlinkSync(join(root, 'net', 'tcp6'));
    rmSync(join(root, '102'), { recursive: true });
    const table = new ProcessTable({ root });
    await expect(table.pidsListeningOn(8080)).resolves.toEqual([100]);
    await expect(table.pidsListeningOn(8081)).resolves.toEqual([]);
    await expect(table.withDescendants([100])).resolves.toEqual([100, 101]);
  });

  test('concurrent calls each get the answer for their own port', async () => {
    const table = new ProcessTable({ root });
    const [a, b] = await Promise.all([table.pidsListeningOn(8080), table.pidsListeningOn(6000)]);
    expect(a).toEqual([100]);
    expect(b).toEqual([103]);
  });
});
