/**
 * The notices between the Contracting Parties about the agreement itself, sent only by the authorities
 * in `treaty.notifyingAuthorities`:
 *
 * - `directory-update` — Art. 13(1): "The Contracting Parties shall notify each other … of the competent
 *   authorities". Kept at the receiver until an operator approves it (`accord directory approve`).
 * - `suspension-notice` — Art. 17: a suspension (or its revocation), effective fifteen days after the
 *   other party received it: the receiver counts from its intake, the sender from the time in the
 *   peer's signed receipt (src/policy/suspension.ts).
 * - `termination-notice` — Art. 18(2): the agreement ends six months after the other party received
 *   the notice; both gateways then order the destruction of all personal data received
 *   (src/policy/termination.ts).
 */
import { effectiveFrom } from '../policy/suspension.js';
import { terminationEffective } from '../policy/termination.js';
import type { KindSpecs } from './spec.js';

export const treatyNotices: KindSpecs<'directory-update' | 'suspension-notice' | 'termination-notice'> = {
  'directory-update': {
    articles: 'Art. 13',
    send: { notifying: true },
    receive: {
      // Art. 13: kept until an operator approves it; until then the directory in force holds.
      taken: (env, { receivedAt }) => [
        {
          type: 'directory-pending',
          update: {
            id: env.id,
            party: env.from.party,
            fromAuthority: env.from.authority,
            receivedAt,
            authorities: env.body.authorities,
            reason: env.body.reason,
          },
        },
        {
          type: 'log',
          level: 'warn',
          fields: {
            messageId: env.id,
            code: 'directory.update_pending',
            authorities: env.body.authorities.length,
          },
          message:
            'the peer notified a new directory (Art. 13); it applies once approved: accord directory approve',
        },
      ],
    },
  },

  'suspension-notice': {
    articles: 'Art. 17',
    send: {
      notifying: true,
      // Recorded before it is published: its receipt, which says when it takes effect, must find it.
      prepare: (sub, id, facts) => [
        {
          type: 'suspension',
          entry: { id, party: facts.config.party, action: sub.body.action, scope: sub.body.scope },
        },
      ],
    },
    receive: {
      // Effective fifteen days after this intake; the receipt tells the peer the same time.
      taken: (env, { receivedAt }) => [
        {
          type: 'suspension',
          entry: {
            id: env.id,
            party: env.from.party,
            action: env.body.action,
            scope: env.body.scope,
            effectiveAt: effectiveFrom(receivedAt),
          },
        },
      ],
    },
    receipted: {
      lookups: (id) => ({ suspension: id }),
      effects: (_sent, receivedAt, { suspension }) =>
        suspension === undefined
          ? []
          : [{ type: 'suspension', entry: { ...suspension, effectiveAt: effectiveFrom(receivedAt) } }],
    },
  },

  'termination-notice': {
    articles: 'Art. 18',
    send: { notifying: true, provided: (sub) => ({ note: sub.body.diplomaticNote }) },
    receive: {
      // The peer terminates: the agreement ends six months after this intake.
      delivered: (env, { target, receivedAt }) => [
        {
          type: 'terminate',
          termination: {
            noticeId: env.id,
            party: env.from.party,
            diplomaticNote: env.body.diplomaticNote,
            receivedAt,
            effectiveAt: terminationEffective(receivedAt),
          },
          authority: target,
        },
      ],
    },
    receipted: {
      lookups: (id) => ({ provided: [id] }),
      // Our notice was received: the agreement ends six months later, on both sides.
      effects: (sent, receivedAt, facts) => [
        {
          type: 'terminate',
          termination: {
            noticeId: sent.id,
            party: facts.config.party,
            diplomaticNote: facts.provided.get(sent.id)?.note ?? '',
            receivedAt,
            effectiveAt: terminationEffective(receivedAt),
          },
          authority: sent.from,
        },
      ],
    },
  },
};
