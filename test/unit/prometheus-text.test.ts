// The strict exposition parser the metrics tests rely on: it must reject what a scraper would reject or misread,
// or those tests could not fail on a malformed /metrics.
import { parsePrometheusText } from '../helpers/prometheus-text';

const GOOD = [
  '# HELP up_total Things.',
  '# TYPE up_total counter',
  'up_total{result="a"} 3',
  'up_total{result="b\\"q\\\\"} 0',
  '# HELP lat Latency.',
  '# TYPE lat histogram',
  'lat_bucket{le="0.1",m="x"} 1',
  'lat_bucket{le="+Inf",m="x"} 2',
  'lat_sum{m="x"} 0.3',
  'lat_count{m="x"} 2',
  '# HELP g A gauge.',
  '# TYPE g gauge',
  'g Nan',
  '',
].join('\n');

describe('parsePrometheusText', () => {
  test('reads families, samples, escaped label values and NaN', () => {
    const parsed = parsePrometheusText(GOOD);
    expect([...parsed.families.keys()]).toEqual(['up_total', 'lat', 'g']);
    expect(parsed.value('up_total', { result: 'a' })).toBe(3);
    expect(parsed.value('up_total', { result: 'b"q\\' })).toBe(0);
    expect(parsed.value('lat_count', { m: 'x' })).toBe(2);
    expect(parsed.value('g')).toBeNaN();
    expect(parsed.value('up_total', {})).toBeUndefined();
    expect(parsed.labelValues('up_total', 'result')).toEqual(['a', 'b"q\\']);
  });

  const HEAD = '# HELP c C.\n# TYPE c counter\n';
  test.each<[string, string, RegExp]>([
    ['no trailing newline', `${HEAD}c 1`, /end with a newline/],
    ['a sample without HELP and TYPE', 'c 1\n', /no HELP and TYPE/],
    ['a sample with TYPE but no HELP', '# TYPE c counter\nc 1\n', /no HELP and TYPE/],
    ['a bad value', `${HEAD}c one\n`, /bad value/],
    ['an unquoted label value', `${HEAD}c{a=b} 1\n`, /must be quoted/],
    ['a bad label name', `${HEAD}c{1a="b"} 1\n`, /bad label name/],
    ['an unterminated label value', `${HEAD}c{a="b} 1\n`, /unterminated/],
    ['the same series twice', `${HEAD}c{a="b"} 1\nc{a="b"} 2\n`, /twice/],
    ['a second TYPE', `${HEAD}# TYPE c counter\nc 1\n`, /second TYPE/],
    ['an unknown type', '# HELP c C.\n# TYPE c countr\nc 1\n', /bad type/],
    ['samples of a family split', `${HEAD}c{a="1"} 1\n# HELP d D.\n# TYPE d gauge\nd 1\nc{a="2"} 1\n`, /not contiguous/],
    ['a histogram without +Inf', '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /no \+Inf/],
    [
      'a histogram whose count differs from +Inf',
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
      /differs/,
    ],
    [
      'a histogram whose buckets decrease',
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
      /not cumulative/,
    ],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parsePrometheusText(text)).toThrow(message);
  });
});
