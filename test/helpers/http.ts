import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** An HTTP answer, its body read whole. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpOptions {
  readonly method?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Any other headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** A request body (the listener must answer without reading it). */
  readonly body?: string;
  /** HTTPS: verify the server against this CA (PEM); with `cert` and `key`, present a client certificate. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

/** Time allowed for one request before the test fails with a readable message. */
const REQUEST_TIMEOUT_MS = 5_000;

/** One request to 127.0.0.1:`port`, on its own connection (no agent: nothing stays open after the test). */
export function httpFetch(port: number, path: string, options: HttpOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const common = { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, agent: false as const };
  return new Promise((resolve, reject) => {
    const onResponse = (response: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    };
    const tls = options.tls;
    const req =
      tls === undefined
        ? httpRequest(common, onResponse)
        : httpsRequest(
            { ...common, ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) },
            onResponse,
          );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${common.method} ${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
