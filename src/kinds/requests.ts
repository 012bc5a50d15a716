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
 */
import { competentAuthority } from '../policy/referral.js';
import { suspendedBy } from '../policy/suspension.js';
import { AccordError } from '../errors.js';
import type { KindSpecs } from './spec.js';

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
