/**
 * The outbound decisions, pure: no I/O, no clock but the facts' — table tests cover them without a
 * broker (test/unit/). The pipeline (outbound.ts) loads the facts, asks these, and hands the answer to
 * the executor (execute.ts):
 *
 * 1. {@link readHead}: what a submission's bytes say before it is validated — whom to tell about it
 *    (its sender, when listed, or the authority whose broker user published it), its idempotency key,
 *    message id and kind — and whether the submitter may submit in that name (Art. 10(7), 11(1)).
 * 2. {@link validateSubmission}: a submission to be sealed — schema, Art. 13 recipient, Art. 9(6)
 *    language, Art. 10(2) sensitive data, Art. 10(5) destruction deadline.
 * 3. {@link decideOutbound}: on the facts its kind asked for — Art. 18 termination, Art. 13/17
 *    notifying authorities, the kind's own checks — reject it, or the plan to send it: the signed
 *    envelope and the effects and events of its kind.
 * 4. {@link decideSending}: after the atomic sending claim — a duplicate, a message to finish after a
 *    crash, or one to send.
 * 5. {@link decideResend}: a resend request (a replayed `delivery.no_receipt` letter) — refuse it, or
 *    whether the stored sealed message goes to the peer again.
 *
 * A submission the gateway keeps itself (export, oral request, decision, confirmations) is decided by
 * its kind's spec ({@link decideLocal}).
 */
import type { SensitiveCategory } from '../domain/categories.js';
import { IdempotencyKey } from '../domain/common.js';
import { ENVELOPE_VERSION, Envelope } from '../domain/envelope.js';
import { messageIdFor } from '../domain/ids.js';
import { validate } from '../domain/parse.js';
import { SUBMISSION_KINDS, Submission } from '../domain/submission.js';
import { messageRecord } from '../audit/records.js';
import { AccordError, ERROR_CODES, dispositionOf } from '../errors.js';
import { sendSpecOf, type AnyLocal } from '../kinds/index.js';
import type { Effect, EventTo, Facts, LocalDecision, LocalSpec } from '../kinds/spec.js';
import type { SentRecord } from './ports.js';
import { destructionDeadline } from '../policy/personal-data.js';
import { checkSensitiveData, suspectFreeText } from '../policy/sensitive-data.js';

/** What a submission names usably before it is validated (so that a rejection can name it too). */
export interface Named {
  /** A well-formed idempotency key. */
  idempotencyKey?: string | undefined;
  /** The message id that follows from the listed sender and the key. */
  messageId?: string | undefined;
  /** A kind the gateway knows. */
  kind?: string | undefined;
}

/** What the bytes of a submission say before it is validated. */
export interface Head {
  /** The sending authority it claims, when that is one of this party's listed authorities. */
  sender: string | undefined;
  /** Whom a rejection is told: the sender (none: the record goes to accord.dlq). */
  tell: string | undefined;
  named: Named;
  /**
   * Art. 10(7), 11(1): with `access.submitters` configured, a submission counts only from the authority
   * whose broker user published it (AMQP user_id, checked by the broker). Impersonation is told to the
   * authority that really published it, or recorded in accord.dlq when that is no authority.
   */
  denied?: { error: AccordError; tell: string | undefined; log?: Effect };
}

type DirectoryFacts = Pick<Facts, 'config' | 'ownAuthorities' | 'peerAuthorities' | 'now'>;

/** Read what a parsed submission names, and whether its submitter may send it (pure). */
export function readHead(raw: unknown, userId: string | undefined, facts: DirectoryFacts): Head {
  const r = raw as { from?: unknown; idempotencyKey?: unknown; kind?: unknown } | null;
  const claimed = r?.from;
  const sender = typeof claimed === 'string' && facts.ownAuthorities.has(claimed) ? claimed : undefined;
  const key = IdempotencyKey.safeParse(r?.idempotencyKey);
  const idempotencyKey = key.success ? key.data : undefined;
  const named: Named = {
    idempotencyKey,
    messageId:
      sender === undefined || idempotencyKey === undefined
        ? undefined
        : messageIdFor(facts.config.party, sender, idempotencyKey),
    kind: knownKind(r?.kind),
  };
  const denied = checkSubmitter(userId, sender, facts);
  return { sender, tell: sender, named, ...(denied === undefined ? {} : { denied }) };
}

/** The value, when it names a kind of submission the gateway knows. */
function knownKind(value: unknown): string | undefined {
  return typeof value === 'string' && SUBMISSION_KINDS.has(value) ? value : undefined;
}

function checkSubmitter(
  userId: string | undefined,
  claimed: string | undefined,
  facts: DirectoryFacts,
): Head['denied'] {
  const submitters = facts.config.access.submitters;
  if (submitters.length === 0) return undefined;
  if (userId === undefined) {
    const error = new AccordError('auth.user_id_missing', ERROR_CODES['auth.user_id_missing'], {
      path: 'user_id',
    });
    return { error, tell: undefined };
  }
  const actual = submitters.find((s) => s.brokerUser === userId)?.authority;
  if (actual !== undefined && actual === claimed) return undefined;
  return {
    error: new AccordError('auth.sender_mismatch', ERROR_CODES['auth.sender_mismatch'], { path: 'from' }),
    tell: actual,
    log: {
      type: 'log',
      level: 'warn',
      fields: { code: 'auth.sender_mismatch', brokerUser: userId, claimed },
      message: 'submission in another authority’s name',
    },
  };
}

/** A submission to be sealed for the peer, validated, with what the gateway derived from it. */
export interface Validated {
  sub: Submission;
  /** Art. 10(2): the sensitive categories its data carry, bound into the signed envelope. */
  sensitive: SensitiveCategory[];
  /** Art. 10(5): its destruction deadline, when it carries personal data. */
  deadline: ReturnType<typeof destructionDeadline>;
}

/**
 * Validate a submission to be sealed (pure); throws an AccordError naming the field. `head` says whom
 * it comes from.
 */
export function validateSubmission(raw: unknown, head: Head, facts: DirectoryFacts): Validated {
  const claimed = (raw as { from?: unknown } | null)?.from;
  if (typeof claimed !== 'string') {
    throw new AccordError(
      'schema.invalid',
      'submission is invalid at from: the sending authority is required',
      {
        path: 'from',
      },
    );
  }
  if (head.sender === undefined) {
    throw new AccordError(
      'auth.unknown_authority',
      'the sending authority is not listed in this party’s directory',
      {
        path: 'from',
      },
    );
  }
  const sub = validate(Submission, raw, 'submission');
  authorise(sub, facts);
  // Art. 10(2): the flags are derived from the data; a missing necessity refuses the message here.
  const sensitive = checkSensitiveData(sub.kind, sub.body, sub.handling);
  // Art. 10(5): personal data always travel with the provider's destruction deadline.
  const deadline = destructionDeadline(facts.config, sub.kind, sub.body, sub.handling, facts.now);
  return { sub, sensitive, deadline };
}

/** Art. 13: only listed authorities send, only to listed authorities of the peer; Art. 9(6): the language. */
function authorise(sub: Submission, facts: DirectoryFacts): void {
  const { config } = facts;
  if (sub.to.party !== config.peer.party) {
    throw new AccordError('auth.wrong_party', 'the recipient party is not this gateway’s peer', {
      path: 'to.party',
    });
  }
  if (!facts.peerAuthorities.has(sub.to.authority)) {
    throw new AccordError(
      'auth.unknown_recipient',
      'the recipient authority is not in the peer’s directory',
      {
        path: 'to.authority',
      },
    );
  }
  if (!config.messages.languages.includes(sub.language)) {
    throw new AccordError('policy.language_not_agreed', 'Art. 9(6): English unless agreed otherwise', {
      path: 'language',
    });
  }
}

/** The facts of a message that every event about it carries. */
export interface About {
  messageId: string;
  idempotencyKey: string;
  kind: string;
  to: Submission['to'];
}

/** How a validated submission is sent: what is signed, what its kind does, what its sender is told. */
export interface SendPlan {
  id: string;
  sub: Submission;
  /** What is signed and sealed (built at decision time: `createdAt` is the facts' clock). */
  envelope: Envelope;
  urgent: boolean;
  /** How long the sending claim and the sealed record live, in seconds. */
  claimTtlS: number;
  about: About;
  /** Before the sealed message is published (so that its receipt finds them). */
  prepare: Effect[];
  /** Once it is sent, also again after a crash: what it meets, the ledger, the Art. 10(6) record. */
  recorded(sentAt: string): Effect[];
  /** The first time it is sent. */
  counted: Effect[];
  /** The events of a send: `sent` (with the Art. 10(5) deadline and the warnings, the first time). */
  sentEvents(sentAt: string, first: boolean): EventTo[];
}

/** The outbound decision on a validated submission. */
export type OutboundDecision = { action: 'reject'; error: AccordError } | { action: 'send'; plan: SendPlan };

/** Run a check; an AccordError that rejects becomes the decision, anything else is thrown on. */
function rejecting<T>(decide: () => T): T | { action: 'reject'; error: AccordError } {
  try {
    return decide();
  } catch (err) {
    if (err instanceof AccordError && dispositionOf(err.code) === 'reject')
      return { action: 'reject', error: err };
    throw err;
  }
}

/** Decide on a validated submission, on the facts its kind asked for (pure). */
export function decideOutbound(v: Validated, facts: Facts): OutboundDecision {
  return rejecting(() => {
    checkTreatyState(v.sub, facts);
    // The kind's own checks: what it refers to (Art. 9(4), 10(3), 10(4)), the suspension (Art. 17).
    sendSpecOf(v.sub).check?.(v.sub, facts);
    return { action: 'send', plan: sendPlan(v, facts) };
  });
}

/** Art. 18: nothing goes out after the termination; Art. 13, 17: only notifying authorities notify. */
function checkTreatyState(sub: Submission, facts: Facts): void {
  const terminated = facts.termination;
  if (terminated && Date.parse(terminated.effectiveAt) <= facts.now.getTime()) {
    throw new AccordError(
      'treaty.terminated',
      `Art. 18: the agreement terminated on ${terminated.effectiveAt} (notice ${terminated.noticeId})`,
    );
  }
  if (sendSpecOf(sub).notifying && !facts.config.treaty.notifyingAuthorities.includes(sub.from)) {
    throw new AccordError('treaty.not_notifying_authority', ERROR_CODES['treaty.not_notifying_authority'], {
      path: 'from',
    });
  }
}

function sendPlan({ sub, sensitive, deadline }: Validated, facts: Facts): SendPlan {
  const { config } = facts;
  const spec = sendSpecOf(sub);
  const id = messageIdFor(config.party, sub.from, sub.idempotencyKey);
  const about: About = { messageId: id, idempotencyKey: sub.idempotencyKey, kind: sub.kind, to: sub.to };
  const ttlS = sub.ttlS ?? config.messages.defaultTtlS;
  const handling = sub.handling ?? { purposes: ['combating-crime'], conditions: [] };
  const destroyBy = deadline?.destroyBy;
  // What travels signed: the kind and body, unless the kind says otherwise (a refusal: its notice).
  const content = spec.content?.(sub) ?? { kind: sub.kind, body: sub.body };
  const envelope = validate(
    Envelope,
    {
      v: ENVELOPE_VERSION,
      id,
      from: { party: config.party, authority: sub.from },
      to: sub.to,
      createdAt: facts.now.toISOString(),
      expiresAt: new Date(facts.now.getTime() + ttlS * 1000).toISOString(),
      priority: sub.priority,
      language: sub.language,
      // Art. 10(2): the derived flags are bound into the signature.
      handling: { ...handling, sensitive, ...(destroyBy === undefined ? {} : { destroyBy }) },
      ...content,
    },
    'envelope',
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
  return {
    id,
    sub,
    envelope,
    urgent: sub.priority === 'urgent',
    claimTtlS: ttlS + 86_400,
    about,
    prepare: spec.prepare?.(sub, id, facts) ?? [],
    recorded: (sentAt) => [
      ...(spec.sent?.(sub, id, sentAt) ?? []),
      // Art. 10(6): the record of a provision, durable before the outbox ack; and the ledger entry that
      // later corrections, usage reports and the termination are checked against.
      {
        type: 'provided',
        record: {
          id,
          kind: envelope.kind,
          from: sub.from,
          toAuthority: sub.to.authority,
          sentAt,
          ...(envelope.handling.destroyBy === undefined ? {} : { destroyBy: envelope.handling.destroyBy }),
          ...spec.provided?.(sub),
        },
      },
      { type: 'audit', record: messageRecord(envelope, 'out') },
    ],
    counted: [
      { type: 'count', direction: 'out', kind: sub.kind, outcome: 'sent' },
      ...(spec.counted?.(sub, id) ?? []),
    ],
    sentEvents: (sentAt, first) => [
      { authority: sub.from, event: { type: 'sent', at: sentAt, ...about, ...(first ? retention : {}) } },
      ...(first
        ? suspectFreeText(sub.body).map((path) => ({
            authority: sub.from,
            event: {
              type: 'warning' as const,
              at: sentAt,
              ...about,
              code: 'policy.sensitive_text_suspected',
              path,
              message: ERROR_CODES['policy.sensitive_text_suspected'],
            },
          }))
        : []),
    ],
  };
}

/** What the sending claim found (see MessageState.claimSending). */
export interface SendingFacts {
  /** This attempt took the claim. */
  claimed: boolean;
  /** When the message was sent, if it was. */
  sentAt: string | undefined;
  /** The broker delivered this submission before (a crash or a failure interrupted that attempt). */
  redelivered: boolean;
}

/**
 * After the sending claim (pure): `duplicate` — the key was used before, nothing is sent; `resume` — a
 * redelivery finds its message sent (a crash after the peer's broker confirmed): the records, the
 * timer and `sent` again, nothing re-sent; `send` — seal (or take the stored JWE) and send, telling
 * `accepted` unless this is a redelivery (which told it the first time).
 */
export function decideSending(f: SendingFacts): 'duplicate' | 'resume' | 'send' {
  if (f.sentAt !== undefined && f.redelivered) return 'resume';
  if (f.sentAt !== undefined || (!f.claimed && !f.redelivered)) return 'duplicate';
  return 'send';
}

/**
 * A resend request for a sent message (`accord dlq replay` of its `delivery.no_receipt` letter), pure:
 * refused unless the gateway's own broker user asked, when broker users are checked at all
 * (`access.submitters`); nothing to do for a message this gateway has no record of, or one delivered
 * meanwhile (a late receipt); otherwise its stored sealed JWE goes to the peer again — the same bytes,
 * which the peer de-duplicates by message id, so a message that did arrive is not delivered twice.
 */
export function decideResend(
  id: string | undefined,
  userId: string | undefined,
  sent: SentRecord | null,
  config: Pick<Facts['config'], 'access'>,
):
  | { action: 'reject'; error: AccordError }
  | { action: 'unknown' | 'delivered' }
  | { action: 'resend'; id: string; sent: SentRecord } {
  if (config.access.submitters.length > 0 && userId !== config.access.gatewayUser) {
    const error = new AccordError(
      'auth.sender_mismatch',
      'only the gateway’s broker user may ask for a resend (accord dlq replay)',
      { path: 'headers.x-accord-resend' },
    );
    return { action: 'reject', error };
  }
  if (id === undefined) {
    const error = new AccordError('schema.invalid', 'a resend names a message id (a UUID)', {
      path: 'headers.x-accord-resend',
    });
    return { action: 'reject', error };
  }
  if (sent === null) return { action: 'unknown' };
  return sent.deliveredAt === undefined ? { action: 'resend', id, sent } : { action: 'delivered' };
}

/** Decide on a submission the gateway keeps (pure): its kind's decision, a rejecting error a `reject`. */
export function decideLocal(
  spec: LocalSpec<AnyLocal>,
  s: AnyLocal,
  id: string,
  facts: Facts,
  redelivered: boolean,
): LocalDecision {
  return rejecting(() => spec.decide(s, id, facts, redelivered));
}

/** The next step of a local decision after the review claim (pure). */
export function afterReviewClaim(
  d: Extract<LocalDecision, { action: 'claim-review' }>,
  outcome: Parameters<typeof d.then>[0],
): LocalDecision {
  return rejecting(() => d.then(outcome));
}
