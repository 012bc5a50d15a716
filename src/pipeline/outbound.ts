/**
 * Outbound: accord.outbox → parse → load the facts → decide (decide-outbound.ts, with the kind's spec
 * from src/kinds/) → execute (execute.ts) → commit. A submission to be sealed is validated, authorised
 * and checked; the sending claim is taken; it is sealed, published to the peer's accord.ingress
 * (broker confirm), the receipt check is scheduled, and the `sent` event commits with the outbox ack.
 * A submission that fails any check is rejected whole: an event with the code and field path goes to
 * the sending authority, or a record to accord.dlq when there is no listed authority to tell,
 * committed together with the ack; nothing is sent. A submission the gateway keeps itself (export,
 * oral request, decision, confirmations) is decided by its kind and carried out the same way.
 *
 * Crash safety: the message id is derived from the idempotency key, the sending claim is atomic, and
 * the sealed JWE is stored before it is published, so a delivery processed again (after a crash
 * anywhere) re-publishes the same JWE, and the peer de-duplicates it (docs/reliability.md).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { messageIdFor } from '../domain/ids.js';
import { parseJson, validate } from '../domain/parse.js';
import { AccordError, dispositionOf } from '../errors.js';
import { localSpecOf, sendSpecOf, type AnyLocal } from '../kinds/index.js';
import type { LocalDecision, LocalSpec } from '../kinds/spec.js';
import { commitWith, type GatewayContext } from './context.js';
import { RESEND_HEADER } from './dispatch.js';
import {
  afterReviewClaim,
  decideLocal,
  decideOutbound,
  decideResend,
  decideSending,
  readHead,
  validateSubmission,
  type Head,
} from './decide-outbound.js';
import {
  eventMessages,
  executeLocal,
  executeRejection,
  executeResend,
  executeSend,
  runEffects,
  type InputFacts,
} from './execute.js';
import { loadFacts } from './facts.js';
import type { Incoming, Tx, TxOutcome } from './ports.js';

export { COPY_HEADER, RESEND_HEADER, URGENT_PRIORITY } from './dispatch.js';

export class OutboundPipeline {
  private readonly log;

  constructor(private readonly ctx: GatewayContext) {
    this.log = ctx.deps.log.child({ stage: 'outbound' });
  }

  /** Handle one delivery from accord.outbox; it is acked inside `tx`. Throws to retry it. */
  async handle(msg: Incoming, tx: Tx): Promise<TxOutcome> {
    const { ctx } = this;
    const { content } = msg;
    if (msg.headers[RESEND_HEADER] !== undefined) return this.resend(msg, tx);
    const input: InputFacts = {
      inputSha256: createHash('sha256').update(content).digest('hex'),
      inputBytes: content.length,
    };
    let raw: unknown;
    try {
      raw = parseJson(content, ctx.config.messages.maxSubmissionBytes);
    } catch (err) {
      return this.rejectOrThrow(tx, { tell: undefined, named: {} }, input, err);
    }
    const base = await loadFacts(ctx, []);
    const head = readHead(raw, msg.userId, base);
    if (head.denied) {
      if (head.denied.log) await runEffects(ctx, [head.denied.log], this.log);
      return this.rejectOrThrow(tx, { ...head, tell: head.denied.tell }, input, head.denied.error);
    }
    const local = localSpecOf(head.named.kind);
    if (local !== undefined && head.sender !== undefined) {
      return this.keep(msg, tx, local, raw, head, input);
    }
    let validated;
    try {
      validated = validateSubmission(raw, head, base);
    } catch (err) {
      return this.rejectOrThrow(tx, head, input, err);
    }
    const { sub } = validated;
    const facts = await loadFacts(ctx, [sendSpecOf(sub).lookups?.(sub)], { termination: true }, base.now);
    const decision = decideOutbound(validated, facts);
    if (decision.action === 'reject') return this.rejectOrThrow(tx, head, input, decision.error);
    const { plan } = decision;
    // One claim per message id, taken atomically before anything is sealed: of several submissions of
    // one key (a case system retrying on a timeout), only the one that takes it goes on. The broker's
    // redelivery after a crash finds the claim taken and finishes what its first attempt began.
    // The claim and the read of the sent record go out together (one connection keeps their order).
    const [claimed, existing] = await Promise.all([
      ctx.deps.state.claimSending(plan.id, plan.claimTtlS),
      ctx.deps.state.getSent(plan.id),
    ]);
    const sending = decideSending({ claimed, sentAt: existing?.sentAt, redelivered: msg.redelivered });
    await executeSend(ctx, tx, plan, sending, existing, msg.redelivered, this.log);
    return 'done';
  }

  /** A resend request (`accord dlq replay` of a `delivery.no_receipt` letter): decide, then act. */
  private async resend(msg: Incoming, tx: Tx): Promise<TxOutcome> {
    const { ctx } = this;
    const parsed = z.uuid().safeParse(msg.headers[RESEND_HEADER]);
    const id = parsed.success ? parsed.data : undefined;
    const sent = id === undefined ? null : await ctx.deps.state.getSent(id);
    const decision = decideResend(id, msg.userId, sent, ctx.config);
    switch (decision.action) {
      case 'reject': {
        const input = {
          inputSha256: createHash('sha256').update(msg.content).digest('hex'),
          inputBytes: msg.content.length,
        };
        return this.rejectOrThrow(tx, { tell: undefined, named: {} }, input, decision.error);
      }
      case 'unknown':
      case 'delivered':
        this.log.warn(
          { code: 'dlq.not_replayable', messageId: id, was: decision.action },
          'nothing to resend',
        );
        await commitWith(tx);
        return 'done';
      case 'resend':
        await executeResend(ctx, tx, decision.id, decision.sent, this.log);
        return 'done';
    }
  }

  /**
   * A submission parked as poison (consumers.ts) gives back its sending claim when its message was never
   * sent, so that the case system's next submission of the key is sent rather than answered `duplicate`.
   */
  async abandon(msg: Incoming): Promise<void> {
    const { ctx } = this;
    let raw: unknown;
    try {
      raw = parseJson(msg.content, ctx.config.messages.maxSubmissionBytes);
    } catch {
      return;
    }
    const { messageId } = readHead(raw, msg.userId, await loadFacts(ctx, [])).named;
    if (messageId !== undefined && (await ctx.deps.state.releaseSending(messageId))) {
      this.log.warn({ messageId }, 'parked before it was sent; its idempotency key may be submitted again');
    }
  }

  /** A submission the gateway keeps: validated, decided by its kind on the facts it asks for, carried out. */
  private async keep(
    msg: Incoming,
    tx: Tx,
    spec: LocalSpec<AnyLocal>,
    raw: unknown,
    head: Head,
    input: InputFacts,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    let s: AnyLocal;
    try {
      s = validate(spec.schema, raw, head.named.kind ?? 'submission');
    } catch (err) {
      return this.rejectOrThrow(tx, head, input, err);
    }
    const id = messageIdFor(ctx.config.party, s.from, s.idempotencyKey);
    const facts = await loadFacts(ctx, [spec.lookups?.(s, id, ctx.config)]);
    let decision: LocalDecision = decideLocal(spec, s, id, facts, msg.redelivered);
    if (decision.action === 'claim-review') {
      const outcome = await ctx.deps.reviews.decide(
        decision.id,
        id,
        decision.decision,
        facts.now.toISOString(),
      );
      decision = afterReviewClaim(decision, outcome);
    }
    switch (decision.action) {
      case 'reject':
        // Art. 10(6): what a rejection of its kind records (a blocked export), durable before the ack.
        if (decision.effects !== undefined) await runEffects(ctx, decision.effects, this.log);
        return this.rejectOrThrow(tx, head, input, decision.error);
      case 'duplicate': {
        const at = ctx.deps.now().toISOString();
        const about = { messageId: id, idempotencyKey: s.idempotencyKey, kind: s.kind };
        await commitWith(
          tx,
          ...eventMessages(ctx, [{ authority: s.from, event: { type: 'duplicate', at, ...about } }]),
        );
        return 'done';
      }
      case 'carry-out':
        await executeLocal(ctx, tx, decision, this.log);
        return 'done';
      case 'claim-review':
        throw new Error('a decision asked for a second review claim');
    }
  }

  /** A code whose disposition is `reject` rejects the submission; any other failure goes to the consumer. */
  private async rejectOrThrow(
    tx: Tx,
    to: Pick<Head, 'tell' | 'named'>,
    input: InputFacts,
    err: unknown,
  ): Promise<TxOutcome> {
    if (err instanceof AccordError && dispositionOf(err.code) === 'reject') {
      await executeRejection(this.ctx, tx, { tell: to.tell, named: to.named, input, error: err }, this.log);
      return 'done';
    }
    throw err;
  }
}
