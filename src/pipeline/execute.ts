/**
 * The one executor. A decision (src/pipeline/decide-*.ts, with the kind specs of src/kinds/) says
 * what to do; this carries it out against the ports in the crash-safe order of docs/reliability.md:
 * for a send (executeSend) the sealed message stored before it is published, the publish with a
 * confirm, the receipt timer, the records, then the AMQP transaction with the events and the ack; for
 * an intake (executeIntake) the effects, then the transaction with the events, the deliveries, the
 * delivered-log line and the ack, then the claim marked and the receipt. Effects run one after the
 * other in the order given (runEffects), each idempotent, so a delivery processed again after a crash
 * repeats them harmlessly. Resends and batching plug in here.
 */
import { OPTIONAL_EVENT_TYPES } from '../domain/events.js';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { AccordError } from '../errors.js';
import type { Delivery, Effect, EventTo, LocalDecision } from '../kinds/spec.js';
import {
  commitWith,
  deadLetterMessage,
  eventMessage,
  publishConfirmed,
  replayableJwe,
  type GatewayContext,
  type Outgoing,
} from './context.js';
import type { IntakePlan } from './decide-inbound.js';
import type { Named, SendPlan } from './decide-outbound.js';
import {
  inboxMessage,
  nowHeldBy,
  publishSealedCopy,
  sealedRecord,
  sendConfirmation,
  sendNotice,
  sendToPeer,
} from './dispatch.js';
import type { SentRecord, Tx } from './ports.js';

/**
 * Carry out `effects` in order. With `beforeCommit`, an Art. 10(6) record is handed over to be waited
 * for before the commit (a transfer's members, whose records are then fsync'ed together) rather than
 * waited for here; it is still appended, and chained, in order.
 */
export async function runEffects(
  ctx: GatewayContext,
  effects: readonly Effect[],
  log: Logger = ctx.deps.log,
  beforeCommit?: (durable: Promise<unknown>) => void,
): Promise<void> {
  for (const e of effects) await runEffect(ctx, e, log, beforeCommit);
}

async function runEffect(
  ctx: GatewayContext,
  e: Effect,
  log: Logger,
  beforeCommit?: (durable: Promise<unknown>) => void,
): Promise<void> {
  const { deps } = ctx;
  switch (e.type) {
    case 'audit': {
      const written = deps.audit.append(e.record);
      if (beforeCommit === undefined) return void (await written);
      return beforeCommit(written);
    }
    case 'provided':
      return deps.ledger.provided(e.record);
    case 'consent-requested':
      return deps.ledger.consentRequested(e.id, e.at);
    case 'consent-answered':
      return deps.ledger.consentAnswered(e.requestId);
    case 'held-by':
      return nowHeldBy(ctx, e.envelope, e.authority, e.receivedAt);
    case 'erasure-noted':
      return deps.ledger.noteOnReceived(e.id, 'erasureId', e.erasureId);
    case 'destroyed':
      return void (await deps.ledger.markDestroyed(e.id, e.at, e.reason));
    case 'terminate': {
      const t = e.termination;
      await deps.ledger.putTermination(t);
      await deps.deadlines.schedule({
        kind: 'termination-effective',
        id: t.noticeId,
        authority: e.authority,
        dueAt: t.effectiveAt,
      });
      log.warn(
        { messageId: t.noticeId, party: t.party, effectiveAt: t.effectiveAt, code: 'treaty.terminated' },
        'Art. 18: the agreement terminates; all personal data received will be ordered destroyed then',
      );
      return;
    }
    case 'schedule':
      return deps.deadlines.schedule(e.deadline);
    case 'satisfy':
      return deps.deadlines.satisfy(e.kind, e.id);
    case 'suspension':
      return deps.suspensions.put(e.entry);
    case 'directory-pending':
      return deps.directory.putPending(e.update);
    case 'identifiers':
      return deps.provenance.rememberIdentifiers(e.messageId, e.hashes, e.ttlS);
    case 'consent':
      return deps.provenance.recordConsent(e.reference, e.destination, e.validUntil, e.consentId);
    case 'review-hold':
      return deps.reviews.hold(e.record, e.ttlS);
    case 'notice':
      return void (await sendNotice(ctx, e.request, e.what, e.content));
    case 'confirmation':
      return void (await sendConfirmation(ctx, e.from, e.to, e.body));
    case 'key-receipted':
      return deps.keyExchange.receipted(e.id);
    case 'refused':
      return deps.metrics.refused(e.grounds, e.facts);
    case 'count':
      return deps.metrics.message(e.direction, e.kind, e.outcome);
    case 'review-done':
      return deps.reviews.markDone(e.id, e.decisionId);
    case 'log':
      return log[e.level](e.fields, e.message);
  }
}

/**
 * The events of a decision as messages for the authorities' event queues, without the optional types
 * an authority chose not to receive (`eventSubscriptions`): one broker message less each.
 */
export function eventMessages(ctx: GatewayContext, events: readonly EventTo[]): Outgoing[] {
  return events
    .filter((e) => wants(ctx, e.authority, e.event.type))
    .map((e) => eventMessage(ctx, e.authority, e.event));
}

const OPTIONAL: ReadonlySet<string> = new Set(OPTIONAL_EVENT_TYPES);

/** Whether `authority` receives events of `type`. */
function wants(ctx: GatewayContext, authority: string, type: string): boolean {
  const chosen = ctx.config.eventSubscriptions[authority];
  return chosen === undefined || !OPTIONAL.has(type) || (chosen as readonly string[]).includes(type);
}

/** The messages a decision puts in this party's own queues. */
export function deliveryMessages(ctx: GatewayContext, deliveries: readonly Delivery[]): Outgoing[] {
  return deliveries.map((d) => {
    switch (d.to) {
      case 'inbox':
        return inboxMessage(ctx.names.inbox(d.authority), d.delivery);
      case 'review':
        return inboxMessage(ctx.names.review(d.authority), d.delivery);
      case 'export':
        return {
          queue: ctx.names.exportQueue(d.destination),
          content: Buffer.from(JSON.stringify(d.record)),
          props: { contentType: 'application/json', messageId: d.messageId, type: 'export' },
        };
    }
  });
}

/**
 * Send a case system's submission to the peer, in the crash-safe order (docs/reliability.md):
 * the sealed JWE (or the transfer it goes in) stored before it is published (write-once,
 * so every later attempt sends the same bytes) → what the kind records first → publish with a confirm,
 * mark sent, schedule the receipt check → what the sending meets and records (ledger, Art. 10(6)) →
 * commit `sent` with the outbox ack; a message that cannot be sent now tells the client `accepted`
 * once and waits. `resume` finishes a message a crashed attempt had sent; `duplicate` only tells the
 * client.
 */
export async function executeSend(
  ctx: GatewayContext,
  tx: Tx,
  plan: SendPlan,
  sending: 'duplicate' | 'resume' | 'send',
  existing: SentRecord | null,
  redelivered: boolean,
  log: Logger,
): Promise<void> {
  const { id, about, sub } = plan;
  const now = () => ctx.deps.now().toISOString();
  if (sending === 'duplicate') {
    // The same idempotency key again: one message, and the client is told which.
    await commitWith(tx, eventMessage(ctx, sub.from, { type: 'duplicate', at: now(), ...about }));
    ctx.deps.metrics.message('out', sub.kind, 'duplicate');
    log.info({ messageId: id }, 'duplicate submission, not sent again');
    return;
  }
  if (sending === 'resume' && existing?.sentAt !== undefined) {
    // We crashed after the peer's broker confirmed: finish what that attempt started.
    await ctx.deps.timers.schedule(id);
    await runEffects(ctx, plan.recorded(existing.sentAt), log);
    await commitWith(tx, ...eventMessages(ctx, plan.sentEvents(existing.sentAt, false)));
    return;
  }
  let sent: { sentAt: string; by: Record<string, unknown> };
  try {
    sent = await sendNow(ctx, plan, existing, log);
  } catch (err) {
    if (!redelivered) {
      // It cannot be sent now and waits on the outbox: `accepted` says so, once. Sent at once, its
      // `sent` is the answer, and a case system gains nothing from an `accepted` just before it.
      await publishConfirmed(
        ctx,
        eventMessage(ctx, sub.from, { type: 'accepted', at: now(), ...about }),
      ).catch(() => undefined);
    }
    throw err;
  }
  await runEffects(ctx, plan.recorded(sent.sentAt), log);
  await commitWith(tx, ...eventMessages(ctx, plan.sentEvents(sent.sentAt, true)));
  await runEffects(ctx, plan.counted, log);
  log.info({ messageId: id, kind: sub.kind, to: sub.to.authority, ...sent.by }, 'sent');
}

/** Seal (alone or in a transfer), store and publish a message with a confirm; returns when it was sent. */
async function sendNow(
  ctx: GatewayContext,
  plan: SendPlan,
  existing: SentRecord | null,
  log: Logger,
): Promise<{ sentAt: string; by: Record<string, unknown> }> {
  const { id, sub } = plan;
  let sentAt: string;
  let sentBy: { transfer?: boolean; bytes?: number };
  ctx.wire.nudge();
  if (existing === null && ctx.wire.batches(plan.urgent)) {
    // Wire version 2: in the next transfer, stored with it before it is published.
    await runEffects(ctx, plan.prepare, log);
    const sent = await ctx.wire.send(ctx, plan.envelope, sub.idempotencyKey);
    if ('taken' in sent) {
      const record = await ctx.deps.state.getSent(id);
      if (record === null)
        throw new AccordError('infra.unavailable', 'the stored message vanished', { messageId: id });
      sentAt = await sendToPeer(ctx, id, record, plan.urgent);
    } else {
      sentAt = sent.sentAt;
    }
    sentBy = { transfer: true };
  } else {
    const record =
      existing ?? (await sealedRecord(ctx, plan.envelope, { idempotencyKey: sub.idempotencyKey }));
    await runEffects(ctx, plan.prepare, log);
    sentAt = await sendToPeer(ctx, id, record, plan.urgent);
    sentBy = record.jwe === undefined ? { transfer: true } : { bytes: record.jwe.length };
  }
  return { sentAt, by: sentBy };
}

/** What is known of a submission's bytes before it is parsed: enough to trace it, nothing of its content. */
export interface InputFacts {
  inputSha256: string;
  inputBytes: number;
}

/**
 * Reject a submission whole: an event with the code, the field path and what the submission names
 * (its message id, key and kind) to the authority to tell, or a record to accord.dlq when there is
 * none; committed with the ack. Nothing is sent.
 */
export async function executeRejection(
  ctx: GatewayContext,
  tx: Tx,
  r: { tell: string | undefined; named: Named; input: InputFacts; error: AccordError },
  log: Logger,
): Promise<void> {
  const { tell, input, error: e } = r;
  const { messageId } = r.named;
  const at = ctx.deps.now().toISOString();
  log.warn(
    { code: e.code, path: e.path, sender: tell, messageId, inputSha256: input.inputSha256 },
    'submission rejected',
  );
  const path = e.path === undefined ? {} : { path: e.path };
  const out =
    tell !== undefined
      ? eventMessage(ctx, tell, {
          type: 'rejected',
          at,
          ...definedOnly(r.named),
          code: e.code,
          message: e.message.slice(0, 500),
          ...path,
        })
      : deadLetterMessage(ctx, { at, source: 'outbox', code: e.code, message: e.message, ...path, ...input });
  await commitWith(tx, out);
  ctx.deps.metrics.message('out', 'submission', 'rejected');
}

/**
 * Send a failed message's stored sealed JWE to the peer again (a replayed `delivery.no_receipt`
 * letter): it is no longer failed, the same bytes are published with a confirm, its receipt check is
 * scheduled anew, then the request is acked. A crash in between repeats the resend, which the peer
 * de-duplicates; a second failure parks a new letter.
 */
export async function executeResend(ctx: GatewayContext, tx: Tx, id: string, sent: SentRecord, log: Logger) {
  const copy = await ctx.deps.state.sealedCopy(sent);
  if (copy === null) {
    await commitWith(tx);
    log.warn({ code: 'dlq.not_replayable', messageId: id }, 'its sealed copy is gone; nothing to resend');
    return;
  }
  await ctx.deps.state.reopen(id);
  await publishSealedCopy(ctx.deps.peer, ctx.peerNames, copy, id, sent.urgent === true);
  ctx.deps.metrics.resent();
  await ctx.deps.timers.schedule(id);
  await commitWith(tx);
  log.warn({ code: 'dlq.replayed', messageId: id }, 'resent a message that had got no receipt');
}

/** Carry out a submission the gateway keeps: its effects, then the commit, then what follows it. */
export async function executeLocal(
  ctx: GatewayContext,
  tx: Tx,
  d: Extract<LocalDecision, { action: 'carry-out' }>,
  log: Logger,
): Promise<void> {
  await runEffects(ctx, d.effects, log);
  await commitWith(tx, ...deliveryMessages(ctx, d.deliveries), ...eventMessages(ctx, d.events));
  await runEffects(ctx, d.after, log);
}

/** The members of `o` that are not undefined (an event names only what exists). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Take a message from the peer in, once its delivery is claimed (inbound.ts): the plan's effects
 * (records, notices, deadlines, the ledger, Art. 10(6)), then in one AMQP transaction its events, its
 * deliveries, the delivered-log line and the ack of the ingress copy; then the claim is marked
 * delivered and the signed receipt goes back. A crash anywhere before the commit repeats the effects,
 * each idempotent; the claim protocol makes sure the deliveries commit once (docs/reliability.md).
 */
export async function executeIntake(
  ctx: GatewayContext,
  tx: Tx,
  id: string,
  plan: IntakePlan,
  receipt: () => Promise<void>,
  log: Logger,
  committed?: () => void,
): Promise<void> {
  await runEffects(ctx, plan.effects, log, tx.beforeCommit?.bind(tx));
  await commitWith(
    tx,
    ...eventMessages(ctx, plan.events),
    ...deliveryMessages(ctx, plan.deliveries),
    deliveredLogLine(ctx, id),
  );
  committed?.();
  await ctx.deps.state.markSeenDelivered(id);
  await runEffects(ctx, plan.after, log);
  await receipt();
}

/** The line of the internal delivered-log that commits with a delivery (transport/delivered-log.ts). */
export function deliveredLogLine(ctx: GatewayContext, id: string): Outgoing {
  return { queue: ctx.names.deliveredLog, content: Buffer.from(id), props: { contentType: 'text/plain' } };
}

/**
 * Park what came from the peer in accord.dlq with its code (there is no trustworthy sender to tell),
 * keeping the sealed message for an admin; committed with the ack.
 */
export async function executePark(
  ctx: GatewayContext,
  tx: Tx,
  err: AccordError,
  content: Buffer,
  messageId: string | undefined,
  at: Date,
  log: Logger,
): Promise<void> {
  const sealed = err.code !== 'input.too_large' ? replayableJwe(content) : undefined;
  const id = err.messageId ?? messageId;
  ctx.deps.metrics.message('in', 'any', 'parked');
  log.warn({ code: err.code, path: err.path, kid: err.kid, messageId: id }, 'ingress refused');
  await commitWith(
    tx,
    deadLetterMessage(ctx, {
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
}
