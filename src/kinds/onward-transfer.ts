/**
 * Art. 10(1), 11(2): use for other purposes, and onward transfer, only with the provider's written
 * consent.
 *
 * - `consent-request` — asks the provider for that consent, about messages it provided; this party's
 *   ledger keeps it until it is answered.
 * - `consent` — the provider's written answer. A granted consent is recorded at the receiver for each
 *   message and destination until `validUntil`: the export gate (src/policy/onward-transfer.ts) lets
 *   an export pass on what it covers; an answer closes its request.
 * - `export` (kept by the gateway, never sent to the peer) — Art. 11(2): what leaves for a third state
 *   or an international organisation, through the export gate only.
 */
import { ExportSubmission } from '../domain/submission.js';
import { checkOnwardTransfer, exportIdentifierHashes } from '../policy/onward-transfer.js';
import type { KindSpecs, LocalSpec } from './spec.js';

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

/**
 * Art. 11(2): the export gate. Information received from the peer leaves for a third state or an
 * international organisation only with the provider's unexpired written consent (policy/
 * onward-transfer.ts); the export record goes to `accord.export.<destination>` with the outbox ack.
 */
export const exportSpec: LocalSpec<ExportSubmission> = {
  articles: 'Art. 11(2)',
  schema: ExportSubmission,
  lookups: (exp, _id, config) => ({
    sent: exp.body.references,
    seen: exp.body.references,
    gate: {
      destination: exp.body.destination,
      references: exp.body.references,
      identifierHashes: exportIdentifierHashes(exp, config.policy.identifierKey),
    },
  }),
  decide: (exp, id, facts) => {
    const { config } = facts;
    const consents = checkOnwardTransfer(exp, {
      destinations: new Set(config.exportDestinations.map((d) => d.id)),
      sentByUs: (ref) => (facts.sent.get(ref) ?? null) !== null,
      receivedFromPeer: (ref) => facts.seen.get(ref)?.state === 'delivered',
      consentUntil: (ref) => facts.gate.consentUntil.get(ref),
      originsOf: (hash) => facts.gate.origins.get(hash) ?? [],
      identifierKey: config.policy.identifierKey,
      now: facts.now,
    });
    const at = facts.now.toISOString();
    return {
      action: 'carry-out',
      effects: [
        {
          type: 'audit',
          record: {
            type: 'export-decision',
            messageId: id,
            kind: 'export',
            subjectCount: exp.body.persons?.length ?? 0,
            fromAuthority: `${config.party}/${exp.from}`,
            toAuthority: `export/${exp.body.destination}`,
            reason: `Art. 11(2) consents: ${consents.length}; references: ${exp.body.references.length}`,
          },
        },
      ],
      deliveries: [
        {
          to: 'export',
          destination: exp.body.destination,
          messageId: id,
          record: {
            exportId: id,
            at,
            from: { party: config.party, authority: exp.from },
            destination: exp.body.destination,
            consents,
            content: exp.body,
          },
        },
      ],
      events: [
        {
          authority: exp.from,
          event: { type: 'sent', at, messageId: id, idempotencyKey: exp.idempotencyKey, kind: 'export' },
        },
      ],
      after: [
        { type: 'count', direction: 'out', kind: 'export', outcome: 'exported' },
        {
          type: 'log',
          level: 'info',
          fields: { messageId: id, destination: exp.body.destination, consents: consents.length },
          message: 'exported',
        },
      ],
    };
  },
};
