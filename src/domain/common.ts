/** Small shared value types of the domain: parties, authorities, addresses, bounded text. */
import { z } from 'zod';

/** The two Contracting Parties (ISO 3166-1 alpha-2). */
export const PartyId = z.enum(['CZ', 'KZ']).describe('Contracting Party');
export type PartyId = z.infer<typeof PartyId>;

/**
 * A competent authority's id (Art. 13). It becomes part of queue names
 * (`accord.inbox.<authorityId>`), so it is restricted to lower-case letters, digits and dashes.
 */
export const AuthorityId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lower-case letters, digits and dashes, 2 to 63 characters')
  .describe('competent authority id');

/** A party and one of its authorities: who sends or receives a message. */
export const Address = z.strictObject({ party: PartyId, authority: AuthorityId });
export type Address = z.infer<typeof Address>;

/** ISO 639-1 language code; Art. 9(6): English unless agreed otherwise. */
export const Language = z.string().regex(/^[a-z]{2}$/, 'ISO 639-1 code');

/** Bounded free text. */
export const Text = (max: number) => z.string().min(1).max(max);

/** An ISO 8601 timestamp with offset, e.g. 2026-11-28T10:00:00Z. */
export const Timestamp = z.iso.datetime({ offset: true });

/** The client's idempotency key: the same key from the same authority creates one message. */
export const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9._:/-]{1,128}$/, 'letters, digits and ._:/- , 1 to 128 characters');
