/**
 * A TCP proxy the tests own, between a gateway and a broker, so a link can be cut (every socket
 * destroyed, new ones refused) and restored without touching the broker itself. Given several ports
 * (the nodes of a cluster), it stands in for a load balancer: each new connection goes to the next
 * node in turn that accepts it.
 */
import net from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private open = true;
  private stalled = false;
  private server: net.Server | undefined;
  port = 0;

  private readonly targetPorts: readonly number[];
  private next = 0;

  constructor(
    private readonly targetHost: string,
    targetPort: number | readonly number[],
  ) {
    this.targetPorts = typeof targetPort === 'number' ? [targetPort] : targetPort;
  }

  /** Connect to the first target, from the next in turn, that accepts; undefined when none does. */
  private async dial(): Promise<net.Socket | undefined> {
    const start = this.next++;
    for (let i = 0; i < this.targetPorts.length; i++) {
      const port = this.targetPorts[(start + i) % this.targetPorts.length]!;
      const socket = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(port, this.targetHost);
        s.once('connect', () => resolve(s));
        s.once('error', () => {
          s.destroy();
          resolve(undefined);
        });
      });
      if (socket !== undefined) return socket;
    }
    return undefined;
  }

  async start(port = 0): Promise<this> {
    this.server = net.createServer((client) => void this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  private async accept(client: net.Socket): Promise<void> {
    client.on('error', () => client.destroy());
    if (!this.open) {
      client.destroy();
      return;
    }
    client.pause();
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    const upstream = await this.dial();
    if (upstream === undefined || !this.open || client.destroyed) {
      upstream?.destroy();
      client.destroy();
      return;
    }
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (this.stalled) upstream.pause();
    else client.resume();
  }

  /**
   * Stall the link: connections stay open but nothing passes either way until `unstall()`, as with a
   * peer that hangs (publishes go unconfirmed, until heartbeats give the connection up).
   */
  stall(): void {
    this.stalled = true;
    for (const s of this.sockets) s.pause();
  }

  unstall(): void {
    this.stalled = false;
    for (const s of this.sockets) s.resume();
  }

  /** An amqp:// URL through this proxy. */
  url(user = 'guest', password = 'guest'): string {
    return `amqp://${user}:${password}@127.0.0.1:${this.port}`;
  }

  /** Cut the link: drop every connection and refuse new ones until `restore()`. */
  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
