/**
 * Outbound: accord.outbox → parse → validate → authorise the sending authority → seal → publish to the
 * peer's accord.ingress (broker confirm) → schedule the receipt check → event `sent` and the outbox
 * ack, committed together. A submission that fails any check is rejected whole: an event with the code
 * and field path goes to the sending authority, or a record to accord.dlq when there is no listed
 * authority to tell, committed together with the ack; nothing is sent.
 *
 * Crash safety: the message id is derived from the idempotency key and the sealed JWE is stored
 * before it is published, so a delivery processed again (after a crash anywhere) re-publishes the
 * same JWE, and the peer de-duplicates it.
 */
import { createHash } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope, type EnvelopeOf } from '../domain/envelope.js';
import { messageIdFor } from '../domain/ids.js';
import { parseJson, validate } from '../domain/parse.js';
import {
  CorrectionConfirmedSubmission,
  DecisionSubmission,
  DestructionConfirmedSubmission,
  ExportSubmission,
  OralRequestRecord,
  Submission,
} from '../domain/submission.js';
import { messageRecord } from '../audit/records.js';
import { destructionDeadline } from '../policy/personal-data.js';
import type { open } from '../crypto/open.js';
import { checkOnwardTransfer } from '../policy/onward-transfer.js';
import { suspendedBy } from '../policy/suspension.js';
import type { SensitiveCategory } from '../domain/categories.js';
import { checkSensitiveData, suspectFreeText } from '../policy/sensitive-data.js';
import { AccordError, ERROR_CODES, dispositionOf } from '../errors.js';
import {
  commitWith,
  deadLetterMessage,
  eventMessage,
  publishConfirmed,
  type GatewayContext,
} from './context.js';
import {
  inboxMessage,
  nowHeldBy,
  sealedRecord,
  sendConfirmation,
  sendNotice,
  sendToPeer,
  type InboxDelivery,
} from './dispatch.js';
import type { Incoming, Tx, TxOutcome } from './ports.js';

/** What is known of a submission's bytes before it is parsed: enough to trace it, nothing of its content. */
type InputFacts = { inputSha256: string; inputBytes: number };

/** Whom and what a refusal concerns: the delivery, the sender if listed, its idempotency key, its bytes. */
interface RefusalTarget {
  tx: Tx;
  sender: string | undefined;
  idempotencyKey: string | undefined;
  input: InputFacts;
}

/**
 * A submission the gateway handles itself instead of sealing it for the peer as it stands (an export,
 * the record of an oral request, a review decision, a confirmation), with what each handler needs.
 */
interface LocalSubmission extends RefusalTarget {
  raw: unknown;
  sender: string;
  redelivered: boolean;
}

export { COPY_HEADER, URGENT_PRIORITY } from './dispatch.js';

export class OutboundPipeline {
  private readonly log;
  /** The handlers of local submissions by kind (a Map: a kind from outside never reaches a prototype). */
  private readonly localHandlers = new Map<string, (s: LocalSubmission) => Promise<TxOutcome>>([
    ['export', (s) => this.exportOut(s)],
    ['oral-request', (s) => this.recordOral(s)],
    ['decision', (s) => this.decide(s)],
    ['destruction-confirmed', (s) => this.confirmDestruction(s)],
    ['correction-confirmed', (s) => this.confirmCorrection(s)],
  ]);

  constructor(private readonly ctx: GatewayContext) {
    this.log = ctx.deps.log.child({ stage: 'outbound' });
  }

  /** Handle one delivery from accord.outbox; it is acked inside `tx`. Throws to retry it. */
  async handle(msg: Incoming, tx: Tx): Promise<TxOutcome> {
    const { ctx } = this;
    const { content } = msg;
    const input = {
      inputSha256: createHash('sha256').update(content).digest('hex'),
      inputBytes: content.length,
    };
    let raw: unknown;
    try {
      raw = parseJson(content, ctx.config.messages.maxSubmissionBytes);
    } catch (err) {
      return this.reject(tx, err, undefined, undefined, input);
    }
    // Who to tell about a problem: the claimed sender, if it is a listed authority.
    const claimed = (raw as { from?: unknown } | null)?.from;
    const sender = typeof claimed === 'string' && ctx.ownAuthorities.has(claimed) ? claimed : undefined;
    const key = (raw as { idempotencyKey?: unknown } | null)?.idempotencyKey;
    const idempotencyKey = typeof key === 'string' && key.length <= 128 ? key : undefined;

    const denied = this.checkSubmitter(msg.userId, sender);
    if (denied) return this.reject(tx, denied.err, denied.tell, idempotencyKey, input);

    const kind = (raw as { kind?: unknown } | null)?.kind;
    const local = typeof kind === 'string' ? this.localHandlers.get(kind) : undefined;
    if (local && sender !== undefined) {
      return local({ tx, raw, sender, idempotencyKey, input, redelivered: msg.redelivered });
    }
    let sub: Submission;
    let sensitive: SensitiveCategory[];
    let deadline: ReturnType<typeof destructionDeadline>;
    try {
      if (typeof claimed !== 'string') {
        throw new AccordError(
          'schema.invalid',
          'submission is invalid at from: the sending authority is required',
          {
            path: 'from',
          },
        );
      }
      if (sender === undefined) {
        throw new AccordError(
          'auth.unknown_authority',
          'the sending authority is not listed in this party’s directory',
          {
            path: 'from',
          },
        );
      }
      sub = validate(Submission, raw, 'submission');
      this.authorise(sub);
      // Art. 10(2): the flags are derived from the data; a missing necessity refuses the message here.
      sensitive = checkSensitiveData(sub.kind, sub.body, sub.handling);
      // Art. 10(5): personal data always travel with the provider's destruction deadline.
      deadline = destructionDeadline(ctx.config, sub.kind, sub.body, sub.handling, ctx.deps.now());
      if (sub.kind === 'refusal') await this.checkRefusal(sub);
      await this.checkReferences(sub);
      await this.checkTreatyState(sub);
    } catch (err) {
      return this.rejectOrThrow({ tx, sender, idempotencyKey, input }, err);
    }
    return this.send(msg, tx, sub, sensitive, deadline);
  }

  private async send(
    msg: Incoming,
    tx: Tx,
    sub: Submission,
    sensitive: SensitiveCategory[],
    deadline: ReturnType<typeof destructionDeadline>,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const id = messageIdFor(ctx.config.party, sub.from, sub.idempotencyKey);
    const facts = { messageId: id, idempotencyKey: sub.idempotencyKey, kind: sub.kind, to: sub.to };
    const existing = await ctx.deps.state.getSent(id);
    // What is signed; not built for a duplicate, which sends nothing.
    const envelope = () => this.envelope(id, sub, sensitive, deadline?.destroyBy);
    if (existing?.sentAt) {
      if (msg.redelivered) {
        // We crashed after the peer's broker confirmed: finish what that attempt started.
        await ctx.deps.timers.schedule(id);
        await this.recordProvided(envelope(), existing.sentAt);
        await commitWith(tx, eventMessage(ctx, sub.from, { type: 'sent', at: existing.sentAt, ...facts }));
      } else {
        // The same idempotency key again: one message, and the client is told which.
        await commitWith(tx, eventMessage(ctx, sub.from, { type: 'duplicate', at: this.now(), ...facts }));
        ctx.deps.metrics.message('out', sub.kind, 'duplicate');
        this.log.info({ messageId: id }, 'duplicate submission, not sent again');
      }
      return 'done';
    }
    if (!msg.redelivered) {
      // While the peer is unreachable the submission waits on the outbox; `accepted` says so once.
      await publishConfirmed(
        ctx,
        eventMessage(ctx, sub.from, { type: 'accepted', at: this.now(), ...facts }),
      );
    }
    const signed = envelope();
    const record = existing ?? (await sealedRecord(ctx, signed, { idempotencyKey: sub.idempotencyKey }));
    if (sub.kind === 'suspension-notice') {
      // Art. 17: takes effect fifteen days after the peer received it; the receipt will say when.
      await ctx.deps.suspensions.put({
        id,
        party: ctx.config.party,
        action: sub.body.action,
        scope: sub.body.scope,
      });
    }
    const sentAt = await sendToPeer(ctx, id, record, sub.priority === 'urgent');
    await this.meetObligations(sub);
    await this.recordProvided(signed, sentAt);
    const warnings = suspectFreeText(sub.body).map((path) =>
      eventMessage(ctx, sub.from, {
        type: 'warning',
        at: sentAt,
        ...facts,
        code: 'policy.sensitive_text_suspected',
        path,
        message: ERROR_CODES['policy.sensitive_text_suspected'],
      }),
    );
    const retention =
      deadline === undefined
        ? {}
        : {
            destroyBy: deadline.destroyBy,
            destroyByDefault: deadline.byDefault,
            ...(deadline.byDefault
              ? {
                  message: `Art. 10(5): destruction deadline ${deadline.destroyBy} set by the configured default (${deadline.days} days)`,
                }
              : {}),
          };
    await commitWith(
      tx,
      eventMessage(ctx, sub.from, { type: 'sent', at: sentAt, ...facts, ...retention }),
      ...warnings,
    );
    ctx.deps.metrics.message('out', sub.kind, 'sent');
    if (sub.kind === 'refusal' && !existing?.sentAt) {
      // Art. 9(4): a refusal by the authority's case system counts with those of rules, hooks and reviewers.
      ctx.deps.metrics.refused(sub.body.grounds, { messageId: sub.body.inReplyTo, decidedBy: 'authority' });
    }
    this.log.info({ messageId: id, kind: sub.kind, to: sub.to.authority, bytes: record.jwe.length }, 'sent');
    return 'done';
  }

  /**
   * Art. 10(6): the record of a provision (or refusal, consent, correction…), durable before the
   * outbox ack; and the ledger entry that later corrections and usage reports are checked against.
   */
  private async recordProvided(env: Envelope, sentAt: string): Promise<void> {
    const { ctx } = this;
    await ctx.deps.ledger.provided({
      id: env.id,
      kind: env.kind,
      from: env.from.authority,
      toAuthority: env.to.authority,
      sentAt,
      ...(env.handling.destroyBy === undefined ? {} : { destroyBy: env.handling.destroyBy }),
      ...(env.kind === 'termination-notice' ? { note: env.body.diplomaticNote } : {}),
    });
    if (env.kind === 'consent-request') await ctx.deps.ledger.consentRequested(env.id, sentAt);
    await ctx.deps.audit.append(messageRecord(env, 'out'));
  }

  /**
   * Art. 10(3), 10(4): a correction, an erasure or a usage-report request refers to messages this
   * authority provided to the addressee; a usage report answers a request this authority received.
   */
  private async checkReferences(sub: Submission): Promise<void> {
    const { ledger } = this.ctx.deps;
    const provided = async (ref: string, path: string) => {
      const p = await ledger.getProvided(ref);
      if (!p || p.from !== sub.from || p.toAuthority !== sub.to.authority) {
        throw new AccordError('policy.not_provided', ERROR_CODES['policy.not_provided'], { path });
      }
    };
    if (sub.kind === 'correction' || sub.kind === 'erasure')
      await provided(sub.body.refersTo, 'body.refersTo');
    if (sub.kind === 'usage-report-request') {
      for (const [i, ref] of sub.body.references.entries()) await provided(ref, `body.references.${i}`);
    }
    if (sub.kind === 'usage-report') {
      const r = await ledger.getReceived(sub.body.inReplyTo);
      if (
        !r ||
        r.kind !== 'usage-report-request' ||
        r.authority !== sub.from ||
        r.fromAuthority !== sub.to.authority
      ) {
        throw new AccordError('policy.not_a_usage_request', ERROR_CODES['policy.not_a_usage_request'], {
          path: 'body.inReplyTo',
        });
      }
    }
  }

  /**
   * Art. 10(7), 11(1): with `access.submitters` configured, a submission counts only from the authority
   * whose broker user published it (AMQP user_id, checked by the broker). Impersonation is told to the
   * authority that really published it, or recorded in accord.dlq when that is no authority.
   */
  private checkSubmitter(
    userId: string | undefined,
    claimed: string | undefined,
  ): { err: AccordError; tell: string | undefined } | undefined {
    const submitters = this.ctx.config.access.submitters;
    if (submitters.length === 0) return undefined;
    if (userId === undefined) {
      return {
        err: new AccordError('auth.user_id_missing', ERROR_CODES['auth.user_id_missing'], {
          path: 'user_id',
        }),
        tell: undefined,
      };
    }
    const actual = submitters.find((s) => s.brokerUser === userId)?.authority;
    if (actual !== undefined && actual === claimed) return undefined;
    this.log.warn(
      { code: 'auth.sender_mismatch', brokerUser: userId, claimed },
      'submission in another authority’s name',
    );
    return {
      err: new AccordError('auth.sender_mismatch', ERROR_CODES['auth.sender_mismatch'], { path: 'from' }),
      tell: actual,
    };
  }

  /** Art. 13: only listed authorities send, only to listed authorities of the peer. */
  private authorise(sub: Submission): void {
    const { ctx } = this;
    if (sub.to.party !== ctx.config.peer.party) {
      throw new AccordError('auth.wrong_party', 'the recipient party is not this gateway’s peer', {
        path: 'to.party',
      });
    }
    if (!ctx.peerAuthorities.has(sub.to.authority)) {
      throw new AccordError(
        'auth.unknown_recipient',
        'the recipient authority is not in the peer’s directory',
        {
          path: 'to.authority',
        },
      );
    }
    if (!ctx.config.messages.languages.includes(sub.language)) {
      throw new AccordError('policy.language_not_agreed', 'Art. 9(6): English unless agreed otherwise', {
        path: 'language',
      });
    }
  }

  /**
   * Art. 11(2): the export gate. Information received from the peer leaves for a third state or an
   * international organisation only with the provider's unexpired written consent; the export and
   * its event commit together with the outbox ack.
   */
  private async exportOut(s: LocalSubmission): Promise<TxOutcome> {
    const { tx, raw } = s;
    const { ctx } = this;
    let exp: ExportSubmission;
    let consents: string[];
    try {
      exp = validate(ExportSubmission, raw, 'export');
      const { state, provenance } = ctx.deps;
      consents = await checkOnwardTransfer(exp, {
        destinations: new Set(ctx.config.exportDestinations.map((d) => d.id)),
        store: provenance,
        receivedFromPeer: async (id) => (await state.getSeen(id))?.state === 'delivered',
        sentByUs: async (id) => (await state.getSent(id)) !== null,
        identifierKey: ctx.config.policy.identifierKey,
        now: ctx.deps.now(),
      });
    } catch (err) {
      return this.rejectOrThrow(s, err);
    }
    const id = messageIdFor(ctx.config.party, exp.from, exp.idempotencyKey);
    const at = this.now();
    await ctx.deps.audit.append({
      type: 'export-decision',
      messageId: id,
      kind: 'export',
      subjectCount: exp.body.persons?.length ?? 0,
      fromAuthority: `${ctx.config.party}/${exp.from}`,
      toAuthority: `export/${exp.body.destination}`,
      reason: `Art. 11(2) consents: ${consents.length}; references: ${exp.body.references.length}`,
    });
    const record = {
      exportId: id,
      at,
      from: { party: ctx.config.party, authority: exp.from },
      destination: exp.body.destination,
      consents,
      content: exp.body,
    };
    await commitWith(
      tx,
      {
        queue: ctx.names.exportQueue(exp.body.destination),
        content: Buffer.from(JSON.stringify(record)),
        props: { contentType: 'application/json', messageId: id, type: 'export' },
      },
      eventMessage(ctx, exp.from, {
        type: 'sent',
        at,
        messageId: id,
        idempotencyKey: exp.idempotencyKey,
        kind: 'export',
      }),
    );
    ctx.deps.metrics.message('out', 'export', 'exported');
    this.log.info(
      { messageId: id, destination: exp.body.destination, consents: consents.length },
      'exported',
    );
    return 'done';
  }

  /**
   * Art. 17: only notifying authorities notify; no request goes out in a suspended scope (replies,
   * refusals, consents and the rest still do).
   */
  private async checkTreatyState(sub: Submission): Promise<void> {
    const { ctx } = this;
    const terminated = await ctx.deps.ledger.termination();
    if (terminated && Date.parse(terminated.effectiveAt) <= ctx.deps.now().getTime()) {
      throw new AccordError(
        'treaty.terminated',
        `Art. 18: the agreement terminated on ${terminated.effectiveAt} (notice ${terminated.noticeId})`,
      );
    }
    const notifies =
      sub.kind === 'suspension-notice' ||
      sub.kind === 'directory-update' ||
      sub.kind === 'termination-notice';
    if (notifies && !ctx.config.treaty.notifyingAuthorities.includes(sub.from)) {
      throw new AccordError('treaty.not_notifying_authority', ERROR_CODES['treaty.not_notifying_authority'], {
        path: 'from',
      });
    }
    if (sub.kind !== 'request') return;
    const by = suspendedBy(await ctx.deps.suspensions.list(), sub.body.crimeCategories, ctx.deps.now());
    if (by) {
      throw new AccordError(
        'treaty.suspended',
        `Art. 17: requests in this scope are suspended by ${by.party} since ${by.effectiveAt ?? '?'}`,
        { path: 'body.crimeCategories' },
      );
    }
  }

  /** What this message fulfils: a reply or refusal answers a request; a request confirms an oral one. */
  private async meetObligations(sub: Submission): Promise<void> {
    const { deadlines } = this.ctx.deps;
    if (sub.kind === 'reply' || sub.kind === 'refusal')
      await deadlines.satisfy('reply-due', sub.body.inReplyTo);
    if (sub.kind === 'usage-report') await deadlines.satisfy('usage-report-due', sub.body.inReplyTo);
    if (sub.kind === 'request' && sub.body.confirmsOral !== undefined) {
      await deadlines.satisfy('oral-confirmation-due', sub.body.confirmsOral);
    }
  }

  /**
   * Art. 9(1): the record of an urgent oral request. Nothing is sent; the gateway starts the deadline
   * for the written request that must confirm it, and alerts the authority if none comes in time.
   */
  private async recordOral(s: LocalSubmission): Promise<TxOutcome> {
    const { tx, raw } = s;
    const { ctx } = this;
    let oral: OralRequestRecord;
    try {
      oral = validate(OralRequestRecord, raw, 'oral-request');
      if (!ctx.peerAuthorities.has(oral.body.to.authority) || oral.body.to.party !== ctx.config.peer.party) {
        throw new AccordError(
          'auth.unknown_recipient',
          'the authority asked is not in the peer’s directory',
          {
            path: 'body.to',
          },
        );
      }
    } catch (err) {
      return this.rejectOrThrow(s, err);
    }
    const id = messageIdFor(ctx.config.party, oral.from, oral.idempotencyKey);
    const hours = ctx.config.policy.oralConfirmationHours;
    const dueAt = new Date(Date.parse(oral.body.madeAt) + hours * 3600_000).toISOString();
    await ctx.deps.deadlines.schedule({ kind: 'oral-confirmation-due', id, authority: oral.from, dueAt });
    await commitWith(
      tx,
      eventMessage(ctx, oral.from, {
        type: 'accepted',
        at: this.now(),
        messageId: id,
        idempotencyKey: oral.idempotencyKey,
        kind: 'oral-request',
        message: `Art. 9(1): recorded; the written request confirming it (confirmsOral: ${id}) is due by ${dueAt}`,
      }),
    );
    return 'done';
  }

  /**
   * Art. 9(4), 9(5): a person's decision on a request held for review. The request is opened and
   * verified again from its stored JWE; a refusal goes to the requester as a signed notice at once,
   * an acceptance delivers the request to the reviewing authority's inbox — with the decision, its
   * conditions or its refused parts — in the same transaction as the outbox ack.
   */
  private async decide(s: LocalSubmission): Promise<TxOutcome> {
    const { tx, raw, sender, idempotencyKey, input, redelivered } = s;
    const { ctx } = this;
    const { reviews } = ctx.deps;
    let dec: DecisionSubmission;
    let request: EnvelopeOf<'request'>;
    let facts: Awaited<ReturnType<typeof open>>['facts'];
    let held: NonNullable<Awaited<ReturnType<typeof reviews.get>>>;
    try {
      dec = validate(DecisionSubmission, raw, 'decision');
      const rec = await reviews.get(dec.body.inReplyTo);
      if (!rec) {
        throw new AccordError('policy.review_unknown', ERROR_CODES['policy.review_unknown'], {
          path: 'body.inReplyTo',
        });
      }
      if (rec.authority !== dec.from) {
        throw new AccordError('auth.not_reviewer', ERROR_CODES['auth.not_reviewer'], { path: 'from' });
      }
      held = rec;
      try {
        const opened = await ctx.crypto.open(Buffer.from(rec.jwe, 'latin1'), ctx.keys, ctx.profile);
        facts = opened.facts;
        const env = validate(Envelope, parseJson(opened.payload, ctx.profile.maxMessageBytes), 'envelope');
        if (env.kind !== 'request' || env.id !== rec.id) throw new Error('not the held request');
        request = env;
      } catch (err) {
        this.log.error(
          { messageId: rec.id, code: 'policy.review_unavailable', err: (err as Error).message },
          'the held request cannot be opened again',
        );
        throw new AccordError('policy.review_unavailable', ERROR_CODES['policy.review_unavailable'], {
          path: 'body.inReplyTo',
        });
      }
    } catch (err) {
      return this.rejectOrThrow(s, err);
    }
    const decisionId = messageIdFor(ctx.config.party, dec.from, dec.idempotencyKey);
    const at = this.now();
    const facts0 = { messageId: decisionId, idempotencyKey: dec.idempotencyKey, kind: 'decision' };
    if (await reviews.isDone(held.id, decisionId)) {
      await commitWith(tx, eventMessage(ctx, dec.from, { type: 'duplicate', at, ...facts0 }));
      return 'done';
    }
    const taken = await reviews.decide(held.id, decisionId, dec.body.decision, at);
    // The same decision recorded before: only the broker's redelivery of an attempt that did not
    // commit carries it out again; a second submission of the key (perhaps while the first is still
    // being carried out) is a duplicate, so nothing is delivered twice.
    if (taken === 'again' && !redelivered) {
      await commitWith(tx, eventMessage(ctx, dec.from, { type: 'duplicate', at, ...facts0 }));
      return 'done';
    }
    if (taken !== 'decided' && taken !== 'again') {
      const err = new AccordError('policy.review_decided', ERROR_CODES['policy.review_decided'], {
        path: 'body.inReplyTo',
      });
      return this.reject(tx, err, sender, idempotencyKey, input);
    }
    const b = dec.body;
    const person = { kind: 'person' as const, ref: dec.from };
    if (b.decision === 'refuse' || b.decision === 'refuse-partial') {
      await sendNotice(ctx, request, 'refusal-person', {
        kind: 'refusal-notice',
        body: {
          inReplyTo: request.id,
          scope: b.decision === 'refuse' ? 'full' : 'partial',
          ...(b.decision === 'refuse-partial' ? { parts: b.parts } : {}),
          grounds: b.grounds,
          explanation: b.explanation,
          decidedBy: person,
        },
      });
    }
    if (b.decision === 'refuse') await ctx.deps.deadlines.satisfy('reply-due', request.id);
    if (b.decision === 'accept-with-conditions') {
      await sendNotice(ctx, request, 'acceptance-person', {
        kind: 'acceptance-notice',
        body: { inReplyTo: request.id, conditions: b.conditions, decidedBy: person },
        conditions: b.conditions,
      });
    }
    await ctx.deps.audit.append({
      type: 'decision',
      messageId: request.id,
      kind: 'request',
      fromAuthority: `${request.from.party}/${request.from.authority}`,
      toAuthority: `${ctx.config.party}/${held.authority}`,
      decidedBy: `person ${dec.from}`,
      reason: `Art. 9(4) ${b.decision}${'grounds' in b ? `; grounds: ${b.grounds.join(', ')}` : ''}`,
      refersTo: decisionId,
    });
    const deliveries =
      b.decision === 'refuse'
        ? []
        : [
            inboxMessage(ctx.names.inbox(held.authority), {
              envelope: request,
              ...(held.addressedTo !== held.authority ? { referredFrom: held.addressedTo } : {}),
              handling: request.handling,
              verification: { ...facts, receivedAt: held.receivedAt, verifiedBy: ctx.config.party },
              decision: {
                decision: b.decision,
                decisionId,
                decidedBy: dec.from,
                ...(b.decision === 'accept-with-conditions' ? { conditions: b.conditions } : {}),
                ...(b.decision === 'refuse-partial' ? { refusedParts: b.parts } : {}),
              },
            } satisfies InboxDelivery),
          ];
    // Art. 10(5): now in the reviewing authority's hands, with its destruction deadline.
    if (deliveries.length > 0) await nowHeldBy(ctx, request, held.authority, held.receivedAt);
    await commitWith(
      tx,
      ...deliveries,
      eventMessage(ctx, dec.from, {
        type: 'accepted',
        at,
        ...facts0,
        message: `Art. 9(4): decision "${b.decision}" on request ${request.id} carried out`,
      }),
    );
    await reviews.markDone(held.id, decisionId);
    if (b.decision === 'refuse' || b.decision === 'refuse-partial') {
      ctx.deps.metrics.refused(b.grounds, { messageId: request.id, decidedBy: 'person' });
    }
    ctx.deps.metrics.message('in', 'request', `review-${b.decision}`);
    this.log.info({ messageId: request.id, decisionId, decision: b.decision }, 'review decided');
    return 'done';
  }

  /**
   * Art. 10(4), 10(5), 18: the authority destroyed the personal data of a message it received. Recorded
   * (Art. 10(6)) before the ack; the destroy order's and the erasure's deadlines are met; the provider
   * gets a signed confirmation for an erasure, and for the rest when configured.
   */
  private async confirmDestruction(s: LocalSubmission): Promise<TxOutcome> {
    const { tx, raw, redelivered } = s;
    const { ctx } = this;
    const { ledger, deadlines } = ctx.deps;
    let conf: DestructionConfirmedSubmission;
    let rec: NonNullable<Awaited<ReturnType<typeof ledger.getReceived>>>;
    try {
      conf = validate(DestructionConfirmedSubmission, raw, 'destruction-confirmed');
      const r = await ledger.getReceived(conf.body.messageId);
      if (!r || r.authority !== conf.from || !r.personal) {
        throw new AccordError('policy.not_received', ERROR_CODES['policy.not_received'], {
          path: 'body.messageId',
        });
      }
      if (conf.body.reason === 'erasure' && r.erasureId === undefined) {
        throw new AccordError('policy.not_received', 'Art. 10(4): no erasure was received for this message', {
          path: 'body.reason',
        });
      }
      rec = r;
    } catch (err) {
      return this.rejectOrThrow(s, err);
    }
    const id = rec.id;
    const at = this.now();
    const facts = {
      messageId: messageIdFor(ctx.config.party, conf.from, conf.idempotencyKey),
      idempotencyKey: conf.idempotencyKey,
      kind: 'destruction-confirmed',
    };
    if (rec.state === 'destroyed' && !redelivered) {
      await commitWith(tx, eventMessage(ctx, conf.from, { type: 'duplicate', at, ...facts }));
      return 'done';
    }
    const reason = conf.body.reason;
    await ctx.deps.audit.append({
      type: 'destruction',
      messageId: id,
      kind: rec.kind,
      fromAuthority: `${ctx.config.peer.party}/${rec.fromAuthority}`,
      toAuthority: `${ctx.config.party}/${rec.authority}`,
      decidedBy: conf.from,
      reason: `Art. 10(5) ${reason}`,
      ...(rec.destroyBy === undefined ? {} : { destroyBy: rec.destroyBy }),
      ...(rec.erasureId === undefined ? {} : { refersTo: rec.erasureId }),
    });
    for (const kind of [
      'destruction-due',
      'destruction-confirmation-due',
      'erasure-confirmation-due',
    ] as const) {
      await deadlines.satisfy(kind, id);
    }
    if (reason === 'erasure' || ctx.config.dataProtection.destruction.notifyProvider) {
      await sendConfirmation(ctx, rec.authority, rec.fromAuthority, {
        refersTo: id,
        action: 'destroyed',
        reason,
        at: conf.body.destroyedAt ?? at,
      });
    }
    await ledger.markDestroyed(id, conf.body.destroyedAt ?? at, reason);
    await commitWith(
      tx,
      eventMessage(ctx, conf.from, {
        type: 'accepted',
        at,
        ...facts,
        message: `Art. 10(5): the destruction of message ${id} (${reason}) is recorded`,
      }),
    );
    ctx.deps.metrics.message('in', rec.kind, `destroyed-${reason}`);
    this.log.info({ messageId: id, reason }, 'destruction recorded');
    return 'done';
  }

  /** Art. 10(4): the authority applied a correction; recorded, and the provider gets a signed confirmation. */
  private async confirmCorrection(s: LocalSubmission): Promise<TxOutcome> {
    const { tx, raw, redelivered } = s;
    const { ctx } = this;
    const { ledger, deadlines } = ctx.deps;
    let conf: CorrectionConfirmedSubmission;
    let rec: NonNullable<Awaited<ReturnType<typeof ledger.getReceived>>>;
    try {
      conf = validate(CorrectionConfirmedSubmission, raw, 'correction-confirmed');
      const r = await ledger.getReceived(conf.body.correctionId);
      if (!r || r.kind !== 'correction' || r.authority !== conf.from) {
        throw new AccordError('policy.not_received', ERROR_CODES['policy.not_received'], {
          path: 'body.correctionId',
        });
      }
      rec = r;
    } catch (err) {
      return this.rejectOrThrow(s, err);
    }
    const at = this.now();
    const facts = {
      messageId: messageIdFor(ctx.config.party, conf.from, conf.idempotencyKey),
      idempotencyKey: conf.idempotencyKey,
      kind: 'correction-confirmed',
    };
    if ((await deadlines.isMet('correction-confirmation-due', rec.id)) && !redelivered) {
      await commitWith(tx, eventMessage(ctx, conf.from, { type: 'duplicate', at, ...facts }));
      return 'done';
    }
    await ctx.deps.audit.append({
      type: 'correction',
      messageId: rec.id,
      kind: 'correction',
      fromAuthority: `${ctx.config.peer.party}/${rec.fromAuthority}`,
      toAuthority: `${ctx.config.party}/${rec.authority}`,
      decidedBy: conf.from,
      reason: 'Art. 10(4) correction applied',
    });
    await sendConfirmation(ctx, rec.authority, rec.fromAuthority, {
      refersTo: rec.id,
      action: 'corrected',
      reason: 'correction',
      at,
    });
    await deadlines.satisfy('correction-confirmation-due', rec.id);
    await commitWith(
      tx,
      eventMessage(ctx, conf.from, {
        type: 'accepted',
        at,
        ...facts,
        message: `Art. 10(4): correction ${rec.id} confirmed to the provider`,
      }),
    );
    this.log.info({ messageId: rec.id }, 'correction confirmed');
    return 'done';
  }

  /** A refusal answers a request that this authority received from the authority it now writes to. */
  private async checkRefusal(sub: Extract<Submission, { kind: 'refusal' }>): Promise<void> {
    const seen = await this.ctx.deps.state.getSeen(sub.body.inReplyTo);
    if (
      !seen ||
      seen.kind !== 'request' ||
      seen.toAuthority !== sub.from ||
      seen.fromAuthority !== sub.to.authority
    ) {
      throw new AccordError(
        'policy.not_a_request',
        'the refused message is not a request this authority received from the addressee',
        { path: 'body.inReplyTo' },
      );
    }
  }

  private now(): string {
    return this.ctx.deps.now().toISOString();
  }

  /** The envelope of a submission: what is signed, with the handling conditions bound into it. */
  private envelope(
    id: string,
    sub: Submission,
    sensitive: SensitiveCategory[],
    destroyBy: string | undefined,
  ): Envelope {
    const { ctx } = this;
    const now = ctx.deps.now();
    const ttlS = sub.ttlS ?? ctx.config.messages.defaultTtlS;
    const handling = sub.handling ?? { purposes: ['combating-crime'], conditions: [] };
    const base = {
      v: ENVELOPE_VERSION,
      id,
      from: { party: ctx.config.party, authority: sub.from },
      to: sub.to,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttlS * 1000).toISOString(),
      priority: sub.priority,
      language: sub.language,
      // Art. 10(2): the derived flags are bound into the signature.
      handling: { ...handling, sensitive, ...(destroyBy === undefined ? {} : { destroyBy }) },
    };
    // A case system's refusal travels as the signed refusal notice of Art. 9(5).
    const content =
      sub.kind === 'refusal'
        ? { kind: 'refusal-notice', body: { ...sub.body, decidedBy: { kind: 'authority', ref: sub.from } } }
        : { kind: sub.kind, body: sub.body };
    return validate(Envelope, { ...base, ...content }, 'envelope');
  }

  /** A code whose disposition is `reject` rejects the submission; any other failure goes to the consumer. */
  private rejectOrThrow(to: RefusalTarget, err: unknown): Promise<TxOutcome> {
    if (err instanceof AccordError && dispositionOf(err.code) === 'reject') {
      return this.reject(to.tx, err, to.sender, to.idempotencyKey, to.input);
    }
    throw err;
  }

  private async reject(
    tx: Tx,
    err: unknown,
    sender: string | undefined,
    idempotencyKey: string | undefined,
    input: InputFacts,
  ): Promise<TxOutcome> {
    const e = err instanceof AccordError ? err : new AccordError('internal.error');
    const at = this.now();
    this.log.warn(
      { code: e.code, path: e.path, sender, inputSha256: input.inputSha256 },
      'submission rejected',
    );
    const path = e.path === undefined ? {} : { path: e.path };
    const out =
      sender !== undefined
        ? eventMessage(this.ctx, sender, {
            type: 'rejected',
            at,
            ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
            code: e.code,
            message: e.message.slice(0, 500),
            ...path,
          })
        : deadLetterMessage(this.ctx, {
            at,
            source: 'outbox',
            code: e.code,
            message: e.message,
            ...path,
            ...input,
          });
    await commitWith(tx, out);
    this.ctx.deps.metrics.message('out', 'submission', 'rejected');
    return 'done';
  }
}
