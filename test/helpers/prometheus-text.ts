/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: it throws, naming the line, on
 * anything a scraper could reject or misread, so a test that parses /metrics checks the format too. Checked: every
 * sample belongs to a family with a HELP and a TYPE line given before its samples; a family's samples are
 * contiguous; names, labels and values are well formed; no series appears twice; a histogram has `le` on every
 * bucket, cumulative buckets ending in +Inf, and a `_count` equal to that bucket.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  help?: string;
  type?: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/**
 * A sample value as Prometheus reads it (Go's strconv.ParseFloat): a decimal float, or NaN and Inf in any case
 * (prom-client writes NaN as "Nan", which Prometheus accepts).
 */
function parseValue(text: string, where: string): number {
  if (/^nan$/i.test(text)) return Number.NaN;
  if (/^\+?inf$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parses `{a="x",b="y\"z"}` starting at `text[0] === '{'`; returns the labels and the rest after `}`. */
function parseLabels(text: string, where: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const eq = text.indexOf('=', i);
    const name = eq < 0 ? '' : text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name}: value must be quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j += 1) {
      if (text[j] !== '\\') {
        value += text[j];
        continue;
      }
      const escaped = text[j + 1];
      if (escaped === 'n') value += '\n';
      else if (escaped === '\\' || escaped === '"') value += escaped;
      else throw new Error(`${where}: label ${name}: bad escape \\${escaped ?? ''}`);
      j += 1;
    }
    if (j >= text.length) throw new Error(`${where}: label ${name}: unterminated value`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`);
  }
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(sampleName);
  if (exact !== undefined && exact.type !== 'histogram') return exact;
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (suffix === '' || !sampleName.endsWith(suffix)) continue;
      const family = families.get(sampleName.slice(0, -suffix.length));
      if (family?.type === type) return family;
    }
  }
  return undefined;
}

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry.buckets.push([parseValue(le, `${family.name} le`), sample.value]);
    } else if (sample.name.endsWith('_count')) {
      entry.count = sample.value;
    }
  }
  for (const [key, { buckets, count }] of series) {
    const last = buckets[buckets.length - 1];
    if (last === undefined || last[0] !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: no +Inf bucket`);
    for (let i = 1; i < buckets.length; i += 1) {
      const [le, value] = buckets[i] ?? [0, 0];
      const [prevLe, prevValue] = buckets[i - 1] ?? [0, 0];
      if (!(le > prevLe) || value < prevValue) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    if (count !== last[1]) throw new Error(`${family.name}${key}: _count ${count} differs from the +Inf bucket ${last[1]}`);
  }
}

/** Parses a whole exposition; throws naming the first problem. */
export function parsePrometheusText(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.slice(0, -1).split('\n');
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1}`;
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name = '', rest = ''] = meta;
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${JSON.stringify(name)}`);
      const family = families.get(name) ?? { name, samples: [] };
      if (family.samples.length > 0) throw new Error(`${where}: ${kind} for ${name} after its samples`);
      families.set(name, family);
      if (kind === 'HELP') {
        if (family.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        family.help = rest.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
      } else {
        if (family.type !== undefined) throw new Error(`${where}: second TYPE for ${name}`);
        if (!TYPES.includes(rest)) throw new Error(`${where}: bad type ${JSON.stringify(rest)}`);
        family.type = rest;
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (nameMatch === null) throw new Error(`${where}: not a sample: ${JSON.stringify(line)}`);
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, where));
    const fields = rest.split(' ');
    if (fields[0] !== '' || fields.length < 2 || fields.length > 3) throw new Error(`${where}: expected " value [timestamp]"`);
    const value = parseValue(fields[1] ?? '', where);
    if (fields[2] !== undefined && !/^-?\d+$/.test(fields[2])) throw new Error(`${where}: bad timestamp`);
    const family = familyOf(name, families);
    if (family?.help === undefined || family.type === undefined) throw new Error(`${where}: ${name} has no HELP and TYPE before it`);
    if (current !== family && family.samples.length > 0) throw new Error(`${where}: samples of ${family.name} are not contiguous`);
    current = family;
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`${where}: ${series} appears twice`);
    seen.add(series);
    family.samples.push({ name, labels, value });
  }
  for (const family of families.values()) {
    if (family.type === 'histogram') checkHistogram(family);
  }
  return new Exposition(families);
}

/** A parsed exposition: its families, and lookups of one sample by name and exact labels. */
export class Exposition {
  constructor(readonly families: ReadonlyMap<string, Family>) {}

  /** The sample named `name` whose labels are exactly `labels`; undefined when there is none. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
    const wanted = JSON.stringify(Object.entries(labels).sort());
    for (const family of this.families.values()) {
      for (const sample of family.samples) {
        if (sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted) return sample.value;
      }
    }
    return undefined;
  }

  /** Like `value`, 0 when the series does not exist yet (a histogram series appears with its first call). */
  count(name: string, labels: Readonly<Record<string, string>> = {}): number {
    return this.value(name, labels) ?? 0;
  }

  /** Every label value `label` takes among the samples named `name`. */
  labelValues(name: string, label: string): string[] {
    const values = new Set<string>();
    for (const family of this.families.values()) {
      for (const sample of family.samples) {
        const value = sample.labels[label];
        if (sample.name === name && value !== undefined) values.add(value);
      }
    }
    return [...values].sort();
  }
}
