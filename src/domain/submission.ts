/**
 * What a case system publishes to `accord.outbox`: one of the submittable kinds with its body, the
 * sending authority, the recipient, and a client-chosen idempotency key.
 */
import { z } from 'zod';
import { AuthorityId, Address, IdempotencyKey, Language } from './common.js';
import { Handling } from './envelope.js';
import { SUBMITTABLE, type SubmittableKind } from './messages.js';

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
  variant('refusal'),
]);
export type Submission = z.infer<typeof Submission>;
export type SubmissionInput = z.input<typeof Submission>;
