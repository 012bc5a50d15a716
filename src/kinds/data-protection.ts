/**
 * Art. 10(3)–(5): the provider's follow-up on personal data it provided, and the recipient's answers.
 *
 * - `usage-report-request` / `usage-report` — Art. 10(3): "The receiving Contracting Party shall, upon
 *   request, inform the providing Contracting Party of the use of the provided personal data". A
 *   request names messages this authority provided to the addressee; the receiver must answer by
 *   `answerBy` (or `dataProtection.usageReportDays`); a report answers a request this authority got.
 * - `correction` / `erasure` — Art. 10(4): incorrect data, or data that should not have been provided,
 *   are notified; the recipient corrects or destroys them. Each refers to a message this authority
 *   provided to the addressee, reaches whoever holds that original and never before it (held until it
 *   has arrived), and must be confirmed within `dataProtection.confirmCorrectionHours`.
 * - `confirmation-notice` — Art. 10(4), 10(5): the recipient's signed word that it corrected or
 *   destroyed data; the provider's authority is told (`confirmed`).
 */
import { AccordError, ERROR_CODES } from '../errors.js';
import type { Facts, KindSpecs, SubmissionOf } from './spec.js';

/** Art. 10(3), 10(4): `ref` is a message the sender provided to the authority it now writes to. */
function checkProvided(
  sub: SubmissionOf<'correction' | 'erasure' | 'usage-report-request'>,
  facts: Facts,
  ref: string,
  path: string,
): void {
  const p = facts.provided.get(ref);
  if (!p || p.from !== sub.from || p.toAuthority !== sub.to.authority) {
    throw new AccordError('policy.not_provided', ERROR_CODES['policy.not_provided'], { path });
  }
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** A time `ms` after `iso`. */
const after = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

export const dataProtection: KindSpecs<
  'usage-report-request' | 'usage-report' | 'correction' | 'erasure' | 'confirmation-notice'
> = {
  'usage-report-request': {
    articles: 'Art. 10(3)',
    send: {
      lookups: (sub) => ({ provided: sub.body.references }),
      check: (sub, facts) =>
        sub.body.references.forEach((ref, i) => checkProvided(sub, facts, ref, `body.references.${i}`)),
    },
    receive: {
      delivered: (env, { target, receivedAt, facts }) => [
        {
          type: 'schedule',
          deadline: {
            kind: 'usage-report-due',
            id: env.id,
            authority: target,
            dueAt: env.body.answerBy ?? after(receivedAt, facts.config.dataProtection.usageReportDays * DAY),
          },
        },
      ],
    },
  },

  'usage-report': {
    articles: 'Art. 10(3)',
    send: {
      lookups: (sub) => ({ received: [sub.body.inReplyTo] }),
      check: (sub, facts) => {
        const r = facts.received.get(sub.body.inReplyTo);
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
      },
      // The request is answered.
      sent: (sub) => [{ type: 'satisfy', kind: 'usage-report-due', id: sub.body.inReplyTo }],
    },
  },

  correction: {
    articles: 'Art. 10(4)',
    send: {
      lookups: (sub) => ({ provided: [sub.body.refersTo] }),
      check: (sub, facts) => checkProvided(sub, facts, sub.body.refersTo, 'body.refersTo'),
    },
    receive: {
      original: (env) => env.body.refersTo,
      delivered: (env, { target, receivedAt, facts }) => [
        {
          type: 'schedule',
          deadline: {
            kind: 'correction-confirmation-due',
            id: env.id,
            authority: target,
            dueAt: after(receivedAt, facts.config.dataProtection.confirmCorrectionHours * HOUR),
          },
        },
      ],
    },
  },

  erasure: {
    articles: 'Art. 10(4)',
    send: {
      lookups: (sub) => ({ provided: [sub.body.refersTo] }),
      check: (sub, facts) => checkProvided(sub, facts, sub.body.refersTo, 'body.refersTo'),
    },
    receive: {
      original: (env) => env.body.refersTo,
      // The original's record names the erasure; its destruction must be confirmed in time.
      delivered: (env, { target, receivedAt, facts }) => [
        { type: 'erasure-noted', id: env.body.refersTo, erasureId: env.id },
        {
          type: 'schedule',
          deadline: {
            kind: 'erasure-confirmation-due',
            id: env.body.refersTo,
            authority: target,
            dueAt: after(receivedAt, facts.config.dataProtection.confirmCorrectionHours * HOUR),
          },
        },
      ],
    },
  },

  'confirmation-notice': {
    articles: 'Art. 10(4), 10(5)',
    receive: {
      lookups: (env) => ({ provided: [env.body.refersTo] }),
      // The provider's authority is told, with the kind of its message (from what this party provided).
      events: (env, { receivedAt, facts }) => {
        const kind = facts.provided.get(env.body.refersTo)?.kind;
        const article = env.body.action === 'corrected' ? 4 : 5;
        return [
          {
            authority: env.to.authority,
            event: {
              type: 'confirmed',
              at: receivedAt,
              messageId: env.body.refersTo,
              ...(kind === undefined ? {} : { kind }),
              message: `Art. 10(${article}): the recipient confirms the data were ${env.body.action} (${env.body.reason}) at ${env.body.at}`,
            },
          },
        ];
      },
    },
  },
};
