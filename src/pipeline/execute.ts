/**
 * The one executor of effects. A decision (src/pipeline/decide-*.ts, with the kind specs of
 * src/kinds/) says what to do; this carries it out against the ports, one effect after the other in
 * the order given, each idempotent, so that a delivery processed again after a crash repeats them
 * harmlessly. The crash-safe order around them — store the sealed message, publish with a confirm,
 * schedule, record, then commit the AMQP transaction with the events and the ack — is kept by the
 * pipelines, which call {@link runEffects} at its steps and {@link commitDecision} last.
 */
import type { Effect, EventTo } from '../kinds/spec.js';
import type { Logger } from 'pino';
import { commitWith, eventMessage, type GatewayContext, type Outgoing } from './context.js';
import { nowHeldBy, sendConfirmation, sendNotice } from './dispatch.js';
import type { Tx } from './ports.js';

/** Carry out `effects` in order. */
export async function runEffects(
  ctx: GatewayContext,
  effects: readonly Effect[],
  log: Logger = ctx.deps.log,
): Promise<void> {
  for (const e of effects) await runEffect(ctx, e, log);
}

async function runEffect(ctx: GatewayContext, e: Effect, log: Logger): Promise<void> {
  const { deps } = ctx;
  switch (e.type) {
    case 'audit':
      return void (await deps.audit.append(e.record));
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
      return deps.provenance.recordConsent(e.reference, e.destination, e.validUntil);
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
    case 'log':
      return log[e.level](e.fields, e.message);
  }
}

/** The events of a decision as messages for the authorities' event queues. */
export function eventMessages(ctx: GatewayContext, events: readonly EventTo[]): Outgoing[] {
  return events.map((e) => eventMessage(ctx, e.authority, e.event));
}

/** Commit the transaction: the messages of the decision, then the ack of the delivery. */
export async function commitDecision(tx: Tx, ...messages: Outgoing[]): Promise<void> {
  await commitWith(tx, ...messages);
}
