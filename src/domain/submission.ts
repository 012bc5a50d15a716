/**
 * What a case system publishes to `accord.outbox`: one of the submittable kinds with its body, the
 * sending authority, the recipient, and a client-chosen idempotency key.
 */
import { z } from 'zod';
import { AuthorityId, Address, IdempotencyKey, Language } from './common.js';
import { Handling } from './envelope.js';
import { ExportBody, SUBMITTABLE, type SubmittableKind } from './messages.js';
import { RefusalGround } from './categories.js';
import { Text } from './common.js';

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

type Variant<K extends SubmittableKind> = ReturnType<typeof variant<K>>;
/** One variant per kind, each with its own body (a union, not one variant of all bodies). */
type AnyVariant = { [K in SubmittableKind]: Variant<K> }[SubmittableKind];

/** A submission of any kind, discriminated by `kind`: one variant per submittable kind of messages.ts. */
export const Submission = z.discriminatedUnion(
  'kind',
  (Object.keys(SUBMITTABLE) as SubmittableKind[]).map((k) => variant(k)) as [AnyVariant, ...AnyVariant[]],
);
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

/**
 * Art. 9(4): a person's decision on an inbound request held in `accord.review.<authority>`, published
 * to the outbox by that authority (never sent to the peer as such). `accept` delivers the request to
 * the authority's inbox; `accept-with-conditions` delivers it and sends the requester a signed
 * acceptance notice whose conditions bind it; `refuse-partial` delivers it and sends a partial refusal
 * notice naming the parts; `refuse` sends a full refusal notice and delivers nothing (Art. 9(5)).
 */
export const DecisionSubmission = z.strictObject({
  idempotencyKey: IdempotencyKey,
  /** The reviewing authority: the one the request is held for. */
  from: AuthorityId,
  kind: z.literal('decision'),
  body: z.discriminatedUnion('decision', [
    z.strictObject({ inReplyTo: z.uuid(), decision: z.literal('accept') }),
    z.strictObject({
      inReplyTo: z.uuid(),
      decision: z.literal('accept-with-conditions'),
      conditions: z.array(Text(1000)).min(1).max(20),
    }),
    z.strictObject({
      inReplyTo: z.uuid(),
      decision: z.literal('refuse-partial'),
      parts: z.array(Text(500)).min(1).max(50),
      grounds: z.array(RefusalGround).min(1).max(5),
      explanation: Text(2000),
    }),
    z.strictObject({
      inReplyTo: z.uuid(),
      decision: z.literal('refuse'),
      grounds: z.array(RefusalGround).min(1).max(5),
      explanation: Text(2000),
    }),
  ]),
});
export type DecisionSubmission = z.infer<typeof DecisionSubmission>;

/**
 * Art. 10(4), 10(5): the recipient authority confirms that it destroyed the personal data of a message
 * it received — at the provider's deadline (after a `destroy` order), earlier because they are no longer
 * needed, after an erasure, or at the agreement's termination. Kept by this gateway (never sent as
 * such); the provider is told with a signed confirmation notice for an erasure, and for the others when
 * configured.
 */
export const DestructionConfirmedSubmission = z.strictObject({
  idempotencyKey: IdempotencyKey,
  from: AuthorityId,
  kind: z.literal('destruction-confirmed'),
  body: z.strictObject({
    /** The received message whose personal data were destroyed. */
    messageId: z.uuid(),
    reason: z.enum(['deadline', 'no-longer-needed', 'erasure', 'termination']),
    destroyedAt: z.iso.datetime({ offset: true }).optional(),
  }),
});
export type DestructionConfirmedSubmission = z.infer<typeof DestructionConfirmedSubmission>;

/** Art. 10(4): the recipient authority confirms that it applied a correction; the provider is told. */
export const CorrectionConfirmedSubmission = z.strictObject({
  idempotencyKey: IdempotencyKey,
  from: AuthorityId,
  kind: z.literal('correction-confirmed'),
  body: z.strictObject({
    /** The correction message applied. */
    correctionId: z.uuid(),
  }),
});
export type CorrectionConfirmedSubmission = z.infer<typeof CorrectionConfirmedSubmission>;
