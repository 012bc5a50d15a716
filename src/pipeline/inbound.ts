/**
 * Inbound: accord.ingress → open (decrypt, verify) → validate → the recipient is this party and a
 * listed authority, the sender is the pinned peer, not expired → de-duplicate → deliver to
 * accord.inbox.<authority> → signed receipt back to the sender. Receipts for what this gateway sent
 * end here too and become `delivered` events. A message that fails any check is parked in accord.dlq
 * with its code (there is no trustworthy sender to tell); nothing of it is delivered.
 *
 * Exactly once into the case system. The delivery to the inbox, a line in the internal delivered-log
 * queue and the ack of the ingress copy commit in one AMQP transaction. Before that, a `pending` claim
 * naming the copy (the sender's `x-accord-copy` token) is written to Redis. So, after a crash:
 * - the same copy comes back after a crash → once the delivered-log has been read to the end, the
 *   claim says whether the transaction committed (delivered: answer with the receipt) or not
 *   (still pending: deliver it now);
 * - another copy (a resend) finds the claim pending → it waits until the claim resolves: the
 *   delivered-log consumer marks it delivered if the transaction committed, or the first copy, which
 *   the broker requeued, comes back and delivers;
 * - a claim marked delivered → the stored receipt is sent again, nothing is delivered.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope, type EnvelopeOf } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import { open, type OpenFacts } from '../crypto/open.js';
import { seal } from '../crypto/seal.js';
import { AccordError } from '../errors.js';
import { commitWith, deadLetterMessage, eventMessage, type GatewayContext } from './context.js';
import type { RefusalRule } from '../config.js';
import { messageIdFor } from '../domain/ids.js';
import { matchRefusalRule } from '../policy/refusal.js';
import { competentAuthority } from '../policy/referral.js';
import { effectiveFrom, suspendedBy } from '../policy/suspension.js';
import { checkSensitiveData } from '../policy/sensitive-data.js';
import { identifierHash, identifiers } from '../policy/onward-transfer.js';
import { COPY_HEADER, URGENT_PRIORITY, sealedRecord, sendToPeer } from './dispatch.js';
import type { Incoming, Tx, TxOutcome } from './ports.js';

/** Infrastructure failures are retried; every other code parks the message. */
const RETRIED = new Set(['infra.unavailable']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Header of an inbox message: a token unique to that message (see {@link InboundPipeline}). */
export const DELIVERY_HEADER = 'x-accord-delivery';

/** How long a resend waits for another copy's pending claim to resolve before it looks again. */
export const PENDING_RECHECK_MS = 1000;

/** What a case system receives in accord.inbox.<authority>. */
export interface InboxDelivery {
  envelope: Envelope;
  /** Art. 9(2): set when the request was addressed to this other authority and referred here. */
  referredFrom?: string;
  /** The handling conditions, shown apart: purposes, conditions, Art. 10(2) sensitive categories. */
  handling: Envelope['handling'];
  verification: OpenFacts & { receivedAt: string; verifiedBy: string };
}

export class InboundPipeline {
  private readonly log;

  constructor(private readonly ctx: GatewayContext) {
    this.log = ctx.deps.log.child({ stage: 'inbound' });
  }

  /** Handle one delivery from accord.ingress; it is acked inside `tx`. Throws to retry it. */
  async handle(msg: Incoming, tx: Tx): Promise<TxOutcome> {
    const { ctx } = this;
    const receivedAt = ctx.deps.now();
    let envelope: Envelope | undefined;
    let claimedId: string | undefined;
    let facts: OpenFacts;
    try {
      const opened = await open(msg.content, ctx.keys, ctx.profile);
      facts = opened.facts;
      const raw = parseJson(opened.payload, ctx.profile.maxMessageBytes);
      // The id, when it looks like one, lets an admin trace an authentic but malformed envelope.
      const id = (raw as { id?: unknown } | null)?.id;
      claimedId = typeof id === 'string' && UUID.test(id) ? id : undefined;
      envelope = validate(Envelope, raw, 'envelope');
      this.checkBinding(envelope, receivedAt);
      // Art. 10(2) on the receiving side too: the flags must match the data, each with its necessity.
      checkSensitiveData(envelope.kind, envelope.body, envelope.handling, { requireDeclared: true });
    } catch (err) {
      if (err instanceof AccordError && !RETRIED.has(err.code)) {
        return this.park(tx, err, msg.content, envelope?.id ?? claimedId, receivedAt);
      }
      throw err;
    }
    if (envelope.kind === 'receipt') return this.takeReceipt(tx, envelope, msg.content, receivedAt);
    return this.deliver(msg, tx, envelope, facts, receivedAt);
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

  private async deliver(
    msg: Incoming,
    tx: Tx,
    env: Envelope,
    facts: OpenFacts,
    receivedAt: Date,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const copyHeader = msg.headers[COPY_HEADER];
    // A copy without a token cannot be told from another; it gets one of its own and is handled as a
    // resend while a claim is pending.
    const copy =
      typeof copyHeader === 'string' && copyHeader.length <= 64 ? copyHeader : `untagged-${randomUUID()}`;

    let seen = await ctx.deps.state.getSeen(env.id);
    if (seen?.state === 'delivered') return this.answerDuplicate(tx, env.id, seen.receiptJwe);
    if (seen && seen.copy !== copy) return this.waitForClaim(env.id);
    if (seen) {
      // Our own copy is back, so a crash or a lost connection interrupted its attempt. The commit
      // may still have happened (the broker applied it, then died before answering, and the ack
      // did not survive): its delivered-log line says so. Deliver only once that log is read.
      if (!(await ctx.deps.deliveredLog.isSettled())) return this.waitForClaim(env.id);
      seen = await ctx.deps.state.getSeen(env.id);
      if (seen?.state === 'delivered') return this.answerDuplicate(tx, env.id, seen.receiptJwe);
    }

    // Art. 9(4): the configured refusal rules decide before anything is delivered.
    const rule =
      env.kind === 'request'
        ? (matchRefusalRule(ctx.config.policy.refusalRules, env) ??
          (await this.suspensionRule(env, receivedAt)))
        : undefined;
    // Art. 9(2): a request goes to the authority competent for it.
    const target =
      env.kind === 'request' ? competentAuthority(ctx.config.policy.competence, env) : env.to.authority;
    const receiptJwe =
      seen?.receiptJwe ??
      (await this.sealReceipt(env, facts.jweSha256, receivedAt, rule ? 'refused' : 'delivered'));
    // Remembered until well after the message can no longer be accepted (expiry + leeway).
    const ttlS = Math.max(60, Math.ceil((Date.parse(env.expiresAt) - receivedAt.getTime()) / 1000)) + 86_400;
    const claim = seen
      ? { outcome: 'same-copy' as const }
      : await ctx.deps.state.claim(
          env.id,
          {
            copy,
            jweSha256: facts.jweSha256,
            receiptJwe,
            kind: env.kind,
            fromAuthority: env.from.authority,
            toAuthority: target,
          },
          ttlS,
        );
    if (claim.outcome === 'delivered') return this.answerDuplicate(tx, env.id, claim.record.receiptJwe);
    if (claim.outcome === 'other-copy') return this.waitForClaim(env.id);

    const logLine = {
      queue: ctx.names.deliveredLog,
      content: Buffer.from(env.id),
      props: { contentType: 'text/plain' },
    };
    if (env.kind === 'request' && rule) {
      // Art. 9(5): the notice goes to the requester at once; nothing reaches the addressed authority.
      const noticeId = await this.refuseByRule(env, rule);
      await commitWith(tx, logLine);
      await ctx.deps.state.markSeenDelivered(env.id);
      this.log.info({ messageId: env.id, rule: rule.id, noticeId }, 'request refused by rule; notice sent');
      await this.sendReceipt(env.id, receiptJwe);
      return 'done';
    }

    await this.recordProvenance(env);
    if (env.kind === 'suspension-notice') {
      // Art. 17: effective fifteen days after this delivery; the receipt tells the peer the same time.
      await ctx.deps.suspensions.put({
        id: env.id,
        party: env.from.party,
        action: env.body.action,
        scope: env.body.scope,
        effectiveAt: effectiveFrom(receivedAt.toISOString()),
      });
    }
    if (env.kind === 'request' && env.body.replyBy !== undefined) {
      // Art. 9(2): the requested authority is alerted if no reply or refusal has gone by then.
      await ctx.deps.deadlines.schedule({
        kind: 'reply-due',
        id: env.id,
        authority: target,
        dueAt: env.body.replyBy,
      });
    }
    if (env.kind === 'request' && target !== env.to.authority) {
      // Art. 9(2): referred; the requester is told at once, in a signed notice.
      await this.sendNotice(env, 'referral', {
        kind: 'referral-notice',
        body: { inReplyTo: env.id, referredFrom: env.to.authority, referredTo: target },
      });
      this.log.info(
        { messageId: env.id, from: env.to.authority, to: target },
        'request referred to the competent authority',
      );
    }
    const delivery: InboxDelivery = {
      envelope: env,
      ...(target !== env.to.authority ? { referredFrom: env.to.authority } : {}),
      handling: env.handling,
      verification: { ...facts, receivedAt: receivedAt.toISOString(), verifiedBy: ctx.config.party },
    };
    await commitWith(
      tx,
      ...this.noticeEvents(env, receivedAt),
      {
        queue: ctx.names.inbox(target),
        content: Buffer.from(JSON.stringify(delivery)),
        props: {
          contentType: 'application/json',
          messageId: env.id,
          type: env.kind,
          // One token per inbox message: a case system tells the broker's redelivery of one message
          // (same token) from a second message (which the gateway promises never to send).
          headers: { [DELIVERY_HEADER]: randomUUID() },
          ...(env.priority === 'urgent' ? { priority: URGENT_PRIORITY } : {}),
        },
      },
      logLine,
    );
    await ctx.deps.state.markSeenDelivered(env.id);
    this.log.info({ messageId: env.id, kind: env.kind, to: env.to.authority }, 'delivered');
    await this.sendReceipt(env.id, receiptJwe);
    return 'done';
  }

  /**
   * A refusal or referral notice also tells the requesting authority, as an event on its own queue,
   * what became of its request (Art. 9(2), 9(5)).
   */
  private noticeEvents(env: Envelope, receivedAt: Date) {
    const at = receivedAt.toISOString();
    switch (env.kind) {
      case 'refusal-notice':
        return [
          eventMessage(this.ctx, env.to.authority, {
            type: 'refused',
            at,
            messageId: env.body.inReplyTo,
            code: 'policy.refused',
            message: env.body.explanation.slice(0, 500),
            refusal: { noticeId: env.id, scope: env.body.scope, grounds: env.body.grounds },
          }),
        ];
      case 'referral-notice':
        return [
          eventMessage(this.ctx, env.to.authority, {
            type: 'referred',
            at,
            messageId: env.body.inReplyTo,
            message: `Art. 9(2): referred from ${env.body.referredFrom} to the competent ${env.body.referredTo}`,
          }),
        ];
      default:
        return [];
    }
  }

  /** Delivered before: not again. The same receipt goes back, so the sender stops resending. */
  private async answerDuplicate(tx: Tx, id: string, receiptJwe: string): Promise<TxOutcome> {
    await this.ctx.deps.peer.publish(this.ctx.peerNames.ingress, Buffer.from(receiptJwe, 'latin1'), {
      contentType: 'application/jose',
    });
    await commitWith(tx);
    this.log.info({ messageId: id }, 'duplicate; receipt sent again');
    return 'done';
  }

  private waitForClaim(id: string): TxOutcome {
    this.log.debug({ messageId: id }, 'another copy holds a pending claim; waiting');
    return { requeueAfterMs: PENDING_RECHECK_MS };
  }

  private async sendReceipt(id: string, receiptJwe: string): Promise<void> {
    try {
      await this.ctx.deps.peer.publish(this.ctx.peerNames.ingress, Buffer.from(receiptJwe, 'latin1'), {
        contentType: 'application/jose',
      });
    } catch (err) {
      // The delivery stands. The sender resends when no receipt comes, and gets this receipt again.
      this.log.warn(
        { messageId: id, err: (err as Error).message },
        'receipt not sent; the sender will resend',
      );
    }
  }

  /**
   * Art. 11(2): what the export gate must know before anything of this message can leave — the keyed
   * hashes of its identifiers and, for a consent, what it allows. Idempotent, so a retry repeats it.
   */
  private async recordProvenance(env: Envelope): Promise<void> {
    const { ctx } = this;
    const key = ctx.config.policy.identifierKey;
    if (key !== undefined) {
      const hashes = identifiers(env.body).map(({ id }) => identifierHash(key, id));
      await ctx.deps.provenance.rememberIdentifiers(
        env.id,
        hashes,
        ctx.config.policy.identifierRetentionDays * 86_400,
      );
    }
    if (env.kind === 'consent' && env.body.granted) {
      for (const ref of env.body.references) {
        for (const destination of env.body.destinations) {
          await ctx.deps.provenance.recordConsent(ref, destination, env.body.validUntil);
        }
      }
    }
  }

  /** Art. 17: a request in a suspended scope is refused as a rule would refuse it. */
  private async suspensionRule(request: EnvelopeOf<'request'>, now: Date): Promise<RefusalRule | undefined> {
    const by = suspendedBy(await this.ctx.deps.suspensions.list(), request.body.crimeCategories, now);
    if (!by) return undefined;
    return {
      id: 'art-17-suspension',
      when: { crimeCategories: request.body.crimeCategories },
      decision: 'refuse',
      grounds: ['important-interests'],
      explanation: `Art. 17: requests in this scope are suspended by ${by.party} since ${by.effectiveAt ?? '?'} (notice ${by.id}).`,
    };
  }

  /** Send the signed refusal notice a rule decided. */
  private async refuseByRule(request: EnvelopeOf<'request'>, rule: RefusalRule): Promise<string> {
    return this.sendNotice(request, 'refusal-rule', {
      kind: 'refusal-notice',
      body: {
        inReplyTo: request.id,
        scope: 'full',
        grounds: rule.grounds,
        explanation: rule.explanation,
        decidedBy: { kind: 'rule', ref: rule.id },
      },
    });
  }

  /**
   * Send a notice the gateway writes itself about a request, from the addressed authority to the
   * requester. Its id follows from the request, so a retry sends the same notice, which the peer
   * de-duplicates; it is stored, receipted and resent like any message this gateway sends.
   */
  private async sendNotice(
    request: EnvelopeOf<'request'>,
    what: string,
    content:
      | Pick<EnvelopeOf<'refusal-notice'>, 'kind' | 'body'>
      | Pick<EnvelopeOf<'referral-notice'>, 'kind' | 'body'>,
  ): Promise<string> {
    const { ctx } = this;
    const now = ctx.deps.now();
    const key = `${what}/${request.id}`;
    const id = messageIdFor(ctx.config.party, request.to.authority, key);
    const notice = validate(
      Envelope,
      {
        v: ENVELOPE_VERSION,
        id,
        from: request.to,
        to: request.from,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ctx.config.messages.defaultTtlS * 1000).toISOString(),
        priority: request.priority,
        language: 'en',
        handling: { purposes: [], conditions: [], sensitive: [] },
        ...content,
      },
      'notice',
    );
    const record = await sealedRecord(ctx, notice, { idempotencyKey: key });
    await sendToPeer(ctx, id, record, request.priority === 'urgent');
    return id;
  }

  private async sealReceipt(
    env: Envelope,
    jweSha256: string,
    receivedAt: Date,
    status: 'delivered' | 'refused',
  ): Promise<string> {
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
      handling: { purposes: [], conditions: [], sensitive: [] },
      body: { forMessageId: env.id, jweSha256, receivedAt: receivedAt.toISOString(), status },
    };
    return seal(Buffer.from(JSON.stringify(receipt)), ctx.keys, ctx.profile);
  }

  /** A receipt for something this gateway sent: check it against the record, then report `delivered`. */
  private async takeReceipt(
    tx: Tx,
    receipt: EnvelopeOf<'receipt'>,
    content: Buffer,
    at: Date,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const id = receipt.body.forMessageId;
    const sent = await ctx.deps.state.getSent(id);
    if (!sent || sent.toAuthority !== receipt.from.authority || sent.from !== receipt.to.authority) {
      const err = new AccordError(
        'receipt.unknown_message',
        'no record of sending this message to this authority',
        {
          messageId: id,
        },
      );
      return this.park(tx, err, content, receipt.id, at);
    }
    if (sent.jweSha256 !== receipt.body.jweSha256) {
      const err = new AccordError('receipt.digest_mismatch', 'the receipt acknowledges a different JWE', {
        messageId: id,
      });
      return this.park(tx, err, content, receipt.id, at);
    }
    if (sent.deliveredAt) {
      await commitWith(tx);
      return 'done';
    }
    const deliveredAt = at.toISOString();
    if (sent.kind === 'suspension-notice') {
      const entry = await ctx.deps.suspensions.get(id);
      if (entry)
        await ctx.deps.suspensions.put({ ...entry, effectiveAt: effectiveFrom(receipt.body.receivedAt) });
    }
    if (receipt.body.status === 'refused') {
      // Taken in and refused: the resends stop; the requester hears of it from the refusal notice.
      await commitWith(tx);
      await ctx.deps.state.markDelivered(id, deliveredAt);
      return 'done';
    }
    // The event commits with the ack; the mark follows. A crash between them repeats the event
    // (at least once) rather than losing it.
    await commitWith(
      tx,
      eventMessage(ctx, sent.from, {
        type: 'delivered',
        at: deliveredAt,
        messageId: id,
        idempotencyKey: sent.idempotencyKey,
        kind: sent.kind,
        to: { party: ctx.config.peer.party, authority: sent.toAuthority },
      }),
    );
    await ctx.deps.state.markDelivered(id, deliveredAt);
    this.log.info({ messageId: id }, 'receipt: delivered');
    return 'done';
  }

  private async park(
    tx: Tx,
    err: AccordError,
    content: Buffer,
    messageId: string | undefined,
    at: Date,
  ): Promise<TxOutcome> {
    const sealed = err.code !== 'input.too_large' ? content.toString('latin1') : undefined;
    const id = err.messageId ?? messageId;
    this.log.warn({ code: err.code, path: err.path, kid: err.kid, messageId: id }, 'ingress refused');
    await commitWith(
      tx,
      deadLetterMessage(this.ctx, {
        at: at.toISOString(),
        source: 'ingress',
        code: err.code,
        message: err.message,
        ...(err.path === undefined ? {} : { path: err.path }),
        ...(id === undefined ? {} : { messageId: id }),
        ...(err.kid === undefined ? {} : { kid: err.kid }),
        inputSha256: createHash('sha256').update(content).digest('hex'),
        inputBytes: content.length,
        ...(sealed === undefined ? {} : { jwe: sealed }),
      }),
    );
    return 'done';
  }
}
