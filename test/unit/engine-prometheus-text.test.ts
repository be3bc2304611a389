// The agent's reader of engines' /metrics: real engine lines in, samples out; a malformed line names itself.
import { parsePrometheusText, PrometheusParseError } from '../../src/agent/engines/prometheus-text';

const VLLM = [
  '# HELP vllm:num_requests_running Number of requests in model execution batches.',
  '# TYPE vllm:num_requests_running gauge',
  'vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0',
  'vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0',
  '# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.',
  '# TYPE vllm:e2e_request_latency_seconds histogram',
  'vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="m"} 1.0',
  'vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0',
  'vllm:e2e_request_latency_seconds_count{engine="0",model_name="m"} 4.0',
  'vllm:e2e_request_latency_seconds_sum{engine="0",model_name="m"} 3.25',
  '',
].join('\n');

function failure(text: string): PrometheusParseError {
  try {
    parsePrometheusText(text);
  } catch (error) {
    if (error instanceof PrometheusParseError) return error;
    throw error;
  }
  throw new Error('parsed without an error');
}

describe('parsePrometheusText', () => {
  test('reads vLLM lines: colons in names, labels, histogram samples, in order', () => {
    const samples = parsePrometheusText(VLLM);
    expect(samples.map((s) => s.name)).toEqual([
      'vllm:num_requests_running',
      'vllm:num_requests_running',
      'vllm:e2e_request_latency_seconds_bucket',
      'vllm:e2e_request_latency_seconds_bucket',
      'vllm:e2e_request_latency_seconds_count',
      'vllm:e2e_request_latency_seconds_sum',
    ]);
    expect(samples[1]).toEqual({
      name: 'vllm:num_requests_running',
      labels: { engine: '1', model_name: 'meta-llama/Llama-3.1-8B-Instruct' },
      value: 3,
    });
    expect(samples[3]?.labels['le']).toBe('+Inf');
    expect(samples[5]?.value).toBe(3.25);
  });

  test('reads unlabelled llama.cpp and TGI lines', () => {
    const samples = parsePrometheusText('llamacpp:requests_processing 1\nllamacpp:requests_deferred 4\ntgi_queue_size 0\n');
    expect(samples).toEqual([
      { name: 'llamacpp:requests_processing', labels: {}, value: 1 },
      { name: 'llamacpp:requests_deferred', labels: {}, value: 4 },
      { name: 'tgi_queue_size', labels: {}, value: 0 },
    ]);
  });

  test('unescapes label values: quote, backslash, newline; commas and braces inside quotes are text', () => {
    const [sample] = parsePrometheusText('g{a="x\\"y\\\\z\\nw",b="c,d}"} 1\n');
    expect(sample?.labels).toEqual({ a: 'x"y\\z\nw', b: 'c,d}' });
  });

  test.each<[string, number]>([
    ['NaN', Number.NaN],
    ['nan', Number.NaN],
    ['+Inf', Number.POSITIVE_INFINITY],
    ['Inf', Number.POSITIVE_INFINITY],
    ['-Inf', Number.NEGATIVE_INFINITY],
    ['1.5e3', 1500],
    ['-0.25', -0.25],
    ['.5', 0.5],
    ['7', 7],
  ])('value %s', (text, value) => {
    expect(parsePrometheusText(`g ${text}\n`)[0]?.value).toBe(value);
  });

  test('an optional timestamp, CRLF line ends, blanks between tokens, a trailing comma, no final newline', () => {
    const text = 'a{x="1"} 4 1700000000000\r\nb { y = "2" , } 5\r\n\r\n  # indented comment\r\nc\t6\t-3';
    expect(parsePrometheusText(text)).toEqual([
      { name: 'a', labels: { x: '1' }, value: 4 },
      { name: 'b', labels: { y: '2' }, value: 5 },
      { name: 'c', labels: {}, value: 6 },
    ]);
  });

  test('comments and blank lines only: no samples', () => {
    expect(parsePrometheusText('# HELP x X.\n# TYPE x gauge\n\n')).toEqual([]);
    expect(parsePrometheusText('')).toEqual([]);
  });

  test.each<[string, string, number, RegExp]>([
    ['HTML', 'ok 1\n<html><body>hi</body></html>\n', 2, /not a sample: "<html><body>hi<\/body><\/html>"/],
    ['JSON', '{"error":"x"}', 1, /not a sample/],
    ['no value', 'g{a="b"}\n', 1, /g: no value/],
    ['a bad value', '\n\ng one\n', 3, /g: bad value "one"/],
    ['an unquoted label value', 'g{a=b} 1\n', 1, /label a: value must be quoted/],
    ['an unterminated label value', 'g{a="b} 1\n', 1, /label a: unterminated value/],
    ['a bad escape', 'g{a="\\t"} 1\n', 1, /bad escape \\t/],
    ['a label twice', 'g{a="1",a="2"} 1\n', 1, /label a twice/],
    ['a missing =', 'g{a "1"} 1\n', 1, /label a: expected =/],
    ['a missing , between labels', 'g{a="1" b="2"} 1\n', 1, /label a: expected , or \}/],
    ['a bad label name', 'g{1a="1"} 1\n', 1, /bad label name at column 3/],
    ['a bad timestamp', 'g 1 soon\n', 1, /bad timestamp "soon"/],
    ['a name running into its value', 'g-1 2\n', 1, /g: expected a blank before the value/],
    ['a label set running into its value', 'g{a="b"}1\n', 1, /g: expected a blank before the value/],
    ['a fourth field', 'g 1 2 3\n', 1, /unexpected "3"/],
  ])('refuses %s, naming the line', (_name, text, line, message) => {
    const error = failure(text);
    expect(error.line).toBe(line);
    expect(error.message).toMatch(new RegExp(`^line ${line}: `));
    expect(error.message).toMatch(message);
  });

  test('a long bad line is quoted short', () => {
    const error = failure(`<${'x'.repeat(500)}>\n`);
    expect(error.message.length).toBeLessThan(100);
  });
});
