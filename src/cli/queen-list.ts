import { checkListen } from './config.js';

/** The environment variable that names the queens when --queen is not given. */
export const QUEEN_ENV = 'HIVE_REGISTRY_QUEEN';

/**
 * Most queens one `--queen` list may name. A federation runs a handful; a longer list is a pasted host list or a
 * typo, and an operator command could spend the whole list's timeouts before saying so.
 */
export const MAX_QUEENS = 16;

/**
 * Parses a `--queen` value (or HIVE_REGISTRY_QUEEN): one HOST:PORT or [IPv6]:PORT, or several separated by commas
 * (blanks around an entry are dropped). Each entry is checked as a listen address is; an empty entry, one given
 * twice (host names compared without case) or more than MAX_QUEENS entries are refused. Returns the entries in
 * the order given, or every problem found, each naming its entry. A single address reads as it always did, and a
 * bad one gets the same message.
 */
export function parseQueenList(text: string): { ok: true; queens: readonly string[] } | { ok: false; problems: string[] } {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length === 1) {
    const problem = checkListen(text);
    return problem === undefined ? { ok: true, queens: [text] } : { ok: false, problems: [problem] };
  }
  const problems: string[] = [];
  if (entries.length > MAX_QUEENS) problems.push(`at most ${MAX_QUEENS} queens, got ${entries.length}`);
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    if (entry === '') {
      problems.push(`entry ${index + 1} of ${JSON.stringify(text)} is empty`);
      return;
    }
    const problem = checkListen(entry);
    if (problem !== undefined) {
      // checkListen names the whole entry only in its first message; say which entry the others are about.
      problems.push(problem.includes(JSON.stringify(entry)) ? problem : `${JSON.stringify(entry)}: ${problem}`);
      return;
    }
    const key = entry.toLowerCase();
    if (seen.has(key)) problems.push(`${JSON.stringify(entry)} is given twice`);
    seen.add(key);
  });
  return problems.length === 0 ? { ok: true, queens: entries } : { ok: false, problems };
}

/**
 * The queens a command talks to: `--queen` (`flag`), else HIVE_REGISTRY_QUEEN when set and not empty, else
 * `fallback`; each problem starts with where the list came from.
 */
export function queensFrom(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  fallback: string,
): { ok: true; queens: readonly string[] } | { ok: false; problems: string[] } {
  const fromEnv = flag === undefined && (env[QUEEN_ENV] ?? '') !== '';
  const parsed = parseQueenList(flag ?? (fromEnv ? (env[QUEEN_ENV] ?? '') : fallback));
  if (parsed.ok) return parsed;
  const source = fromEnv ? QUEEN_ENV : '--queen';
  return { ok: false, problems: parsed.problems.map((problem) => `${source}: ${problem}`) };
}
