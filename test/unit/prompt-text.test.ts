// The prompt text prefix affinity and the simulated prefix cache key on: its exact bytes for chat and completions
// bodies, and "" (never a throw) for whatever is not of the expected shape.
import { promptText } from '../../src/common/prompt-text';

const text = (kind: 'chat' | 'completions', body: unknown): string => promptText(kind, body).toString('utf8');

describe('promptText: chat', () => {
  test('each message: its role, a newline, its text content, a newline, in order', () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello there' },
        { role: 'assistant', content: null, tool_calls: [] },
      ],
    };
    expect(text('chat', body)).toBe('system\nbe brief\nuser\nhello there\nassistant\n\n');
  });

  test('array content: the text parts joined with "\\n"; images, audio and files add nothing', () => {
    const content = [
      { type: 'text', text: 'look at' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
      { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
      { type: 'file', file: { file_id: 'f-1' } },
      { type: 'text', text: 'this' },
      { type: 'image_url', text: 'not a text part' },
    ];
    expect(text('chat', { messages: [{ role: 'user', content }] })).toBe('user\nlook at\nthis\n');
    expect(text('chat', { messages: [{ role: 'user', content: [] }] })).toBe('user\n\n');
  });

  test('UTF-8 bytes: "é" is two bytes, an emoji four', () => {
    const bytes = promptText('chat', { messages: [{ role: 'user', content: 'é🐝' }] });
    expect([...bytes]).toEqual([...Buffer.from('user\n', 'utf8'), 0xc3, 0xa9, 0xf0, 0x9f, 0x90, 0x9d, 0x0a]);
    expect(bytes.length).toBe('user\n'.length + 2 + 4 + 1);
  });

  test('the order of messages matters', () => {
    const a = { role: 'user', content: 'a' };
    const b = { role: 'assistant', content: 'b' };
    expect(text('chat', { messages: [a, b] })).toBe('user\na\nassistant\nb\n');
    expect(text('chat', { messages: [b, a] })).toBe('assistant\nb\nuser\na\n');
  });

  test.each<[string, unknown, string]>([
    ['messages missing', { model: 'm' }, ''],
    ['messages null', { messages: null }, ''],
    ['messages a string', { messages: 'user: hi' }, ''],
    ['messages an object', { messages: { role: 'user', content: 'hi' } }, ''],
    ['a message that is null, a number or an array', { messages: [null, 7, ['user', 'hi'], { role: 'user', content: 'x' }] }, '\n\n\n\n\n\nuser\nx\n'],
    ['a role that is not a string', { messages: [{ role: 7, content: 'hi' }, { content: 'there' }] }, '\nhi\n\nthere\n'],
    ['a number content', { messages: [{ role: 'user', content: 42 }] }, 'user\n\n'],
    ['an object content', { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] }, 'user\n\n'],
    ['parts that are not objects, or whose text is not a string', { messages: [{ role: 'user', content: [null, 'hi', 3, ['x'], { type: 'text', text: 5 }, { type: 'text' }, { text: 'untyped' }, { type: 'text', text: 'ok' }] }] }, 'user\nok\n'],
  ])('%s', (_name, body, expected) => {
    expect(text('chat', body)).toBe(expected);
  });
});

describe('promptText: completions', () => {
  test('a string prompt is itself; an array its strings joined with "\\n"', () => {
    expect(text('completions', { model: 'm', prompt: 'once upon a time' })).toBe('once upon a time');
    expect(text('completions', { prompt: ['a b', '', 'c'] })).toBe('a b\n\nc');
    expect(promptText('completions', { prompt: 'naïve 🐝' })).toEqual(Buffer.from('naïve 🐝', 'utf8'));
  });

  test('token ids and other non-strings in the array are skipped', () => {
    expect(text('completions', { prompt: ['a', [1, 2, 3], 7, null, { x: 1 }, 'b'] })).toBe('a\nb');
    expect(text('completions', { prompt: [1, 2, 3] })).toBe('');
  });

  test.each<[string, unknown]>([
    ['prompt missing', { model: 'm' }],
    ['prompt a number', { prompt: 42 }],
    ['prompt null', { prompt: null }],
    ['prompt an object', { prompt: { text: 'hi' } }],
  ])('%s gives an empty Buffer', (_name, body) => {
    expect(promptText('completions', body)).toEqual(Buffer.alloc(0));
  });

  test('the kind decides which field is read', () => {
    const body = { prompt: 'p', messages: [{ role: 'user', content: 'm' }] };
    expect([text('completions', body), text('chat', body)]).toEqual(['p', 'user\nm\n']);
  });
});

describe('promptText: a body that is not an object', () => {
  test.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['a string', '{"prompt":"x"}'],
    ['a number', 3],
    ['an array', [{ role: 'user', content: 'x' }]],
  ])('%s gives an empty Buffer for both kinds', (_name, body) => {
    expect([promptText('chat', body).length, promptText('completions', body).length]).toEqual([0, 0]);
  });
});

test('a long conversation comes out whole, every message in it', () => {
  const messages = Array.from({ length: 20_000 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: [{ type: 'text', text: 'x'.repeat(50) }] }));
  const bytes = promptText('chat', { messages });
  expect(bytes.length).toBe(10_000 * ('user\n'.length + 51) + 10_000 * ('assistant\n'.length + 51));
});

test('the prompt text is never longer than the JSON body it comes from (the gateway skips bodies under one block)', () => {
  const bodies: [kind: 'chat' | 'completions', body: unknown][] = [
    ['chat', { messages: [{ role: 'u', content: 'é😀' }] }],
    ['chat', { messages: [{ role: 'system', content: '\uD83D\uDE00\uD800' }, { role: '', content: [{ type: 'text', text: 'a' }, { type: 'text', text: '' }] }] }],
    ['chat', { messages: [7, null, {}, { content: 'x' }] }],
    ['completions', { prompt: ['a', 'b', '', 'c'] }],
    ['completions', { prompt: '\n\t"\\' }],
  ];
  for (const [kind, body] of bodies) {
    // JSON.stringify escapes non-ASCII only when it must; the gateway sees whatever the client sent, which holds
    // each character in at least as many bytes as its UTF-8 form.
    for (const json of [JSON.stringify(body), JSON.stringify(body).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)]) {
      expect({ json, text: promptText(kind, JSON.parse(json)).length <= Buffer.byteLength(json) }).toEqual({ json, text: true });
    }
  }
});
