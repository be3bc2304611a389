import { readFileSync } from 'node:fs';

/** /proc times are in clock ticks: USER_HZ, 100 on every Linux architecture Node runs on. */
const MS_PER_CLOCK_TICK = 10;

/** CPU time (user + system, ms) another process has used so far, from /proc/<pid>/stat (10 ms resolution). */
export function procCpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // "pid (comm) state ppid ..." where comm may hold spaces or parentheses: split after the last ')'. Fields 14 and
  // 15 of the line (utime, stime) are 11 and 12 after the comm.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_CLOCK_TICK;
}

/** Another process's resident memory now (VmRSS) and its peak so far (VmHWM), from /proc/<pid>/status. */
export function procMemory(pid: number): { rssBytes: number; peakRssBytes: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const bytes = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1_024;
  };
  return { rssBytes: bytes('VmRSS'), peakRssBytes: bytes('VmHWM') };
}
