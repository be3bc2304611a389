import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * POST /v1/chat/completions as an OpenAI-compatible engine answers it: one `chat.completion` object, or with
 * `"stream": true` server-sent `chat.completion.chunk` events ending with `data: [DONE]`. The reply text is
 * `reply` whatever the prompt; the model is the request's (else `model`).
 */
export function answerChat(req: IncomingMessage, res: ServerResponse, model: string, reply: string, id: number): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= 1024 * 1024) chunks.push(chunk);
  });
  req.on('end', () => {
    let body: { model?: unknown; stream?: unknown; messages?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      send(res, 400, { object: 'error', message: 'request body is not JSON', type: 'BadRequestError', code: 400 });
      return;
    }
    if (!Array.isArray(body.messages)) {
      send(res, 400, { object: 'error', message: 'messages: field required', type: 'BadRequestError', code: 400 });
      return;
    }
    const common = { id: `chatcmpl-fake-${id}`, created: 1_735_000_000, model: typeof body.model === 'string' ? body.model : model };
    const promptTokens = JSON.stringify(body.messages).length >> 2;
    const completionTokens = reply.split(' ').length;
    if (body.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      const event = (delta: object, finish: string | null): string =>
        `data: ${JSON.stringify({ ...common, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
      res.write(event({ role: 'assistant', content: '' }, null));
      res.write(event({ content: reply }, null));
      res.write(event({}, 'stop'));
      res.end('data: [DONE]\n\n');
      return;
    }
    send(res, 200, {
      ...common,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: reply }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    });
  });
}

function send(res: ServerResponse, status: number, value: object): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
