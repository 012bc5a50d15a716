/**
 * Art. 10(1), 11(2): use for other purposes, and onward transfer, only with the provider's written
 * consent.
 *
 * - `consent-request` — asks the provider for that consent, about messages it provided; this party's
 *   ledger keeps it until it is answered.
 * - `consent` — the provider's written answer. A granted consent must be valid when it is given (its
 *   `validUntil` still ahead: `policy.consent_expired` otherwise). It is recorded at the receiver, with
 *   its own message id, for each message and destination until `validUntil`: the export gate
 *   (src/policy/onward-transfer.ts) lets an export pass on what it covers; an answer closes its request.
 * - `export` (kept by the gateway, never sent to the peer) — Art. 11(2): what leaves for a third state
 *   or an international organisation, through the export gate only. Passed or blocked, each export is
 *   recorded (Art. 10(6), metadata only).
 */
import type { AuditInput } from '../audit/log.js';
import type { Config } from '../config.js';
import { ExportSubmission } from '../domain/submission.js';
import { AccordError, ERROR_CODES } from '../errors.js';
import { checkOnwardTransfer, exportIdentifierHashes } from '../policy/onward-transfer.js';
import type { KindSpecs, LocalDecision, LocalSpec } from './spec.js';

export const onwardTransfer: KindSpecs<'consent-request' | 'consent'> = {
  'consent-request': {
    articles: 'Art. 10(1), 11(2)',
    send: { sent: (_sub, id, sentAt) => [{ type: 'consent-requested', id, at: sentAt }] },
  },
  consent: {
    articles: 'Art. 10(1), 11(2)',
    send: {
      // A consent that has already run out covers nothing: it is refused rather than sent.
      check: (sub, facts) => {
        if (sub.body.granted && Date.parse(sub.body.validUntil) <= facts.now.getTime()) {
          throw new AccordError('policy.consent_expired', ERROR_CODES['policy.consent_expired'], {
            path: 'body.validUntil',
          });
        }
      },
    },
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
                consentId: env.id,
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
 * onward-transfer.ts); the export record, naming the consents relied on, goes to
 * `accord.export.<destination>` with the outbox ack, and the authority is told `accepted` then `sent`,
 * as for a submission sent to the peer. A blocked export is rejected with its code and field, and
 * recorded (Art. 10(6)) before the rejection commits.
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
    let consents: string[];
    try {
      consents = checkOnwardTransfer(exp, {
        destinations: new Set(config.exportDestinations.map((d) => d.id)),
        sentByUs: (ref) => (facts.sent.get(ref) ?? null) !== null,
        receivedFromPeer: (ref) => facts.seen.get(ref)?.state === 'delivered',
        consentOf: (ref) => facts.gate.consents.get(ref),
        originsOf: (hash) => facts.gate.origins.get(hash) ?? [],
        identifierKey: config.policy.identifierKey,
        now: facts.now,
      });
    } catch (err) {
      if (err instanceof AccordError && err.code.startsWith('policy.')) return blocked(exp, id, config, err);
      throw err;
    }
    const at = facts.now.toISOString();
    const about = { messageId: id, idempotencyKey: exp.idempotencyKey, kind: 'export' };
    return {
      action: 'carry-out',
      effects: [
        {
          type: 'audit',
          record: exportRecord(exp, id, config, {
            reason: `Art. 11(2) exported; consents: ${consents.length}; references: ${exp.body.references.length}`,
          }),
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
      // The same sequence as a submission sent to the peer: accepted, then sent (here: released).
      events: [
        { authority: exp.from, event: { type: 'accepted', at, ...about } },
        { authority: exp.from, event: { type: 'sent', at, ...about } },
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

/**
 * Art. 10(6), 11(2): the record of an export, passed or blocked — who, to where, how many data subjects
 * and documents, never the data itself.
 */
function exportRecord(
  exp: ExportSubmission,
  id: string,
  config: Config,
  extra: Pick<AuditInput, 'reason'> & Partial<AuditInput>,
): AuditInput {
  const documents = exp.body.travelDocuments?.length ?? 0;
  return {
    type: 'export-decision',
    messageId: id,
    kind: 'export',
    subjectCount: exp.body.persons?.length ?? 0,
    ...(documents > 0 ? { categories: [`travel-documents:${documents}`] } : {}),
    fromAuthority: `${config.party}/${exp.from}`,
    toAuthority: `export/${exp.body.destination}`,
    ...extra,
  };
}

/**
 * A blocked onward transfer: rejected with the gate's code and field, and recorded first (Art. 10(6)):
 * the code and field path, and the referenced message the gate stopped at when it was one.
 */
function blocked(exp: ExportSubmission, id: string, config: Config, error: AccordError): LocalDecision {
  const at = error.path === undefined ? '' : ` at ${error.path}`;
  const ref = /^body\.references\.(\d+)$/.exec(error.path ?? '')?.[1];
  const refersTo = ref === undefined ? undefined : exp.body.references[Number(ref)];
  return {
    action: 'reject',
    error,
    effects: [
      {
        type: 'audit',
        record: exportRecord(exp, id, config, {
          reason: `Art. 11(2) blocked: ${error.code}${at}; references: ${exp.body.references.length}`,
          ...(refersTo === undefined ? {} : { refersTo }),
        }),
      },
    ],
  };
}
