/**
 * What a case system publishes to `accord.outbox`: one of the submittable kinds with its body, the
 * sending authority, the recipient, and a client-chosen idempotency key.
 */
import { z } from 'zod';
import { AuthorityId, Address, IdempotencyKey, Language } from './common.js';
import { Handling } from './envelope.js';
import { ExportBody, SUBMITTABLE, type SubmittableKind } from './messages.js';

const head = {
  idempotencyKey: IdempotencyKey,
  /** The sending authority, one of this party's directory. */
  from: AuthorityId,
  to: Address,
  priority: z.enum(['normal', 'urgent']).default('normal'),
  language: Language.default('en'),
  handling: Handling.optional(),
  /** How long the message stays valid, in seconds; the config's default when absent. */
  ttlS: z
    .int()
    .min(60)
    .max(366 * 24 * 3600)
    .optional(),
};

function variant<K extends SubmittableKind>(kind: K) {
  return z.strictObject({ ...head, kind: z.literal(kind), body: SUBMITTABLE[kind] });
}

/** A submission of any kind, discriminated by `kind`. */
export const Submission = z.discriminatedUnion('kind', [
  variant('request'),
  variant('reply'),
  variant('travel-document'),
  variant('person-search'),
  variant('further-info-request'),
  variant('spontaneous'),
  variant('refusal'),
  variant('consent-request'),
  variant('consent'),
  variant('suspension-notice'),
]);
export type Submission = z.infer<typeof Submission>;
export type SubmissionInput = z.input<typeof Submission>;

/**
 * Art. 11(2): an export to a third state or international organisation, published to the outbox like
 * any submission but never sent to the peer: it leaves through the export gate only.
 */
export const ExportSubmission = z.strictObject({
  idempotencyKey: IdempotencyKey,
  from: AuthorityId,
  kind: z.literal('export'),
  body: ExportBody,
});
export type ExportSubmission = z.infer<typeof ExportSubmission>;

/**
 * Art. 9(1): "In urgent cases, a request may also be made orally with an immediate subsequent written
 * confirmation." The record of an oral request, kept by the requesting gateway (never sent): it starts
 * the deadline for the written request that must confirm it (`confirmsOral` in a request).
 */
export const OralRequestRecord = z.strictObject({
  idempotencyKey: IdempotencyKey,
  from: AuthorityId,
  kind: z.literal('oral-request'),
  body: z.strictObject({
    /** Who was asked, by telephone or in person. */
    to: Address,
    madeAt: z.iso.datetime({ offset: true }),
    summary: z.string().min(1).max(500),
  }),
});
export type OralRequestRecord = z.infer<typeof OralRequestRecord>;
