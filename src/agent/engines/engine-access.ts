import type { EngineAccess } from './engine-poller.js';
import { adapterFor, detectEngine } from './adapters.js';
import { EngineHttpClient, type EngineHttpOptions } from './engine-http.js';

/** EngineAccess over HTTP: one kept-alive client per engine URL, the adapters and detection of this folder. */
export function engineAccess(options: EngineHttpOptions): EngineAccess & { close(): void } {
  const clients = new Map<string, EngineHttpClient>();
  const clientFor = (url: string): EngineHttpClient => {
    let client = clients.get(url);
    if (client === undefined) {
      client = new EngineHttpClient(url, options);
      clients.set(url, client);
    }
    return client;
  };
  return {
    http: (url, signal) => clientFor(url).forPoll({ signal }),
    detect: (http) => detectEngine(http),
    adapterFor,
    release: (url) => {
      clients.get(url)?.close();
      clients.delete(url);
    },
    close: () => {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
