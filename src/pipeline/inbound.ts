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
 * - the same copy comes back after a crash → once the delivered-log has been read to the end (a
 *   probe line published after the claim was found pending has been applied by the log's single
 *   active consumer, in whichever replica: transport/delivered-log.ts), the claim says whether the
 *   transaction committed (delivered: answer with the receipt) or not (still pending: deliver it now);
 * - another copy (a resend) finds the claim pending → it waits until the claim resolves: the
 *   delivered-log consumer marks it delivered if the transaction committed, or the first copy, which
 *   the broker requeued, comes back and delivers;
 * - a claim marked delivered → the stored receipt is sent again, nothing is delivered.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope, type EnvelopeOf } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import type { OpenFacts } from '../crypto/open.js';
import { AccordError, dispositionOf } from '../errors.js';
import { commitWith, deadLetterMessage, eventMessage, type GatewayContext } from './context.js';
import { matchRefusalRule } from '../policy/refusal.js';
import { frozenCopy, runHook } from '../policy/hooks.js';
import type { Screening } from '../policy/review.js';
import { competentAuthority } from '../policy/referral.js';
import { effectiveFrom, suspendedBy } from '../policy/suspension.js';
import { checkSensitiveData } from '../policy/sensitive-data.js';
import { identifierHash, identifiers } from '../policy/onward-transfer.js';
import { carriesPersonalData } from '../policy/personal-data.js';
import { terminationEffective } from '../policy/termination.js';
import { messageRecord } from '../audit/records.js';
import type { AuditInput } from '../audit/log.js';
import {
  COPY_HEADER,
  REVIEW_DECISIONS,
  inboxMessage,
  nowHeldBy,
  sendNotice,
  type InboxDelivery,
} from './dispatch.js';
import type { Incoming, Tx, TxOutcome } from './ports.js';

/**
 * Parked at once: a message from the peer is never rejected back to it (nothing in it can be trusted to
 * name whom to tell), so `reject` parks it too. Retried and waiting failures go to the consumer.
 */
function parksAtOnce(err: unknown): err is AccordError {
  if (!(err instanceof AccordError)) return false;
  const d = dispositionOf(err.code);
  return d === 'reject' || d === 'park';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export { DELIVERY_HEADER, type InboxDelivery } from './dispatch.js';

/** How long a resend waits for another copy's pending claim to resolve before it looks again. */
export const PENDING_RECHECK_MS = 1000;

/** Header of a correction or erasure held for its original (Art. 10(4)): when it was first held. */
export const HELD_SINCE_HEADER = 'x-accord-held-since';

export class InboundPipeline {
  private readonly log;
  /** The peer's last audit checkpoint hash recorded here (Art. 10(6) anchors). */
  private lastAnchor: string | undefined;

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
      const opened = await ctx.crypto.open(msg.content, ctx.keys, ctx.profile, {
        urgent: msg.urgent === true,
      });
      facts = opened.facts;
      const raw = parseJson(opened.payload, ctx.profile.maxMessageBytes);
      // The id, when it looks like one, lets an admin trace an authentic but malformed envelope.
      const id = (raw as { id?: unknown } | null)?.id;
      claimedId = typeof id === 'string' && UUID.test(id) ? id : undefined;
      envelope = validate(Envelope, raw, 'envelope');
      this.checkBinding(envelope, receivedAt);
      // Art. 10(2) on the receiving side too: the flags must match the data, each with its necessity.
      checkSensitiveData(envelope.kind, envelope.body, envelope.handling, { requireDeclared: true });
      // Art. 10(5): the provider sets a destruction deadline for every message with personal data.
      if (envelope.handling.destroyBy === undefined && carriesPersonalData(envelope.kind, envelope.body)) {
        throw new AccordError('policy.destruction_deadline_missing', undefined, {
          path: 'handling.destroyBy',
          messageId: envelope.id,
        });
      }
    } catch (err) {
      if (parksAtOnce(err)) {
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
      // did not survive): its delivered-log line says so. Deliver only once that log is read up to
      // now, by whichever replica applies it (a barrier, not this process's view of the queue). The
      // wait is per attempt: see below.
      const waiter = `${env.id}#${seen.attempt ?? 0}`;
      if (!(await ctx.deps.deliveredLog.isSettled(waiter))) return this.waitForClaim(env.id);
      seen = await ctx.deps.state.getSeen(env.id);
      if (seen?.state === 'delivered') return this.answerDuplicate(tx, env.id, seen.receiptJwe);
      // Still pending: that commit did not happen, and this copy delivers now, committing a new line.
      // A replica that began waiting on the log for the last attempt (the copy then went to another
      // replica) must not take that wait's answer for this one, whose line may follow its probe.
      if (seen) await ctx.deps.state.markNewAttempt(env.id);
    }

    // Issue 7: a key announcement or revocation is applied before the claim, so one the key policy
    // refuses is parked without a claim (and a resend is parked the same way). Applying is idempotent.
    let keyChange: string | undefined;
    if (env.kind === 'key-announcement' || env.kind === 'key-revocation') {
      try {
        keyChange = await ctx.deps.keyExchange.fromPeer(env, facts.signatureKid);
      } catch (err) {
        if (parksAtOnce(err)) {
          return this.park(tx, err, msg.content, env.id, receivedAt);
        }
        throw err;
      }
    }
    // Art. 10(4): a correction or erasure goes to whoever holds its original, never before it.
    let original: Awaited<ReturnType<typeof ctx.deps.ledger.getReceived>> = null;
    if (env.kind === 'correction' || env.kind === 'erasure') {
      original = await ctx.deps.ledger.getReceived(env.body.refersTo);
      if (!original) return this.hold(msg, tx, env, facts, receivedAt);
      if (original.fromAuthority !== env.from.authority) {
        const err = new AccordError('policy.not_from_provider', undefined, { path: 'body.refersTo' });
        return this.park(tx, err, msg.content, env.id, receivedAt);
      }
    }
    // Art. 9(2): a request goes to the authority competent for it.
    const target =
      env.kind === 'request'
        ? competentAuthority(ctx.config.policy.competence, env)
        : (original?.authority ?? env.to.authority);
    // Art. 9(4): the rules, the suspension and the hooks decide before anything is delivered.
    const screening: Screening =
      env.kind === 'request' ? await this.screen(env, target, receivedAt) : { outcome: 'accept' };
    const status = { accept: 'delivered', refuse: 'refused', review: 'in-review' } as const;
    const receiptJwe =
      seen?.receiptJwe ??
      (await this.sealReceipt(env, facts.jweSha256, receivedAt, status[screening.outcome]));
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
    if (keyChange !== undefined) {
      // Issue 7: gateway to gateway; recorded, nothing reaches an authority.
      await ctx.deps.audit.append(
        messageRecord(env, 'in', {
          reason: keyChange.slice(0, 500),
          decidedBy: `peer gateway ${env.from.party}`,
        }),
      );
      await commitWith(tx, logLine);
      await ctx.deps.state.markSeenDelivered(env.id);
      ctx.deps.metrics.message('in', env.kind, 'applied');
      this.log.warn({ messageId: env.id, kind: env.kind, code: 'keys.changed_by_peer' }, keyChange);
      await this.sendReceipt(env.id, receiptJwe);
      return 'done';
    }
    if (env.kind === 'request' && screening.outcome === 'refuse') {
      // Art. 9(5): the notice goes to the requester at once; nothing reaches the addressed authority.
      const { decidedBy } = screening;
      const noticeId = await sendNotice(ctx, env, `refusal-${decidedBy.kind}`, {
        kind: 'refusal-notice',
        body: {
          inReplyTo: env.id,
          scope: 'full',
          grounds: screening.grounds,
          explanation: screening.explanation,
          decidedBy,
        },
      });
      await this.recordReceived(
        env,
        target,
        receivedAt,
        {
          reason: `refused under Art. 9(4) by ${decidedBy.kind}; not delivered (notice ${noticeId})`,
          decidedBy: `${decidedBy.kind}${decidedBy.ref === undefined ? '' : ` ${decidedBy.ref}`}`,
        },
        false,
      );
      await commitWith(tx, logLine);
      await ctx.deps.state.markSeenDelivered(env.id);
      ctx.deps.metrics.message('in', 'request', 'refused');
      ctx.deps.metrics.refused(screening.grounds, { messageId: env.id, decidedBy: decidedBy.kind });
      this.log.info(
        { messageId: env.id, decidedBy: decidedBy.kind, ref: decidedBy.ref, noticeId },
        'request refused; notice sent',
      );
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
    if (env.kind === 'directory-update') {
      // Art. 13: kept until an operator approves it; until then the directory in force holds.
      await ctx.deps.directory.putPending({
        id: env.id,
        party: env.from.party,
        fromAuthority: env.from.authority,
        receivedAt: receivedAt.toISOString(),
        authorities: env.body.authorities,
        reason: env.body.reason,
      });
      this.log.warn(
        { messageId: env.id, code: 'directory.update_pending', authorities: env.body.authorities.length },
        'the peer notified a new directory (Art. 13); it applies once approved: accord directory approve',
      );
    }
    if (env.kind === 'request' && target !== env.to.authority) {
      // Art. 9(2): referred; the requester is told at once, in a signed notice.
      await sendNotice(ctx, env, 'referral', {
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
    if (env.kind === 'request' && screening.outcome === 'review') {
      // Art. 9(4): held for a person; the request's JWE (ciphertext) is kept for the decision.
      await ctx.deps.reviews.hold(
        {
          id: env.id,
          jwe: msg.content.toString('latin1'),
          authority: target,
          addressedTo: env.to.authority,
          fromAuthority: env.from.authority,
          receivedAt: receivedAt.toISOString(),
        },
        ttlS,
      );
      const held = { ...delivery, review: { reasons: screening.reasons, decisions: REVIEW_DECISIONS } };
      await this.recordReceived(env, target, receivedAt, { reason: 'held for review (Art. 9(4))' }, false);
      await commitWith(tx, inboxMessage(ctx.names.review(target), held), logLine);
      await ctx.deps.state.markSeenDelivered(env.id);
      ctx.deps.metrics.message('in', 'request', 'in-review');
      this.log.info(
        { messageId: env.id, authority: target, by: screening.reasons.map((r) => r.by) },
        'request held for review (Art. 9(4))',
      );
      await this.sendReceipt(env.id, receiptJwe);
      return 'done';
    }
    await this.dataProtection(env, target, receivedAt);
    await this.recordReceived(env, target, receivedAt);
    await commitWith(
      tx,
      ...this.noticeEvents(env, receivedAt),
      inboxMessage(ctx.names.inbox(target), delivery),
      logLine,
    );
    await ctx.deps.state.markSeenDelivered(env.id);
    ctx.deps.metrics.message('in', env.kind, 'delivered');
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
            message:
              `Art. 9(4) (${env.body.decidedBy.kind}${env.body.decidedBy.ref ? ` ${env.body.decidedBy.ref}` : ''}): ${env.body.explanation}`.slice(
                0,
                500,
              ),
            refusal: {
              noticeId: env.id,
              scope: env.body.scope,
              grounds: env.body.grounds,
              decidedBy: env.body.decidedBy,
            },
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
      case 'acceptance-notice':
        return [
          eventMessage(this.ctx, env.to.authority, {
            type: 'accepted-with-conditions',
            at,
            messageId: env.body.inReplyTo,
            message: `Art. 9(4): accepted on ${env.body.conditions.length} condition(s) that bind the requester; the notice ${env.id} is in the inbox`,
          }),
        ];
      case 'confirmation-notice':
        return [
          eventMessage(this.ctx, env.to.authority, {
            type: 'confirmed',
            at,
            messageId: env.body.refersTo,
            message: `Art. 10(${env.body.action === 'corrected' ? 4 : 5}): the recipient confirms the data were ${env.body.action} (${env.body.reason}) at ${env.body.at}`,
          }),
        ];
      default:
        return [];
    }
  }

  /**
   * Art. 10(6): the record of a message received (or refused, or held for review), durable before the
   * ingress ack. Only a message delivered to an authority enters the ledger (`nowHeldBy`): a refused one
   * reached nobody, one held for review enters it when a decision delivers it.
   */
  private async recordReceived(
    env: Envelope,
    target: string,
    receivedAt: Date,
    extra: Partial<AuditInput> = {},
    delivered = true,
  ): Promise<void> {
    const { ctx } = this;
    if (delivered) await nowHeldBy(ctx, env, target, receivedAt.toISOString());
    if (env.kind === 'consent' && env.body.inReplyTo !== undefined) {
      await ctx.deps.ledger.consentAnswered(env.body.inReplyTo);
    }
    await ctx.deps.audit.append(
      messageRecord(env, 'in', { toAuthority: `${env.to.party}/${target}`, ...extra }),
    );
  }

  /**
   * Art. 10(3)–10(5), 18: the deadlines a received message starts — its destruction, the confirmation
   * of a correction or erasure, the answer to a usage-report request, the end of the agreement.
   * Idempotent (one job per kind and id), so a retry repeats it harmlessly.
   */
  private async dataProtection(env: Envelope, target: string, receivedAt: Date): Promise<void> {
    const { ctx } = this;
    const { deadlines, ledger } = ctx.deps;
    const dp = ctx.config.dataProtection;
    const at = (ms: number) => new Date(receivedAt.getTime() + ms).toISOString();
    const confirmBy = at(dp.confirmCorrectionHours * 3_600_000);
    if (env.kind === 'correction') {
      await deadlines.schedule({
        kind: 'correction-confirmation-due',
        id: env.id,
        authority: target,
        dueAt: confirmBy,
      });
    }
    if (env.kind === 'erasure') {
      await ledger.noteOnReceived(env.body.refersTo, 'erasureId', env.id);
      await deadlines.schedule({
        kind: 'erasure-confirmation-due',
        id: env.body.refersTo,
        authority: target,
        dueAt: confirmBy,
      });
    }
    if (env.kind === 'usage-report-request') {
      await deadlines.schedule({
        kind: 'usage-report-due',
        id: env.id,
        authority: target,
        dueAt: env.body.answerBy ?? at(dp.usageReportDays * 86_400_000),
      });
    }
    if (env.kind === 'termination-notice') {
      await this.terminate(env.id, env.from.party, env.body.diplomaticNote, receivedAt.toISOString(), target);
    }
  }

  /** Art. 18: the agreement ends six months after the notice was received; then all personal data go. */
  private async terminate(
    noticeId: string,
    party: string,
    diplomaticNote: string,
    receivedAt: string,
    authority: string,
  ): Promise<void> {
    const { ctx } = this;
    const effectiveAt = terminationEffective(receivedAt);
    await ctx.deps.ledger.putTermination({ noticeId, party, diplomaticNote, receivedAt, effectiveAt });
    await ctx.deps.deadlines.schedule({
      kind: 'termination-effective',
      id: noticeId,
      authority,
      dueAt: effectiveAt,
    });
    this.log.warn(
      { messageId: noticeId, party, effectiveAt, code: 'treaty.terminated' },
      'Art. 18: the agreement terminates; all personal data received will be ordered destroyed then',
    );
  }

  /**
   * Art. 10(4): a correction or erasure whose original has not arrived is taken in without delivery:
   * it waits in the held queue, which returns it to the ingress after `holdRetryS`, until the original
   * is here — or, after `holdMaxHours`, it is parked. The first time, the sender gets a `held` receipt,
   * so it stops resending.
   */
  private async hold(
    msg: Incoming,
    tx: Tx,
    env: EnvelopeOf<'correction'> | EnvelopeOf<'erasure'>,
    facts: OpenFacts,
    receivedAt: Date,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const since = msg.headers[HELD_SINCE_HEADER];
    const heldSince = typeof since === 'string' && !Number.isNaN(Date.parse(since)) ? since : undefined;
    const maxMs = ctx.config.dataProtection.holdMaxHours * 3_600_000;
    if (heldSince !== undefined && receivedAt.getTime() - Date.parse(heldSince) > maxMs) {
      const err = new AccordError('policy.original_missing', undefined, {
        path: 'body.refersTo',
        messageId: env.id,
      });
      return this.park(tx, err, msg.content, env.id, receivedAt);
    }
    await commitWith(tx, {
      queue: ctx.names.held,
      content: msg.content,
      props: {
        contentType: 'application/jose',
        messageId: env.id,
        headers: {
          ...(typeof msg.headers[COPY_HEADER] === 'string'
            ? { [COPY_HEADER]: msg.headers[COPY_HEADER] }
            : {}),
          [HELD_SINCE_HEADER]: heldSince ?? receivedAt.toISOString(),
        },
      },
    });
    if (heldSince === undefined) {
      this.log.info(
        { messageId: env.id, refersTo: env.body.refersTo, kind: env.kind },
        'held: the message it refers to has not arrived (Art. 10(4))',
      );
      await this.sendReceipt(env.id, await this.sealReceipt(env, facts.jweSha256, receivedAt, 'held'));
    }
    return 'done';
  }

  /** Delivered before: not again. The same receipt goes back, so the sender stops resending. */
  private async answerDuplicate(tx: Tx, id: string, receiptJwe: string): Promise<TxOutcome> {
    await this.ctx.deps.peer.publish(this.ctx.peerNames.ingress, Buffer.from(receiptJwe, 'latin1'), {
      contentType: 'application/jose',
    });
    await commitWith(tx);
    this.ctx.deps.metrics.message('in', 'any', 'duplicate');
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

  /**
   * Art. 9(4), 17: screen an inbound request — a refusing rule, then the suspension, then a reviewing
   * rule, then the hooks in order. The first that does not accept decides.
   */
  private async screen(request: EnvelopeOf<'request'>, target: string, now: Date): Promise<Screening> {
    const { ctx } = this;
    const rule = matchRefusalRule(ctx.config.policy.refusalRules, request);
    if (rule?.decision === 'refuse' && rule.grounds) {
      const { grounds, explanation } = rule;
      return { outcome: 'refuse', decidedBy: { kind: 'rule', ref: rule.id }, grounds, explanation };
    }
    const by = suspendedBy(await ctx.deps.suspensions.list(), request.body.crimeCategories, now);
    if (by) {
      return {
        outcome: 'refuse',
        decidedBy: { kind: 'rule', ref: 'art-17-suspension' },
        grounds: ['important-interests'],
        explanation: `Art. 17: requests in this scope are suspended by ${by.party} since ${by.effectiveAt ?? '?'} (notice ${by.id}).`,
      };
    }
    if (rule?.decision === 'review') {
      return { outcome: 'review', reasons: [{ by: `rule ${rule.id}`, why: rule.explanation }] };
    }
    if (ctx.hooks.length === 0) return { outcome: 'accept' };
    const input = frozenCopy({ request, competentAuthority: target, receivedAt: now.toISOString() });
    for (const hook of ctx.hooks) {
      const result = await runHook(hook, input);
      if ('failed' in result) {
        this.log.warn(
          { messageId: request.id, hook: result.hook, failed: result.failed, code: 'policy.hook_failed' },
          'refusal hook failed; the request goes to manual review',
        );
        return { outcome: 'review', reasons: [{ by: `hook ${result.hook}`, why: result.why }] };
      }
      const v = result.verdict;
      if (v.decision === 'refuse') {
        const decidedBy = { kind: 'hook' as const, ref: hook.id };
        return { outcome: 'refuse', decidedBy, grounds: v.grounds, explanation: v.explanation };
      }
      if (v.decision === 'review') {
        return { outcome: 'review', reasons: [{ by: `hook ${hook.id}`, why: v.reason }] };
      }
    }
    return { outcome: 'accept' };
  }

  private async sealReceipt(
    env: Envelope,
    jweSha256: string,
    receivedAt: Date,
    status: 'delivered' | 'refused' | 'in-review' | 'held',
  ): Promise<string> {
    const { ctx } = this;
    const now = ctx.deps.now();
    const anchor = ctx.deps.audit.latestCheckpointHash();
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
      body: {
        forMessageId: env.id,
        jweSha256,
        receivedAt: receivedAt.toISOString(),
        status,
        // Art. 10(6): the peer keeps this as an anchor of our records.
        ...(anchor === undefined ? {} : { auditAnchor: anchor }),
      },
    };
    return ctx.crypto.seal(Buffer.from(JSON.stringify(receipt)), ctx.keys, ctx.profile, {
      urgent: env.priority === 'urgent',
    });
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
    const anchor = receipt.body.auditAnchor;
    if (anchor !== undefined && anchor !== this.lastAnchor) {
      // Art. 10(6): the peer's latest signed checkpoint, held here as an anchor of its records.
      await ctx.deps.audit.append({
        type: 'peer-anchor',
        messageId: receipt.id,
        fromAuthority: ctx.config.peer.party,
        anchor,
        refersTo: id,
      });
      this.lastAnchor = anchor;
    }
    if (sent.deliveredAt) {
      await commitWith(tx);
      return 'done';
    }
    const deliveredAt = at.toISOString();
    if (sent.kind === 'key-announcement' || sent.kind === 'key-revocation') {
      // Issue 7: gateway to gateway, no authority to tell. The peer has pinned the announced key: it
      // becomes the one in use.
      if (sent.kind === 'key-announcement') await ctx.deps.keyExchange.receipted(id);
      await commitWith(tx);
      if (await ctx.deps.state.markDelivered(id, deliveredAt))
        ctx.deps.metrics.message('out', sent.kind, 'delivered');
      return 'done';
    }
    if (sent.kind === 'termination-notice') {
      // Art. 18: our notice was received; the agreement ends six months later, on both sides.
      const note = (await ctx.deps.ledger.getProvided(id))?.note ?? '';
      await this.terminate(id, ctx.config.party, note, receipt.body.receivedAt, sent.from);
    }
    if (sent.kind === 'suspension-notice') {
      const entry = await ctx.deps.suspensions.get(id);
      if (entry)
        await ctx.deps.suspensions.put({ ...entry, effectiveAt: effectiveFrom(receipt.body.receivedAt) });
    }
    // What the sending authority is told for each status. `refused`: nothing here — the requester hears
    // of it from the refusal notice.
    const told = {
      delivered: { type: 'delivered' as const },
      duplicate: { type: 'delivered' as const },
      'in-review': {
        type: 'in-review' as const,
        message: 'Art. 9(4): the requested party holds the request for a decision; a reply or notice follows',
      },
      held: {
        type: 'held' as const,
        message: 'Art. 10(4): taken in; delivered once the message it refers to has arrived',
      },
      refused: undefined,
    }[receipt.body.status];
    // The event commits with the ack; the mark follows. A crash between them repeats the event
    // (at least once) rather than losing it.
    await commitWith(
      tx,
      ...(told === undefined
        ? []
        : [
            eventMessage(ctx, sent.from, {
              ...told,
              at: deliveredAt,
              messageId: id,
              idempotencyKey: sent.idempotencyKey,
              kind: sent.kind,
              to: { party: ctx.config.peer.party, authority: sent.toAuthority },
            }),
          ]),
    );
    if (await ctx.deps.state.markDelivered(id, deliveredAt)) {
      const outcome = receipt.body.status === 'duplicate' ? 'delivered' : receipt.body.status;
      ctx.deps.metrics.message('out', sent.kind, outcome);
      if (outcome === 'delivered' && sent.sentAt) {
        ctx.deps.metrics.receiptLatency((at.getTime() - Date.parse(sent.sentAt)) / 1000);
      }
    }
    this.log.info({ messageId: id, status: receipt.body.status }, 'receipt');
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
    this.ctx.deps.metrics.message('in', 'any', 'parked');
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
