/**
 * The prompt text of an OpenAI request, as UTF-8 bytes: what prefix affinity (the gateway) and the simulated
 * workers' prefix cache key on (CONTRACT, "Routing v3"). Both sides use this one function, so they cut the same
 * bytes.
 *
 * - `chat`: for each of `body.messages`, in order: its role, "\n", its text content, "\n". The text content of a
 *   string `content` is that string; of an array, the `text` of its parts whose `type` is "text" (and whose `text`
 *   is a string), joined with "\n" as vLLM joins them; other parts (image_url, input_audio, file, ...) add nothing.
 * - `completions`: `body.prompt` when it is a string; when an array, its strings joined with "\n" (anything else
 *   in it, such as token-id arrays, is skipped).
 *
 * Never throws: the gateway applies it to bodies it forwards unchecked. Whatever is not of the shape above counts
 * as "": a message that is not an object, a role that is not a string and a content that is neither a string nor
 * an array each give "" for their piece (such a message still adds its two newlines). `messages` missing or not
 * an array, a `prompt` neither a string nor an array, or a `body` that is not an object give an empty Buffer.
 */
export function promptText(kind: 'chat' | 'completions', body: unknown): Buffer {
  if (!isObject(body)) return EMPTY;
  const text = kind === 'chat' ? chatText(body.messages) : completionsText(body.prompt);
  return text === '' ? EMPTY : Buffer.from(text, 'utf8');
}

/** Separator between the text parts of one message and between the prompts of a completions request. */
const JOIN = '\n';
const EMPTY = Buffer.alloc(0);

function chatText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  // Pieces joined once at the end: a long conversation is never copied message by message.
  const pieces: string[] = [];
  for (const message of messages as readonly unknown[]) {
    if (isObject(message)) {
      pieces.push(typeof message.role === 'string' ? message.role : '', '\n', contentText(message.content), '\n');
    } else {
      pieces.push('\n\n');
    }
  }
  return pieces.join('');
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content as readonly unknown[]) {
    if (isObject(part) && part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
  }
  return texts.join(JOIN);
}

function completionsText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (!Array.isArray(prompt)) return '';
  return (prompt as readonly unknown[]).filter((p): p is string => typeof p === 'string').join(JOIN);
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
