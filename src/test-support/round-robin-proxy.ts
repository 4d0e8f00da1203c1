import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that spreads connections over several servers in turn, as a Kubernetes
 * Service spreads them over its pods: a connection stays with the server it reached; a server
 * that refuses (it died) is passed over for the next one.
 */
export class RoundRobinProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  port = 0;
  /** Connections each target took, by its index (tests check both replicas were used). */
  readonly served: number[];

  constructor(private readonly targets: { host: string; port: number }[]) {
    this.served = targets.map(() => 0);
  }

  async start(): Promise<string> {
    this.server = createServer((client) => {
      this.track(client);
      client.pause();
      this.route(client, 0);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    return `http://127.0.0.1:${this.port}`;
  }

  private route(client: Socket, tried: number): void {
    if (tried >= this.targets.length || client.destroyed) {
      client.destroy();
      return;
    }
    const index = this.next++ % this.targets.length;
    const target = this.targets[index]!;
    const upstream = connect(target.port, target.host);
    upstream.once('error', () => {
      if (!upstream.readyState.includes('open')) this.route(client, tried + 1);
      upstream.destroy();
    });
    upstream.once('connect', () => {
      this.served[index]!++;
      this.track(upstream);
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}
