/**
 * Art. 10(1), 11(2): use for other purposes, and onward transfer, only with the provider's written
 * consent.
 *
 * - `consent-request` — asks the provider for that consent, about messages it provided; this party's
 *   ledger keeps it until it is answered.
 * - `consent` — the provider's written answer. A granted consent is recorded at the receiver for each
 *   message and destination until `validUntil`: the export gate (src/policy/onward-transfer.ts) lets
 *   an export pass on what it covers; an answer closes its request.
 */
import type { KindSpecs } from './spec.js';

export const onwardTransfer: KindSpecs<'consent-request' | 'consent'> = {
  'consent-request': {
    articles: 'Art. 10(1), 11(2)',
    send: { sent: (_sub, id, sentAt) => [{ type: 'consent-requested', id, at: sentAt }] },
  },
  consent: {
    articles: 'Art. 10(1), 11(2)',
    receive: {
      // What the export gate must know before anything of the referenced messages can leave.
      taken: (env) =>
        env.body.granted
          ? env.body.references.flatMap((reference) =>
              env.body.destinations.map((destination) => ({
                type: 'consent' as const,
                reference,
                destination,
                validUntil: env.body.validUntil,
              })),
            )
          : [],
      delivered: (env) =>
        env.body.inReplyTo === undefined ? [] : [{ type: 'consent-answered', requestId: env.body.inReplyTo }],
    },
  },
};
