/**
 * Art. 6, 7, 9: requests, what answers them, and information given without one.
 *
 * - `request` — Art. 9(1): a written (electronic) request. Not sent in a scope the Art. 17 suspension
 *   covers (`treaty.suspended`); one that confirms an oral request meets that deadline. At the
 *   receiver it goes to the authority competent for it (Art. 9(2), referral with a signed notice to
 *   the requester), is screened before delivery (Art. 9(4), 17: src/policy/screening.ts) and, with
 *   `replyBy`, starts the reply deadline.
 * - `reply`, `further-info-request` — Art. 9(2); a reply meets the reply deadline.
 * - `refusal` — Art. 9(4): the case system's refusal of a request its authority received from the
 *   addressee; it travels as the signed refusal notice of Art. 9(5) and meets the reply deadline.
 * - `spontaneous` — Art. 9(3); `travel-document` — Art. 6; `person-search` — Art. 7.
 * - `refusal-notice`, `referral-notice`, `acceptance-notice` — Art. 9(2), 9(4), 9(5): the notices a
 *   gateway writes about a request; each tells the requesting authority what became of it.
 * - `oral-request` and `decision` (kept by the gateway, never sent as such) — Art. 9(1): the record of
 *   an urgent oral request; Art. 9(4): a person's decision on a request held for review.
 */
import { competentAuthority } from '../policy/referral.js';
import { suspendedBy } from '../policy/suspension.js';
import type { OpenFacts } from '../crypto/open.js';
import type { EnvelopeOf } from '../domain/envelope.js';
import { DecisionSubmission, OralRequestRecord } from '../domain/submission.js';
import { AccordError, ERROR_CODES } from '../errors.js';
import type { ReviewRecord } from '../policy/review.js';
import type { Delivery, Effect, Facts, KindSpecs, LocalDecision, LocalSpec } from './spec.js';

/** Kinds that carry information, with nothing to check or start beyond what every kind has. */
const INFORMATION = { articles: '', send: {}, receive: {} };

export const requests: KindSpecs<
  | 'request'
  | 'reply'
  | 'further-info-request'
  | 'refusal'
  | 'spontaneous'
  | 'travel-document'
  | 'person-search'
  | 'refusal-notice'
  | 'referral-notice'
  | 'acceptance-notice'
> = {
  request: {
    articles: 'Art. 9(1), 9(2), 9(4), 17',
    send: {
      lookups: () => ({ suspensions: true }),
      // Art. 17: no request goes out in a suspended scope (replies, refusals and the rest still do).
      check: (sub, facts) => {
        const by = suspendedBy(facts.suspensions, sub.body.crimeCategories, facts.now);
        if (by) {
          throw new AccordError(
            'treaty.suspended',
            `Art. 17: requests in this scope are suspended by ${by.party} since ${by.effectiveAt ?? '?'}`,
            { path: 'body.crimeCategories' },
          );
        }
      },
      // Art. 9(1): the written confirmation of an oral request.
      sent: (sub) =>
        sub.body.confirmsOral === undefined
          ? []
          : [{ type: 'satisfy', kind: 'oral-confirmation-due', id: sub.body.confirmsOral }],
    },
    receive: {
      // The screening needs every Art. 17 notice.
      lookups: () => ({ suspensions: true }),
      route: (env, config) => competentAuthority(config.policy.competence, env),
      screened: (env) => env,
      taken: (env, { target }) => [
        // Art. 9(2): the requested authority is alerted if no reply or refusal has gone by then.
        ...(env.body.replyBy === undefined
          ? []
          : [
              {
                type: 'schedule' as const,
                deadline: {
                  kind: 'reply-due' as const,
                  id: env.id,
                  authority: target,
                  dueAt: env.body.replyBy,
                },
              },
            ]),
        // Art. 9(2): referred; the requester is told at once, in a signed notice.
        ...(target === env.to.authority
          ? []
          : [
              {
                type: 'notice' as const,
                request: env,
                what: 'referral',
                content: {
                  kind: 'referral-notice' as const,
                  body: { inReplyTo: env.id, referredFrom: env.to.authority, referredTo: target },
                },
              },
              {
                type: 'log' as const,
                level: 'info' as const,
                fields: { messageId: env.id, from: env.to.authority, to: target },
                message: 'request referred to the competent authority',
              },
            ]),
      ],
    },
  },

  reply: {
    articles: 'Art. 9(2)',
    send: { sent: (sub) => [{ type: 'satisfy', kind: 'reply-due', id: sub.body.inReplyTo }] },
  },

  'further-info-request': { ...INFORMATION, articles: 'Art. 9(2)' },

  refusal: {
    articles: 'Art. 9(4), 9(5)',
    send: {
      lookups: (sub) => ({ seen: [sub.body.inReplyTo] }),
      // It answers a request this authority received from the authority it now writes to.
      check: (sub, facts) => {
        const seen = facts.seen.get(sub.body.inReplyTo);
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
      },
      // A case system's refusal travels as the signed refusal notice of Art. 9(5).
      content: (sub) => ({
        kind: 'refusal-notice',
        body: { ...sub.body, decidedBy: { kind: 'authority', ref: sub.from } },
      }),
      sent: (sub) => [{ type: 'satisfy', kind: 'reply-due', id: sub.body.inReplyTo }],
      // Counted with the refusals of rules, hooks and reviewers.
      counted: (sub) => [
        {
          type: 'refused',
          grounds: sub.body.grounds,
          facts: { messageId: sub.body.inReplyTo, decidedBy: 'authority' },
        },
      ],
    },
  },

  spontaneous: { ...INFORMATION, articles: 'Art. 9(3)' },
  'travel-document': { ...INFORMATION, articles: 'Art. 6' },
  'person-search': { ...INFORMATION, articles: 'Art. 7' },

  'refusal-notice': {
    articles: 'Art. 9(4), 9(5)',
    receive: {
      events: (env, { receivedAt }) => {
        const by = env.body.decidedBy;
        return [
          {
            authority: env.to.authority,
            event: {
              type: 'refused',
              at: receivedAt,
              messageId: env.body.inReplyTo,
              kind: 'request',
              code: 'policy.refused',
              message: `Art. 9(4) (${by.kind}${by.ref ? ` ${by.ref}` : ''}): ${env.body.explanation}`.slice(
                0,
                500,
              ),
              refusal: {
                noticeId: env.id,
                scope: env.body.scope,
                grounds: env.body.grounds,
                decidedBy: by,
              },
            },
          },
        ];
      },
    },
  },

  'referral-notice': {
    articles: 'Art. 9(2)',
    receive: {
      events: (env, { receivedAt }) => [
        {
          authority: env.to.authority,
          event: {
            type: 'referred',
            at: receivedAt,
            messageId: env.body.inReplyTo,
            kind: 'request',
            message: `Art. 9(2): referred from ${env.body.referredFrom} to the competent ${env.body.referredTo}`,
          },
        },
      ],
    },
  },

  'acceptance-notice': {
    articles: 'Art. 9(4)',
    receive: {
      events: (env, { receivedAt }) => [
        {
          authority: env.to.authority,
          event: {
            type: 'accepted-with-conditions',
            at: receivedAt,
            messageId: env.body.inReplyTo,
            kind: 'request',
            message: `Art. 9(4): accepted on ${env.body.conditions.length} condition(s) that bind the requester; the notice ${env.id} is in the inbox`,
          },
        },
      ],
    },
  },
};

/**
 * Art. 9(1): "In urgent cases, a request may also be made orally with an immediate subsequent written
 * confirmation." The record of an oral request (never sent): it starts the deadline for the written
 * request that must confirm it (`confirmsOral`), and the authority is alerted if none comes in time.
 */
export const oralRequestSpec: LocalSpec<OralRequestRecord> = {
  articles: 'Art. 9(1)',
  schema: OralRequestRecord,
  decide: (oral, id, facts) => {
    const { config } = facts;
    if (!facts.peerAuthorities.has(oral.body.to.authority) || oral.body.to.party !== config.peer.party) {
      throw new AccordError('auth.unknown_recipient', 'the authority asked is not in the peer’s directory', {
        path: 'body.to',
      });
    }
    const hours = config.policy.oralConfirmationHours;
    const dueAt = new Date(Date.parse(oral.body.madeAt) + hours * 3600_000).toISOString();
    return {
      action: 'carry-out',
      effects: [
        { type: 'schedule', deadline: { kind: 'oral-confirmation-due', id, authority: oral.from, dueAt } },
      ],
      deliveries: [],
      events: [
        {
          authority: oral.from,
          event: {
            type: 'accepted',
            at: facts.now.toISOString(),
            messageId: id,
            idempotencyKey: oral.idempotencyKey,
            kind: 'oral-request',
            message: `Art. 9(1): recorded; the written request confirming it (confirmsOral: ${id}) is due by ${dueAt}`,
          },
        },
      ],
      after: [],
    };
  },
};

/** The held request a decision is about, checked: the reviewer's, and still readable. */
function heldRequest(dec: DecisionSubmission, facts: Facts) {
  const held = facts.review;
  const record = held?.record;
  if (!held || !record) {
    throw new AccordError('policy.review_unknown', ERROR_CODES['policy.review_unknown'], {
      path: 'body.inReplyTo',
    });
  }
  if (record.authority !== dec.from) {
    throw new AccordError('auth.not_reviewer', ERROR_CODES['auth.not_reviewer'], { path: 'from' });
  }
  const opened = held.opened;
  if (opened === undefined || opened === 'unavailable' || opened.envelope.kind !== 'request') {
    throw new AccordError('policy.review_unavailable', ERROR_CODES['policy.review_unavailable'], {
      path: 'body.inReplyTo',
    });
  }
  if (opened.envelope.id !== record.id) {
    throw new AccordError('policy.review_unavailable', ERROR_CODES['policy.review_unavailable'], {
      path: 'body.inReplyTo',
    });
  }
  return { record, done: held.done, request: opened.envelope, verification: opened.verification };
}

/**
 * Art. 9(4), 9(5): a person's decision on a request held for review. The request is opened and
 * verified again from its stored JWE; a refusal goes to the requester as a signed notice at once, an
 * acceptance delivers the request to the reviewing authority's inbox — with the decision, its
 * conditions or its refused parts — in the same transaction as the outbox ack. The decision is
 * claimed atomically in the review store first: a second decision, or the same one submitted again,
 * carries nothing out twice.
 */
export const decisionSpec: LocalSpec<DecisionSubmission> = {
  articles: 'Art. 9(4), 9(5)',
  schema: DecisionSubmission,
  lookups: (dec, id) => ({ review: { id: dec.body.inReplyTo, decisionId: id } }),
  decide: (dec, decisionId, facts, redelivered) => {
    const { record, done, request, verification } = heldRequest(dec, facts);
    if (done) return { action: 'duplicate' };
    return {
      action: 'claim-review',
      id: record.id,
      decision: dec.body.decision,
      then: (taken): LocalDecision => {
        // The same decision recorded before: only the broker's redelivery of an attempt that did not
        // commit carries it out again; a second submission of the key (perhaps while the first is still
        // being carried out) is a duplicate, so nothing is delivered twice.
        if (taken === 'again' && !redelivered) return { action: 'duplicate' };
        if (taken !== 'decided' && taken !== 'again') {
          const error = new AccordError('policy.review_decided', ERROR_CODES['policy.review_decided'], {
            path: 'body.inReplyTo',
          });
          return { action: 'reject', error };
        }
        return carryOutDecision(dec, decisionId, record, request, verification, facts);
      },
    };
  },
};

function carryOutDecision(
  dec: DecisionSubmission,
  decisionId: string,
  held: ReviewRecord,
  request: EnvelopeOf<'request'>,
  verification: OpenFacts,
  facts: Facts,
): LocalDecision {
  const { config } = facts;
  const b = dec.body;
  const at = facts.now.toISOString();
  const person = { kind: 'person' as const, ref: dec.from };
  const effects: Effect[] = [];
  if (b.decision === 'refuse' || b.decision === 'refuse-partial') {
    effects.push({
      type: 'notice',
      request,
      what: 'refusal-person',
      content: {
        kind: 'refusal-notice',
        body: {
          inReplyTo: request.id,
          scope: b.decision === 'refuse' ? 'full' : 'partial',
          ...(b.decision === 'refuse-partial' ? { parts: b.parts } : {}),
          grounds: b.grounds,
          explanation: b.explanation,
          decidedBy: person,
        },
      },
    });
  }
  if (b.decision === 'refuse') effects.push({ type: 'satisfy', kind: 'reply-due', id: request.id });
  if (b.decision === 'accept-with-conditions') {
    effects.push({
      type: 'notice',
      request,
      what: 'acceptance-person',
      content: {
        kind: 'acceptance-notice',
        body: { inReplyTo: request.id, conditions: b.conditions, decidedBy: person },
        conditions: b.conditions,
      },
    });
  }
  effects.push({
    type: 'audit',
    record: {
      type: 'decision',
      messageId: request.id,
      kind: 'request',
      fromAuthority: `${request.from.party}/${request.from.authority}`,
      toAuthority: `${config.party}/${held.authority}`,
      decidedBy: `person ${dec.from}`,
      reason: `Art. 9(4) ${b.decision}${'grounds' in b ? `; grounds: ${b.grounds.join(', ')}` : ''}`,
      refersTo: decisionId,
    },
  });
  const deliveries: Delivery[] =
    b.decision === 'refuse'
      ? []
      : [
          {
            to: 'inbox',
            authority: held.authority,
            delivery: {
              envelope: request,
              ...(held.addressedTo !== held.authority ? { referredFrom: held.addressedTo } : {}),
              handling: request.handling,
              verification: { ...verification, receivedAt: held.receivedAt, verifiedBy: config.party },
              decision: {
                decision: b.decision,
                decisionId,
                decidedBy: dec.from,
                ...(b.decision === 'accept-with-conditions' ? { conditions: b.conditions } : {}),
                ...(b.decision === 'refuse-partial' ? { refusedParts: b.parts } : {}),
              },
            },
          },
        ];
  // Art. 10(5): now in the reviewing authority's hands, with its destruction deadline.
  if (deliveries.length > 0) {
    effects.push({
      type: 'held-by',
      envelope: request,
      authority: held.authority,
      receivedAt: held.receivedAt,
    });
  }
  return {
    action: 'carry-out',
    effects,
    deliveries,
    events: [
      {
        authority: dec.from,
        event: {
          type: 'accepted',
          at,
          messageId: decisionId,
          idempotencyKey: dec.idempotencyKey,
          kind: 'decision',
          message: `Art. 9(4): decision "${b.decision}" on request ${request.id} carried out`,
        },
      },
    ],
    after: [
      { type: 'review-done', id: held.id, decisionId },
      ...(b.decision === 'refuse' || b.decision === 'refuse-partial'
        ? [
            {
              type: 'refused' as const,
              grounds: b.grounds,
              facts: { messageId: request.id, decidedBy: 'person' as const },
            },
          ]
        : []),
      { type: 'count', direction: 'in', kind: 'request', outcome: `review-${b.decision}` },
      {
        type: 'log',
        level: 'info',
        fields: { messageId: request.id, decisionId, decision: b.decision },
        message: 'review decided',
      },
    ],
  };
}
