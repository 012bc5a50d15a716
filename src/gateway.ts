/**
 * One gateway's lifecycle: `Gateway.start` assembles it from a checked config (compose.ts, the
 * composition root) and `stop()` — memoised, safe to call more than once — first closes the broker
 * connections, so nothing new is taken in, then everything else, newest first.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { assemble, type Assembled } from './compose.js';

export class Gateway {
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    private readonly parts: Assembled,
    private readonly log: Logger,
  ) {}

  /** Connect, declare the topology and start consuming; `now` is the gateway's clock. */
  static async start(config: Config, log: Logger, now: () => Date = () => new Date()): Promise<Gateway> {
    const parts = await assemble(config, log, now);
    log.info({ party: config.party, namespace: config.namespace }, 'gateway started');
    return new Gateway(config, parts, log);
  }

  /** Where the admin server listens, when the config has one. */
  get adminAddress(): AddressInfo | undefined {
    return this.parts.adminAddress;
  }

  /** The wire version the peer gateway reads, as last learnt from a heartbeat (docs/protocol.md). */
  get peerWireVersion(): 1 | 2 {
    return this.parts.wireVersion();
  }

  /** Stop consuming and close every connection; safe to call more than once. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const c of this.parts.intake) await c.close();
      await this.parts.closers.closeAll(this.log);
      this.log.info({ party: this.config.party }, 'gateway stopped');
    })();
    return this.stopped;
  }
}
