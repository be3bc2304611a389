/**
 * Samples out of the Prometheus text exposition format (0.0.4), as engines serve it on `/metrics`. Comments
 * (`# HELP`, `# TYPE`, anything after `#`) and blank lines are skipped; every other line must be a well-formed
 * sample, or the whole text is refused naming the line: an engine whose metrics do not parse tells us nothing
 * reliable, and a silently skipped line could be the one we wanted.
 *
 * Accepted: names with colons (`vllm:num_requests_running`), label values with the escapes `\\`, `\"` and `\n`,
 * a trailing comma in a label set, blanks between tokens, values `NaN`, `+Inf`, `-Inf` (any case, as Go's
 * ParseFloat reads them) and decimal floats, an optional integer timestamp, CRLF line ends.
 */

/** One sample: a histogram bucket, a counter, a gauge... as written (no family grouping). */
export interface PrometheusSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The text is not the exposition format; `line` is 1-based. */
export class PrometheusParseError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'PrometheusParseError';
  }
}

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const TIMESTAMP = /^-?\d+$/;
/** Longest line quoted back in an error: enough to recognise it, not a page of HTML. */
const QUOTE_CHARS = 40;

/** Parses a whole exposition into its samples, in order. Throws PrometheusParseError on the first bad line. */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    samples.push(new LineReader(line, index + 1).sample());
  }
  return samples;
}

/** Reads one sample line left to right; each step throws naming what it expected. */
class LineReader {
  private at = 0;

  constructor(
    private readonly line: string,
    private readonly lineNumber: number,
  ) {}

  sample(): PrometheusSample {
    this.skipBlanks();
    const name = this.match(METRIC_NAME);
    if (name === undefined) throw this.fail(`not a sample: ${quote(this.line)}`);
    const afterName = this.at;
    this.skipBlanks();
    const hasLabels = this.line[this.at] === '{';
    const labels = hasLabels ? this.labels() : {};
    const next = this.line[this.at];
    // `g-1 2` must not read as g = -1 at time 2: the value is a separate token.
    if ((hasLabels || this.at === afterName) && next !== undefined && next !== ' ' && next !== '\t') {
      throw this.fail(`${name}: expected a blank before the value`);
    }
    const fields = this.line.slice(this.at).trim().split(/[ \t]+/);
    const [valueText = '', timestamp, extra] = fields;
    if (valueText === '') throw this.fail(`${name}: no value`);
    if (extra !== undefined) throw this.fail(`${name}: unexpected ${quote(extra)} after the timestamp`);
    if (timestamp !== undefined && !TIMESTAMP.test(timestamp)) throw this.fail(`${name}: bad timestamp ${quote(timestamp)}`);
    const value = parseValue(valueText);
    if (value === undefined) throw this.fail(`${name}: bad value ${quote(valueText)}`);
    return { name, labels, value };
  }

  /** `{a="x",b="y"}` from `line[at] === '{'`, leaving `at` after the `}`. */
  private labels(): Record<string, string> {
    const labels: Record<string, string> = {};
    this.at += 1;
    for (;;) {
      this.skipBlanks();
      if (this.line[this.at] === '}') {
        this.at += 1;
        return labels;
      }
      const name = this.match(LABEL_NAME);
      if (name === undefined) throw this.fail(`bad label name at column ${this.at + 1}`);
      if (Object.hasOwn(labels, name)) throw this.fail(`label ${name} twice`);
      this.skipBlanks();
      if (this.line[this.at] !== '=') throw this.fail(`label ${name}: expected =`);
      this.at += 1;
      this.skipBlanks();
      labels[name] = this.quoted(name);
      this.skipBlanks();
      if (this.line[this.at] === ',') this.at += 1;
      else if (this.line[this.at] !== '}') throw this.fail(`label ${name}: expected , or }`);
    }
  }

  /** A double-quoted label value from `line[at] === '"'`, unescaped. */
  private quoted(name: string): string {
    if (this.line[this.at] !== '"') throw this.fail(`label ${name}: value must be quoted`);
    let value = '';
    for (let i = this.at + 1; i < this.line.length; i += 1) {
      const c = this.line[i];
      if (c === '"') {
        this.at = i + 1;
        return value;
      }
      if (c !== '\\') {
        value += c;
        continue;
      }
      const escaped = this.line[i + 1];
      if (escaped === 'n') value += '\n';
      else if (escaped === '\\' || escaped === '"') value += escaped;
      else throw this.fail(`label ${name}: bad escape \\${escaped ?? ''}`);
      i += 1;
    }
    throw this.fail(`label ${name}: unterminated value`);
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.at;
    const found = pattern.exec(this.line);
    if (found === null) return undefined;
    this.at += found[0].length;
    return found[0];
  }

  private skipBlanks(): void {
    while (this.line[this.at] === ' ' || this.line[this.at] === '\t') this.at += 1;
  }

  private fail(detail: string): PrometheusParseError {
    return new PrometheusParseError(this.lineNumber, detail);
  }
}

/** A sample value as Prometheus reads it; undefined when it is not one. */
function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === 'inf' || lower === '+inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  return FLOAT.test(text) ? Number(text) : undefined;
}

function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}...` : text);
}
