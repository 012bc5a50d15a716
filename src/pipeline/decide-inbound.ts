/**
 * The inbound decisions, pure: no I/O — table tests cover them without a broker (test/unit/). The
 * pipeline (inbound.ts) opens the message, runs the exactly-once claim protocol, gathers the facts
 * (the original a correction refers to, the screening of a request, a key change applied), asks
 * these, and hands the answer to the executor (execute.ts):
 *
 * 1. {@link checkEnvelope}: the signed envelope names this party and a listed authority as recipient,
 *    the pinned peer and a listed authority as sender (Art. 13), is within its validity, carries the
 *    Art. 10(2) flags its data call for and, with personal data, the Art. 10(5) destruction deadline.
 * 2. {@link intakeTarget}: the authority that gets it — the competent one (Art. 9(2)), the one holding
 *    the original (Art. 10(4)), or the one addressed.
 * 3. {@link decideInbound}: park, hold (Art. 10(4): its original has not arrived), or take it in —
 *    the receipt status, the effects, deliveries and events of its kind and of the screening.
 * 4. {@link decideReceipt}: a receipt for a message this gateway sent — park it, or what it reports
 *    and sets off.
 */
import type { OpenFacts } from '../crypto/open.js';
import type { Envelope, EnvelopeOf } from '../domain/envelope.js';
import type { AuditInput } from '../audit/log.js';
import { messageRecord } from '../audit/records.js';
import { AccordError } from '../errors.js';
import { receiveSpecOf, receiptedSpecOf } from '../kinds/index.js';
import { toldOf } from '../kinds/receipts.js';
import type { Delivery, Effect, EventTo, Facts, Intake } from '../kinds/spec.js';
import { identifiers } from '../policy/identifiers.js';
import { identifierHash } from '../policy/onward-transfer.js';
import { carriesPersonalData } from '../policy/personal-data.js';
import type { Screening } from '../policy/screening.js';
import { checkSensitiveData } from '../policy/sensitive-data.js';
import { noticeIdFor, REVIEW_DECISIONS, type InboxDelivery } from './dispatch.js';
import type { ReceivedRecord, SentRecord } from './ports.js';

type DirectoryFacts = Pick<Facts, 'config' | 'ownAuthorities' | 'peerAuthorities'>;

/** Check an opened envelope before anything else is done with it (pure); throws an AccordError. */
export function checkEnvelope(env: Envelope, facts: DirectoryFacts, receivedAt: Date): void {
  checkBinding(env, facts, receivedAt);
  // Art. 10(2) on the receiving side too: the flags must match the data, each with its necessity.
  checkSensitiveData(env.kind, env.body, env.handling, { requireDeclared: true });
  // Art. 10(5): the provider sets a destruction deadline for every message with personal data.
  if (env.handling.destroyBy === undefined && carriesPersonalData(env.kind, env.body)) {
    throw new AccordError('policy.destruction_deadline_missing', undefined, {
      path: 'handling.destroyBy',
      messageId: env.id,
    });
  }
}

/** The signed envelope must name this party as recipient and the pinned peer as sender (Art. 13). */
function checkBinding(env: Envelope, facts: DirectoryFacts, now: Date): void {
  const { config } = facts;
  const leewayMs = config.crypto.clockLeewayS * 1000;
  const messageId = env.id;
  if (env.to.party !== config.party) {
    throw new AccordError('envelope.wrong_recipient', 'the signed envelope is addressed to another party', {
      path: 'to.party',
      messageId,
    });
  }
  if (env.from.party !== config.peer.party) {
    throw new AccordError('envelope.wrong_sender', 'the signed envelope names another sender party', {
      path: 'from.party',
      messageId,
    });
  }
  if (!facts.ownAuthorities.has(env.to.authority)) {
    throw new AccordError('auth.unknown_recipient', 'the recipient authority is not listed here', {
      path: 'to.authority',
      messageId,
    });
  }
  if (!facts.peerAuthorities.has(env.from.authority)) {
    throw new AccordError('auth.unknown_authority', 'the sending authority is not in the peer’s directory', {
      path: 'from.authority',
      messageId,
    });
  }
  if (acceptedUntilMs(env, config) + leewayMs < now.getTime()) {
    throw new AccordError('envelope.expired', 'the message has expired', { path: 'expiresAt', messageId });
  }
  if (Date.parse(env.createdAt) - leewayMs > now.getTime()) {
    throw new AccordError('envelope.not_yet_valid', 'the message was created in the future', {
      path: 'createdAt',
      messageId,
    });
  }
}

/**
 * Until when a message from the peer is accepted (epoch ms): its `expiresAt`, but no later than
 * `messages.maxValidityDays` after its signed `createdAt` — a sender's validity of up to a year does
 * not make a captured copy replayable for a year.
 */
export function acceptedUntilMs(env: Envelope, config: Facts['config']): number {
  const capMs = config.messages.maxValidityDays * 86_400_000;
  return Math.min(Date.parse(env.expiresAt), Date.parse(env.createdAt) + capMs);
}

/** How long the receiver remembers a message: until well after it can no longer be accepted. */
export function seenTtlS(env: Envelope, receivedAt: Date, config: Facts['config']): number {
  const leftS = Math.ceil((acceptedUntilMs(env, config) - receivedAt.getTime()) / 1000);
  return Math.max(60, leftS + config.crypto.clockLeewayS) + 86_400;
}

/** The authority that gets a message: the competent one, the holder of its original, or the addressee. */
export function intakeTarget(env: Envelope, original: ReceivedRecord | null, facts: DirectoryFacts): string {
  return receiveSpecOf(env).route?.(env, facts.config) ?? original?.authority ?? env.to.authority;
}

/** What the pipeline gathered about an opened message before deciding on it. */
export interface IntakeInput {
  /**
   * The JWE as received (ciphertext), kept for a request held for review: asked for only then (its
   * text is a copy of the whole sealed message, a transfer's for each of its members).
   */
  jwe: () => string;
  verification: OpenFacts;
  receivedAt: Date;
  /** Art. 10(4): when this gateway first held it for its original (its own record, never a header). */
  heldSince: string | undefined;
  /** What applying a key change did (the key lifecycle's words). */
  keyChange: string | undefined;
  /** Art. 9(4), 17: the screening, for a kind that is screened. */
  screening: Screening;
}

/** How a message is taken in. */
export interface IntakePlan {
  /** The authority that gets it. */
  target: string;
  /** What its receipt tells the sender. */
  status: 'delivered' | 'refused' | 'in-review';
  /** Before the commit, in order. */
  effects: Effect[];
  /** Committed with the ack and the delivered-log line. */
  events: EventTo[];
  deliveries: Delivery[];
  /** After the commit (metrics, log). */
  after: Effect[];
}

/** The inbound decision on an opened, checked message. */
export type InboundDecision =
  | { action: 'park'; error: AccordError }
  /**
   * Art. 10(4): its original has not arrived; it waits in the held queue (`since`: first held then;
   * `first`: no hold was recorded before; the sender gets a `held` receipt until one went out).
   */
  | { action: 'hold'; refersTo: string; since: string; first: boolean }
  | { action: 'take-in'; plan: IntakePlan };

/** Decide on a message from the peer (pure). */
export function decideInbound(env: Envelope, input: IntakeInput, facts: Facts): InboundDecision {
  const spec = receiveSpecOf(env);
  const { receivedAt } = input;
  const at = receivedAt.toISOString();
  // Art. 10(4): a correction or erasure goes to whoever holds its original, never before it.
  const originalId = spec.original?.(env);
  const original = originalId === undefined ? null : (facts.received.get(originalId) ?? null);
  if (originalId !== undefined && !original) {
    const maxMs = facts.config.dataProtection.holdMaxHours * 3_600_000;
    const since = input.heldSince;
    if (since !== undefined && receivedAt.getTime() - Date.parse(since) > maxMs) {
      const error = new AccordError('policy.original_missing', undefined, {
        path: 'body.refersTo',
        messageId: env.id,
      });
      return { action: 'park', error };
    }
    return { action: 'hold', refersTo: originalId, since: since ?? at, first: since === undefined };
  }
  if (original && original.fromAuthority !== env.from.authority) {
    return {
      action: 'park',
      error: new AccordError('policy.not_from_provider', undefined, { path: 'body.refersTo' }),
    };
  }
  const target = intakeTarget(env, original, facts);
  const received = (extra: Partial<AuditInput>): Effect => ({
    type: 'audit',
    record: messageRecord(env, 'in', { toAuthority: `${env.to.party}/${target}`, ...extra }),
  });

  if (input.keyChange !== undefined) {
    // Gateway to gateway; recorded, nothing reaches an authority.
    return take(target, 'delivered', {
      effects: [
        messageRecordEffect(env, {
          reason: input.keyChange.slice(0, 500),
          decidedBy: `peer gateway ${env.from.party}`,
        }),
      ],
      after: [
        { type: 'count', direction: 'in', kind: env.kind, outcome: 'applied' },
        {
          type: 'log',
          level: 'warn',
          fields: { messageId: env.id, kind: env.kind, code: 'keys.changed_by_peer' },
          message: input.keyChange,
        },
      ],
    });
  }

  const request = spec.screened?.(env);
  const { screening } = input;
  if (request !== undefined && screening.outcome === 'refuse') {
    // Art. 9(5): the notice goes to the requester at once; nothing reaches the addressed authority.
    const { decidedBy } = screening;
    const what = `refusal-${decidedBy.kind}`;
    const noticeId = noticeIdFor(facts.config.party, request, what);
    return take(target, 'refused', {
      effects: [
        {
          type: 'notice',
          request,
          what,
          content: {
            kind: 'refusal-notice',
            body: {
              inReplyTo: env.id,
              scope: 'full',
              grounds: screening.grounds,
              explanation: screening.explanation,
              decidedBy,
            },
          },
        },
        // Art. 10(6): recorded; a refused message reached nobody, so it does not enter the ledger.
        received({
          reason: `refused under Art. 9(4) by ${decidedBy.kind}; not delivered (notice ${noticeId})`,
          decidedBy: `${decidedBy.kind}${decidedBy.ref === undefined ? '' : ` ${decidedBy.ref}`}`,
        }),
      ],
      after: [
        { type: 'count', direction: 'in', kind: 'request', outcome: 'refused' },
        {
          type: 'refused',
          grounds: screening.grounds,
          facts: { messageId: env.id, decidedBy: decidedBy.kind },
        },
        {
          type: 'log',
          level: 'info',
          fields: { messageId: env.id, decidedBy: decidedBy.kind, ref: decidedBy.ref, noticeId },
          message: 'request refused; notice sent',
        },
      ],
    });
  }

  const intake: Intake = { target, receivedAt: at, facts };
  // Art. 11(2): what the export gate must know before anything of it can leave; then what the kind's
  // intake starts (also when it is held for review).
  const taken: Effect[] = [...provenance(env, facts), ...(spec.taken?.(env, intake) ?? [])];
  const delivery: InboxDelivery = {
    envelope: env,
    ...(target !== env.to.authority ? { referredFrom: env.to.authority } : {}),
    handling: env.handling,
    verification: { ...input.verification, receivedAt: at, verifiedBy: facts.config.party },
  };

  if (request !== undefined && screening.outcome === 'review') {
    // Art. 9(4): held for a person; the request's JWE (ciphertext) is kept for the decision. It enters
    // the ledger when a decision delivers it.
    const review = { reasons: screening.reasons, decisions: REVIEW_DECISIONS };
    return take(target, 'in-review', {
      effects: [
        ...taken,
        {
          type: 'review-hold',
          record: {
            id: env.id,
            jwe: input.jwe(),
            authority: target,
            addressedTo: env.to.authority,
            fromAuthority: env.from.authority,
            receivedAt: at,
          },
          ttlS: seenTtlS(env, receivedAt, facts.config),
        },
        received({ reason: 'held for review (Art. 9(4))' }),
      ],
      deliveries: [{ to: 'review', authority: target, delivery: { ...delivery, review } }],
      after: [
        { type: 'count', direction: 'in', kind: 'request', outcome: 'in-review' },
        {
          type: 'log',
          level: 'info',
          fields: { messageId: env.id, authority: target, by: screening.reasons.map((r) => r.by) },
          message: 'request held for review (Art. 9(4))',
        },
      ],
    });
  }

  return take(target, 'delivered', {
    effects: [
      ...taken,
      // What its delivery to an authority starts (Art. 10(3)–(5), 18).
      ...(spec.delivered?.(env, intake) ?? []),
      // Art. 10(5), 10(6): in the authority's hands (ledger, destruction deadline), and recorded.
      { type: 'held-by', envelope: env, authority: target, receivedAt: at },
      received({}),
    ],
    events: spec.events?.(env, intake) ?? [],
    deliveries: [{ to: 'inbox', authority: target, delivery }],
    after: [
      { type: 'count', direction: 'in', kind: env.kind, outcome: 'delivered' },
      {
        type: 'log',
        level: 'info',
        fields: { messageId: env.id, kind: env.kind, to: env.to.authority },
        message: 'delivered',
      },
    ],
  });
}

function take(
  target: string,
  status: IntakePlan['status'],
  parts: Partial<Pick<IntakePlan, 'effects' | 'events' | 'deliveries' | 'after'>>,
): InboundDecision {
  return {
    action: 'take-in',
    plan: { target, status, effects: [], events: [], deliveries: [], after: [], ...parts },
  };
}

function messageRecordEffect(env: Envelope, extra: Partial<AuditInput>): Effect {
  return { type: 'audit', record: messageRecord(env, 'in', extra) };
}

/**
 * Art. 11(2): the keyed hashes of the identifiers a message carries, in their normal forms
 * (policy/identifiers.ts), kept for the export gate.
 */
function provenance(env: Envelope, facts: Facts): Effect[] {
  const { identifierKey, identifierRetentionDays } = facts.config.policy;
  if (identifierKey === undefined) return [];
  const hashes = new Set(identifiers(env.body).map(({ id }) => identifierHash(identifierKey, id)));
  return [
    {
      type: 'identifiers',
      messageId: env.id,
      hashes: [...hashes],
      ttlS: identifierRetentionDays * 86_400,
    },
  ];
}

/** The decision on a receipt for a message this gateway sent. */
export type ReceiptDecision =
  | { action: 'park'; error: AccordError }
  /** Reported before: nothing more (the ack). */
  | { action: 'settled' }
  | {
      action: 'report';
      /** What the receipt sets off for the kind of the message receipted. */
      effects: Effect[];
      /** What the sending authority is told (none: a gateway's own message, or a refusal). */
      events: EventTo[];
      /** A gateway's own message: no authority is told, nothing else is counted. */
      untold: boolean;
    };

/** Decide on a receipt (pure), given the sent record it names and the facts its kind asked for. */
export function decideReceipt(
  receipt: EnvelopeOf<'receipt'>,
  sent: SentRecord | null,
  facts: Facts,
): ReceiptDecision {
  const id = receipt.body.forMessageId;
  if (!sent || sent.toAuthority !== receipt.from.authority || sent.from !== receipt.to.authority) {
    const error = new AccordError(
      'receipt.unknown_message',
      'no record of sending this message to this authority',
      {
        messageId: id,
      },
    );
    return { action: 'park', error };
  }
  // A record rebuilt after Redis lost its data has no digest to check against (redis-loss.ts); the
  // receipt is signed by the peer and names this message and its authorities.
  if (sent.rebuilt !== true && sent.jweSha256 !== receipt.body.jweSha256) {
    const error = new AccordError('receipt.digest_mismatch', 'the receipt acknowledges a different JWE', {
      messageId: id,
    });
    return { action: 'park', error };
  }
  if (sent.deliveredAt) return { action: 'settled' };
  // What the receipt of this kind sets off (Art. 17: the suspension's date; Art. 18: the end;
  // an announced key: it becomes the one in use).
  const spec = receiptedSpecOf(sent.kind);
  const effects = spec.effects?.({ ...sent, id }, receipt.body.receivedAt, facts) ?? [];
  const told = spec.untold ? undefined : toldOf(receipt.body.status);
  return {
    action: 'report',
    effects,
    untold: spec.untold === true,
    events:
      told === undefined
        ? []
        : [
            {
              authority: sent.from,
              event: {
                ...told,
                at: facts.now.toISOString(),
                messageId: id,
                ...(sent.idempotencyKey === '' ? {} : { idempotencyKey: sent.idempotencyKey }),
                kind: sent.kind,
                to: { party: facts.config.peer.party, authority: sent.toAuthority },
              },
            },
          ],
  };
}
