/**
 * Inbound: accord.ingress → open (decrypt, verify) → validate → the recipient is this party and a
 * listed authority, the sender is the pinned peer, not expired → de-duplicate → deliver to
 * accord.inbox.<authority> → signed receipt back to the sender → ack. Receipts for what this gateway
 * sent end here too and become `delivered` events. A message that fails any check is parked in
 * accord.dlq with its code (there is no trustworthy sender to tell); nothing of it is delivered.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope, type EnvelopeOf } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import { open, type OpenFacts } from '../crypto/open.js';
import { seal } from '../crypto/seal.js';
import { AccordError } from '../errors.js';
import { deadLetter, emitEvent, type GatewayContext } from './context.js';
import { URGENT_PRIORITY } from './outbound.js';

/** Infrastructure failures are retried; every other code parks the message. */
const RETRIED = new Set(['infra.unavailable']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a case system receives in accord.inbox.<authority>. */
export interface InboxDelivery {
  envelope: Envelope;
  verification: OpenFacts & { receivedAt: string; verifiedBy: string };
}

export class InboundPipeline {
  private readonly log;

  constructor(private readonly ctx: GatewayContext) {
    this.log = ctx.deps.log.child({ stage: 'inbound' });
  }

  /** Handle one delivery from accord.ingress. Resolves when it may be acked; throws to retry it. */
  async handle(content: Buffer): Promise<void> {
    const { ctx } = this;
    const receivedAt = ctx.deps.now();
    let envelope: Envelope | undefined;
    let claimedId: string | undefined;
    try {
      const { payload, facts } = await open(content, ctx.keys, ctx.profile);
      const raw = parseJson(payload, ctx.profile.maxMessageBytes);
      // The id, when it looks like one, lets an admin trace an authentic but malformed envelope.
      const id = (raw as { id?: unknown } | null)?.id;
      claimedId = typeof id === 'string' && UUID.test(id) ? id : undefined;
      envelope = validate(Envelope, raw, 'envelope');
      this.checkBinding(envelope, receivedAt);
      if (envelope.kind === 'receipt') return await this.takeReceipt(envelope);
      await this.deliver(envelope, facts, receivedAt);
    } catch (err) {
      if (err instanceof AccordError && !RETRIED.has(err.code)) {
        return this.park(err, content, envelope?.id ?? claimedId, receivedAt);
      }
      throw err;
    }
  }

  /** The signed envelope must name this party as recipient and the pinned peer as sender (Art. 13). */
  private checkBinding(env: Envelope, now: Date): void {
    const { ctx } = this;
    const leewayMs = ctx.config.crypto.clockLeewayS * 1000;
    const messageId = env.id;
    if (env.to.party !== ctx.config.party) {
      throw new AccordError('envelope.wrong_recipient', 'the signed envelope is addressed to another party', {
        path: 'to.party',
        messageId,
      });
    }
    if (env.from.party !== ctx.config.peer.party) {
      throw new AccordError('envelope.wrong_sender', 'the signed envelope names another sender party', {
        path: 'from.party',
        messageId,
      });
    }
    if (!ctx.ownAuthorities.has(env.to.authority)) {
      throw new AccordError('auth.unknown_recipient', 'the recipient authority is not listed here', {
        path: 'to.authority',
        messageId,
      });
    }
    if (!ctx.peerAuthorities.has(env.from.authority)) {
      throw new AccordError(
        'auth.unknown_authority',
        'the sending authority is not in the peer’s directory',
        {
          path: 'from.authority',
          messageId,
        },
      );
    }
    if (Date.parse(env.expiresAt) + leewayMs < now.getTime()) {
      throw new AccordError('envelope.expired', 'the message has expired', { path: 'expiresAt', messageId });
    }
    if (Date.parse(env.createdAt) - leewayMs > now.getTime()) {
      throw new AccordError('envelope.not_yet_valid', 'the message was created in the future', {
        path: 'createdAt',
        messageId,
      });
    }
  }

  private async deliver(env: Envelope, facts: OpenFacts, receivedAt: Date): Promise<void> {
    const { ctx } = this;
    const seen = await ctx.deps.state.getSeen(env.id);
    if (seen) {
      // Delivered before: not again. Answer with the same receipt, so the sender stops resending.
      await this.sendReceipt(seen.receiptJwe);
      this.log.info({ messageId: env.id }, 'duplicate, receipt sent again');
      return;
    }
    const receiptJwe = await this.sealReceipt(env, facts.jweSha256, receivedAt);
    const delivery: InboxDelivery = {
      envelope: env,
      verification: { ...facts, receivedAt: receivedAt.toISOString(), verifiedBy: ctx.config.party },
    };
    await ctx.deps.local.publish(ctx.names.inbox(env.to.authority), Buffer.from(JSON.stringify(delivery)), {
      contentType: 'application/json',
      messageId: env.id,
      type: env.kind,
      ...(env.priority === 'urgent' ? { priority: URGENT_PRIORITY } : {}),
    });
    const deliveredAt = ctx.deps.now().toISOString();
    // Remembered until well after the message can no longer be accepted (expiry + leeway).
    const ttlS = Math.max(60, Math.ceil((Date.parse(env.expiresAt) - receivedAt.getTime()) / 1000)) + 86_400;
    await ctx.deps.state.putSeen(env.id, { jweSha256: facts.jweSha256, receiptJwe, deliveredAt }, ttlS);
    await this.sendReceipt(receiptJwe);
    this.log.info({ messageId: env.id, kind: env.kind, to: env.to.authority }, 'delivered');
  }

  private async sealReceipt(env: Envelope, jweSha256: string, receivedAt: Date): Promise<string> {
    const { ctx } = this;
    const now = ctx.deps.now();
    const receipt: EnvelopeOf<'receipt'> = {
      v: ENVELOPE_VERSION,
      id: randomUUID(),
      kind: 'receipt',
      from: env.to,
      to: env.from,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ctx.config.messages.defaultTtlS * 1000).toISOString(),
      priority: env.priority,
      language: 'en',
      handling: { purposes: [], conditions: [] },
      body: { forMessageId: env.id, jweSha256, receivedAt: receivedAt.toISOString(), status: 'delivered' },
    };
    return seal(Buffer.from(JSON.stringify(receipt)), ctx.keys, ctx.profile);
  }

  private async sendReceipt(receiptJwe: string): Promise<void> {
    await this.ctx.deps.peer.publish(this.ctx.peerNames.ingress, Buffer.from(receiptJwe, 'latin1'), {
      contentType: 'application/jose',
    });
  }

  /** A receipt for something this gateway sent: check it against the record, then report `delivered`. */
  private async takeReceipt(receipt: EnvelopeOf<'receipt'>): Promise<void> {
    const { ctx } = this;
    const id = receipt.body.forMessageId;
    const sent = await ctx.deps.state.getSent(id);
    if (!sent || sent.toAuthority !== receipt.from.authority || sent.from !== receipt.to.authority) {
      throw new AccordError(
        'receipt.unknown_message',
        'no record of sending this message to this authority',
        {
          messageId: id,
        },
      );
    }
    if (sent.jweSha256 !== receipt.body.jweSha256) {
      throw new AccordError('receipt.digest_mismatch', 'the receipt acknowledges a different JWE', {
        messageId: id,
      });
    }
    const at = ctx.deps.now().toISOString();
    if (await ctx.deps.state.markDelivered(id, at)) {
      await emitEvent(ctx, sent.from, {
        type: 'delivered',
        at,
        messageId: id,
        idempotencyKey: sent.idempotencyKey,
        kind: sent.kind,
        to: { party: ctx.config.peer.party, authority: sent.toAuthority },
      });
      this.log.info({ messageId: id }, 'receipt: delivered');
    }
  }

  private async park(
    err: AccordError,
    content: Buffer,
    messageId: string | undefined,
    at: Date,
  ): Promise<void> {
    const sealed = err.code !== 'input.too_large' ? content.toString('latin1') : undefined;
    this.log.warn(
      { code: err.code, path: err.path, kid: err.kid, messageId: err.messageId ?? messageId },
      'ingress refused',
    );
    await deadLetter(this.ctx, {
      at: at.toISOString(),
      source: 'ingress',
      code: err.code,
      message: err.message,
      ...(err.path === undefined ? {} : { path: err.path }),
      ...((err.messageId ?? messageId) === undefined ? {} : { messageId: err.messageId ?? messageId }),
      ...(err.kid === undefined ? {} : { kid: err.kid }),
      inputSha256: createHash('sha256').update(content).digest('hex'),
      inputBytes: content.length,
      ...(sealed === undefined ? {} : { jwe: sealed }),
    });
  }
}
