/**
 * Sending transfers (wire version 2, docs/protocol.md "Transfers"). {@link PeerWire} knows which wire
 * version the peer reads — from the heartbeat, which goes as a transfer of one on the transfer routing
 * key: the peer's broker routes it only when that gateway bound the key, which a gateway that reads
 * transfers does — and {@link PeerWire.send} gathers the messages ready for the peer into transfers.
 *
 * A transfer leaves as soon as none is on its way (a batch of one at low load, with no waiting), and
 * fills while the ones before it are sealed and sent, up to `transfers.maxMessages` messages and
 * `transfers.maxBytes` bytes: a group commit on the peer link. Crash safety is a single message's:
 * the transfer is stored once with each member's record pointing to it, all or nothing, before it is
 * published; a member whose record another attempt wrote first is sent by that record instead.
 */
import { UnroutableError } from '../errors.js';
import type { Logger } from 'pino';
import { TRANSFER_SEALED_GROWTH, type Config } from '../config.js';
import type { Envelope } from '../domain/envelope.js';
import type { WireVersion } from '../domain/transfer.js';
import type { GatewayContext, PeerWireState, Sent } from './context.js';
import type { PublishProps } from './ports.js';
import { peerPublishProps, sentRecordOf } from './dispatch.js';
import { faultPoint } from '../faults.js';

/** How often traffic may ask the peer again what it reads, while it is not known to read transfers. */
const NUDGE_EVERY_MS = 5000;

interface Item {
  id: string;
  text: string;
  bytes: number;
  envelope: Envelope;
  idempotencyKey: string;
  resolve: (sent: Sent) => void;
  reject: (err: unknown) => void;
}

export class PeerWire implements PeerWireState {
  /** The wire version the peer reads, as the last heartbeat found; single messages until one says 2. */
  private peerReads: WireVersion = 1;
  /** When the last probe began (epoch ms), so that {@link nudge} asks at most every few seconds. */
  private lastProbeMs = 0;
  private lastAskMs = 0;
  private later: NodeJS.Timeout | undefined;
  /** A heartbeat sender that probes; set by the composition root. */
  heartbeat: (() => Promise<void>) | undefined;
  private readonly waiting: Item[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: Config['transfers'],
    private readonly log: Logger,
  ) {}

  /** What the peer reads, as last found. */
  get version(): WireVersion {
    return this.peerReads;
  }

  /** Whether a message goes in a transfer: the urgent lane (Art. 9(1)) never waits for one. */
  batches(urgent: boolean): boolean {
    return this.opts.send && this.peerReads === 2 && !urgent;
  }

  /**
   * Publish a heartbeat (a transfer of one, on the transfer routing key) and learn from it what the
   * peer reads: routed means it reads transfers, returned unroutable means it does not. Returns false
   * when it was returned (the caller then sends the heartbeat as a single message); rejects on any other
   * failure, which says nothing about the version.
   */
  async probe(ctx: GatewayContext, text: string, props: PublishProps) {
    if (!this.opts.send) return false;
    this.lastProbeMs = Date.now();
    const sealed = await ctx.crypto.sealTransfer(
      [text],
      { createdAt: ctx.deps.now().toISOString() },
      ctx.keys,
      ctx.profile,
    );
    try {
      await ctx.deps.peer.publish(ctx.peerNames.transferRoute, Buffer.from(sealed.jwe, 'latin1'), props);
    } catch (err) {
      if (!(err instanceof UnroutableError)) throw err;
      this.learn(1);
      return false;
    }
    this.learn(2);
    return true;
  }

  /**
   * Ask again soon (a heartbeat) while the peer is not known to read transfers: a peer that started
   * after this gateway, or was upgraded, is found within seconds of traffic, not a heartbeat interval.
   */
  nudge(): void {
    if (!this.opts.send || this.peerReads === 2 || this.heartbeat === undefined) return;
    const now = Date.now();
    // A probe at most every few seconds; a look whether the peer is there at all, once a second. A
    // nudge that comes too soon is kept for when it may go.
    const wait = Math.max(this.lastProbeMs + NUDGE_EVERY_MS, this.lastAskMs + 1000) - now;
    if (wait > 0) {
      this.later ??= setTimeout(() => {
        this.later = undefined;
        this.nudge();
      }, wait);
      this.later.unref();
      return;
    }
    this.lastAskMs = now;
    this.heartbeat().catch((err: unknown) =>
      this.log.debug({ err: (err as Error).message }, 'no heartbeat to learn the peer’s wire version from'),
    );
  }

  /** What a publish said about the peer: a transfer returned unroutable means it reads no transfers now. */
  unroutable(): void {
    this.learn(1);
  }

  private learn(v: WireVersion): void {
    if (v === this.peerReads) return;
    this.log.info(
      { wireVersion: v },
      v === 2
        ? 'the peer gateway reads transfers: messages go to it in transfers (wire version 2)'
        : 'the peer gateway does not read transfers: messages go to it one by one (wire version 1)',
    );
    this.peerReads = v;
  }

  /**
   * Send an envelope in the next transfer; resolves with when it was sent, or `taken` when another
   * attempt stored this message first (the caller sends that attempt's copy).
   */
  send(ctx: GatewayContext, envelope: Envelope, idempotencyKey: string): Promise<Sent> {
    const text = JSON.stringify(envelope);
    return new Promise((resolve, reject) => {
      this.waiting.push({
        id: envelope.id,
        text,
        bytes: Buffer.byteLength(text),
        envelope,
        idempotencyKey,
        resolve,
        reject,
      });
      this.pump(ctx);
    });
  }

  private pump(ctx: GatewayContext): void {
    while (this.waiting.length > 0 && this.inFlight < this.opts.inFlight) {
      const full =
        this.waiting.length >= this.opts.maxMessages ||
        this.waiting.reduce((n, i) => n + i.bytes, 0) >= this.maxBytes(ctx);
      if (this.opts.maxWaitMs > 0 && !full && this.inFlight === 0) {
        // Linger for company, once, when asked to.
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.flushNext(ctx);
        }, this.opts.maxWaitMs);
        return;
      }
      this.flushNext(ctx);
    }
  }

  /**
   * Envelope bytes a transfer may hold: `transfers.maxBytes`, and never more than seals within what the
   * peer reads (a transfer seals to about twice its envelopes; the sender keeps its own
   * `crypto.maxMessageBytes` no larger than the peer's).
   */
  private maxBytes(ctx: GatewayContext): number {
    return Math.min(this.opts.maxBytes, Math.floor(ctx.profile.maxMessageBytes / TRANSFER_SEALED_GROWTH));
  }

  private flushNext(ctx: GatewayContext): void {
    if (this.waiting.length === 0) return;
    const batch: Item[] = [];
    let bytes = 0;
    while (this.waiting.length > 0 && batch.length < this.opts.maxMessages) {
      const next = this.waiting[0]!;
      if (batch.length > 0 && bytes + next.bytes > this.maxBytes(ctx)) break;
      batch.push(this.waiting.shift()!);
      bytes += next.bytes;
    }
    this.inFlight++;
    this.flush(ctx, batch)
      .catch((err: unknown) => {
        for (const i of batch) i.reject(err);
      })
      .finally(() => {
        this.inFlight--;
        this.pump(ctx);
      });
  }

  /** Seal, store (all or nothing), publish with a confirm, mark sent and schedule each receipt check. */
  private async flush(ctx: GatewayContext, batch: Item[]): Promise<void> {
    const sealed = await ctx.crypto.sealTransfer(
      batch.map((i) => i.text),
      { createdAt: ctx.deps.now().toISOString() },
      ctx.keys,
      ctx.profile,
    );
    if (batch.length > 1 && Buffer.byteLength(sealed.jwe, 'latin1') > ctx.profile.maxMessageBytes) {
      // Sealed, it is larger than the peer reads (members that escape to much more than their bytes):
      // half of it goes now, the rest next; nothing was stored.
      const rest = batch.splice(Math.ceil(batch.length / 2));
      this.waiting.unshift(...rest);
      this.log.debug(
        { members: batch.length + rest.length, sealedBytes: sealed.jwe.length },
        'a transfer sealed larger than crypto.maxMessageBytes: split',
      );
      return this.flush(ctx, batch);
    }
    const members = batch.map((item, i) => {
      const { record, ttlS } = sentRecordOf(item.envelope, { idempotencyKey: item.idempotencyKey });
      return {
        id: item.id,
        rec: { ...record, transfer: sealed.transfer, jweSha256: sealed.leaves[i]! },
        ttlS,
      };
    });
    const taken = await ctx.deps.state.putTransfer(sealed.transfer, sealed.jwe, members);
    if (taken.length > 0) {
      // Another attempt stored some first: those are sent by their own record, the rest go again.
      for (const item of batch) {
        if (taken.includes(item.id)) item.resolve({ taken: true });
        else this.waiting.unshift(item);
      }
      return;
    }
    await faultPoint('transfer-send:stored', batch.length);
    try {
      await ctx.deps.peer.publish(
        ctx.peerNames.transferRoute,
        Buffer.from(sealed.jwe, 'latin1'),
        peerPublishProps(sealed.transfer, false),
      );
    } catch (err) {
      if (err instanceof UnroutableError) {
        // The peer stopped reading transfers (a downgrade): nothing reached it, so the stored transfer
        // is forgotten and each member, retried, goes as a single message.
        this.learn(1);
        await ctx.deps.state.forgetTransfer(
          sealed.transfer,
          batch.map((i) => i.id),
        );
      }
      throw err;
    }
    await faultPoint('transfer-send:published', batch.length);
    for (let i = 0; i < batch.length; i++) ctx.deps.metrics.sending(1);
    const sentAt = ctx.deps.now().toISOString();
    const ids = batch.map((i) => i.id);
    await Promise.all([
      ctx.deps.state.markSentMany(ids, sentAt),
      ctx.deps.timers.scheduleTransfer(sealed.transfer, ids),
    ]);
    for (const item of batch) item.resolve({ sentAt });
  }
}
