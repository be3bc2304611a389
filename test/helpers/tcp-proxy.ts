import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port to `target`, for cutting one process off from a server (a partition that
 * leaves the others connected). `cut()` drops every connection and holds new ones open without forwarding a byte
 * (a black hole, as a pulled cable looks); `heal()` forwards again.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      const self = proxy!;
      self.sockets.add(client);
      client.on('close', () => self.sockets.delete(client));
      client.on('error', () => undefined);
      if (self.cutOff) return; // held, never answered
      const upstream = connect(targetPort, targetHost);
      self.sockets.add(upstream);
      upstream.on('close', () => {
        self.sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const port = await new Promise<number>((resolve) => {
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    proxy = new TcpProxy(server, port);
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  heal(): void {
    this.cutOff = false;
    // Held connections never got an upstream: drop them so the client dials again.
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
