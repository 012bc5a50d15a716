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
 * - `destruction-confirmed`, `correction-confirmed` (kept by the gateway, never sent as such) — the
 *   recipient authority's confirmation that it destroyed or corrected data; each sends the provider a
 *   `confirmation-notice`.
 */
import { CorrectionConfirmedSubmission, DestructionConfirmedSubmission } from '../domain/submission.js';
import { AccordError, ERROR_CODES } from '../errors.js';
import type { Facts, KindSpecs, LocalSpec, SubmissionOf } from './spec.js';

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

/**
 * Art. 10(4): a correction or an erasure refers to a message the sender provided to the addressee (one
 * send spec for both kinds: its functions take either, so it serves as the spec of each).
 */
const refersToProvided = {
  lookups: (sub: SubmissionOf<'correction' | 'erasure'>) => ({ provided: [sub.body.refersTo] }),
  check: (sub: SubmissionOf<'correction' | 'erasure'>, facts: Facts) =>
    checkProvided(sub, facts, sub.body.refersTo, 'body.refersTo'),
};

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
    send: refersToProvided,
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
    send: refersToProvided,
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

/**
 * Art. 10(4), 10(5), 18: the authority destroyed the personal data of a message it received — at the
 * provider's deadline, earlier, after an erasure, or at the termination. Recorded (Art. 10(6)) before
 * the ack; the destroy order's and the erasure's deadlines are met; the provider gets a signed
 * confirmation for an erasure, and for the rest when `dataProtection.destruction.notifyProvider`.
 */
export const destructionConfirmedSpec: LocalSpec<DestructionConfirmedSubmission> = {
  articles: 'Art. 10(4), 10(5), 18',
  schema: DestructionConfirmedSubmission,
  lookups: (conf) => ({ received: [conf.body.messageId] }),
  decide: (conf, id, facts, redelivered) => {
    const rec = facts.received.get(conf.body.messageId);
    if (!rec || rec.authority !== conf.from || !rec.personal) {
      throw new AccordError('policy.not_received', ERROR_CODES['policy.not_received'], {
        path: 'body.messageId',
      });
    }
    const reason = conf.body.reason;
    if (reason === 'erasure' && rec.erasureId === undefined) {
      throw new AccordError('policy.not_received', 'Art. 10(4): no erasure was received for this message', {
        path: 'body.reason',
      });
    }
    if (rec.state === 'destroyed' && !redelivered) return { action: 'duplicate' };
    const { config } = facts;
    const at = facts.now.toISOString();
    const destroyedAt = conf.body.destroyedAt ?? at;
    return {
      action: 'carry-out',
      effects: [
        {
          type: 'audit',
          record: {
            type: 'destruction',
            messageId: rec.id,
            kind: rec.kind,
            fromAuthority: `${config.peer.party}/${rec.fromAuthority}`,
            toAuthority: `${config.party}/${rec.authority}`,
            decidedBy: conf.from,
            reason: `Art. 10(5) ${reason}`,
            ...(rec.destroyBy === undefined ? {} : { destroyBy: rec.destroyBy }),
            ...(rec.erasureId === undefined ? {} : { refersTo: rec.erasureId }),
          },
        },
        ...(['destruction-due', 'destruction-confirmation-due', 'erasure-confirmation-due'] as const).map(
          (kind) => ({ type: 'satisfy' as const, kind, id: rec.id }),
        ),
        ...(reason === 'erasure' || config.dataProtection.destruction.notifyProvider
          ? [
              {
                type: 'confirmation' as const,
                from: rec.authority,
                to: rec.fromAuthority,
                body: { refersTo: rec.id, action: 'destroyed' as const, reason, at: destroyedAt },
              },
            ]
          : []),
        { type: 'destroyed', id: rec.id, at: destroyedAt, reason },
      ],
      deliveries: [],
      events: [
        {
          authority: conf.from,
          event: {
            type: 'accepted',
            at,
            messageId: id,
            idempotencyKey: conf.idempotencyKey,
            kind: 'destruction-confirmed',
            message: `Art. 10(5): the destruction of message ${rec.id} (${reason}) is recorded`,
          },
        },
      ],
      after: [
        { type: 'count', direction: 'in', kind: rec.kind, outcome: `destroyed-${reason}` },
        {
          type: 'log',
          level: 'info',
          fields: { messageId: rec.id, reason },
          message: 'destruction recorded',
        },
      ],
    };
  },
};

/** Art. 10(4): the authority applied a correction; recorded, and the provider gets a signed confirmation. */
export const correctionConfirmedSpec: LocalSpec<CorrectionConfirmedSubmission> = {
  articles: 'Art. 10(4)',
  schema: CorrectionConfirmedSubmission,
  lookups: (conf) => ({
    received: [conf.body.correctionId],
    met: [{ kind: 'correction-confirmation-due', id: conf.body.correctionId }],
  }),
  decide: (conf, id, facts, redelivered) => {
    const rec = facts.received.get(conf.body.correctionId);
    if (!rec || rec.kind !== 'correction' || rec.authority !== conf.from) {
      throw new AccordError('policy.not_received', ERROR_CODES['policy.not_received'], {
        path: 'body.correctionId',
      });
    }
    if (facts.met.has(`correction-confirmation-due:${rec.id}`) && !redelivered)
      return { action: 'duplicate' };
    const { config } = facts;
    const at = facts.now.toISOString();
    return {
      action: 'carry-out',
      effects: [
        {
          type: 'audit',
          record: {
            type: 'correction',
            messageId: rec.id,
            kind: 'correction',
            fromAuthority: `${config.peer.party}/${rec.fromAuthority}`,
            toAuthority: `${config.party}/${rec.authority}`,
            decidedBy: conf.from,
            reason: 'Art. 10(4) correction applied',
          },
        },
        {
          type: 'confirmation',
          from: rec.authority,
          to: rec.fromAuthority,
          body: { refersTo: rec.id, action: 'corrected', reason: 'correction', at },
        },
        { type: 'satisfy', kind: 'correction-confirmation-due', id: rec.id },
      ],
      deliveries: [],
      events: [
        {
          authority: conf.from,
          event: {
            type: 'accepted',
            at,
            messageId: id,
            idempotencyKey: conf.idempotencyKey,
            kind: 'correction-confirmed',
            message: `Art. 10(4): correction ${rec.id} confirmed to the provider`,
          },
        },
      ],
      after: [{ type: 'log', level: 'info', fields: { messageId: rec.id }, message: 'correction confirmed' }],
    };
  },
};
