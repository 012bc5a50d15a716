/**
 * Gateway liveness, both ways (src/kinds/heartbeat.ts):
 * - every `alerts.heartbeatIntervalS`, while the peer link is up, a heartbeat to the peer gateway;
 * - what arrives from the peer gateway (a heartbeat or any other authentic message) is noted, and when
 *   nothing has come for `alerts.peerSilentAfterS` while both brokers answer,
 *   `alert.peer_gateway_silent` opens; the next thing that arrives resolves it.
 *
 * When it last heard from the peer is kept in Redis too (written at most twice an interval), so that
 * the replicas of a party agree whichever of them took the heartbeats in. The alert is armed once a
 * heartbeat from the peer has ever been heard (a Redis mark that outlives restarts): a peer of a version
 * without heartbeats is never taken for a silent one.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Alerter } from '../admin/alerts.js';
import { AccordError, UnroutableError } from '../errors.js';
import type { PeerLiveness } from '../pipeline/ports.js';

/** What the watch needs of a broker connection. */
interface Link {
  readonly isUp: boolean;
}

export interface HeartbeatOptions {
  intervalS: number;
  silentAfterS: number;
  /**
   * Whether the peer's side is there to publish to (its exchange exists): asked before the first
   * heartbeat and after one failed, as a publish to a missing exchange costs the peer connection.
   */
  peerReady: () => Promise<boolean>;
  peer: Link;
  local: Link;
  redis: Redis;
  redisPrefix: string;
  alerts: Alerter;
  log: Logger;
  now: () => Date;
}

export class PeerHeartbeat implements PeerLiveness {
  private lastHeardMs: number | undefined;
  private lastWrittenMs = 0;
  private armed = false;
  private timer: NodeJS.Timeout | undefined;
  private sendFailure: string | undefined;
  private peerKnownReady = false;
  private send: (() => Promise<void>) | undefined;

  constructor(private readonly opts: HeartbeatOptions) {}

  private key(name: string) {
    return `${this.opts.redisPrefix}peer:${name}`;
  }

  /** When the peer gateway was last heard from (epoch ms), as far as this party knows. */
  get lastHeard(): number | undefined {
    return this.lastHeardMs;
  }

  heard(heartbeat: boolean): void {
    const t = this.opts.now().getTime();
    this.lastHeardMs = Math.max(this.lastHeardMs ?? 0, t);
    this.opts.alerts.resolve('alert.peer_gateway_silent');
    const arming = heartbeat && !this.armed;
    if (!arming && t - this.lastWrittenMs < (this.opts.intervalS * 1000) / 2) return;
    this.lastWrittenMs = t;
    const { redis } = this.opts;
    const write = redis.multi().set(this.key('last-heard'), String(t), 'EX', 7 * 86_400);
    if (arming) write.set(this.key('sends-heartbeats'), '1');
    // Best effort: a Redis away only narrows what the other replicas know.
    write.exec().catch(() => undefined);
    if (heartbeat) this.armed = true;
  }

  /**
   * Start sending and watching. The first heartbeat goes after one interval, not at once: a gateway
   * pair started together gives the peer time to declare its side (a publish to an exchange that
   * does not exist yet would cost the peer connection a reconnect).
   * @param send sends one heartbeat; rejects when it could not be published
   */
  start(send: () => Promise<void>): void {
    this.send = send;
    this.startedMs = this.opts.now().getTime();
    this.timer = setInterval(() => {
      this.beat();
      this.check().catch((err: unknown) =>
        this.opts.log.warn({ err: (err as Error).message }, 'peer liveness check failed'),
      );
    }, this.opts.intervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sendOne(): Promise<void> {
    if (!this.peerKnownReady) {
      this.peerKnownReady = await this.opts.peerReady();
      if (!this.peerKnownReady) {
        throw new AccordError(
          'infra.unavailable',
          'the peer exchange does not exist: the peer gateway has never started on its broker',
        );
      }
    }
    try {
      await this.send?.();
    } catch (err) {
      this.peerKnownReady = false;
      throw err;
    }
  }

  private beat(): void {
    if (!this.opts.peer.isUp) return;
    this.sendOne().then(
      () => {
        if (this.sendFailure !== undefined) this.opts.log.info('heartbeats reach the peer gateway again');
        this.sendFailure = undefined;
      },
      (err: unknown) => {
        const e = err as { code?: string; message?: string };
        const why = e.message ?? 'unknown';
        // Said once per spell, not every interval.
        if (this.sendFailure === why) return;
        this.sendFailure = why;
        const unroutable = err instanceof UnroutableError;
        this.opts.log[unroutable ? 'info' : 'warn'](
          { code: e.code ?? 'internal.error', err: why },
          unroutable
            ? 'the peer’s broker has no route for heartbeats: its gateway runs a version without them (silence is not judged from its side)'
            : 'a heartbeat could not be sent to the peer gateway',
        );
      },
    );
  }

  /** Open or resolve `alert.peer_gateway_silent` by what this party last heard. */
  private async check(): Promise<void> {
    const { redis, alerts, now } = this.opts;
    const [last, marked] = await Promise.all([
      redis.get(this.key('last-heard')).catch(() => null),
      this.armed ? Promise.resolve('1') : redis.get(this.key('sends-heartbeats')).catch(() => null),
    ]);
    if (last !== null && Number.isFinite(Number(last))) {
      this.lastHeardMs = Math.max(this.lastHeardMs ?? 0, Number(last));
    }
    if (marked !== null) this.armed = true;
    if (!this.armed || !this.opts.peer.isUp || !this.opts.local.isUp) return;
    const t = now().getTime();
    // Nothing heard since this process started: counted from its start.
    const since = this.lastHeardMs ?? this.startedMs ?? t;
    const silentMs = t - since;
    if (silentMs > this.opts.silentAfterS * 1000) {
      alerts.open('alert.peer_gateway_silent', { silentForS: Math.round(silentMs / 1000) });
    } else {
      // Heard by another replica of this party.
      alerts.resolve('alert.peer_gateway_silent');
    }
  }

  private startedMs: number | undefined;
}
