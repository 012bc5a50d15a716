/**
 * The envelope: what the sending gateway signs (JWS) and then encrypts (JWE) for the peer gateway.
 * It names sender and recipient party+authority so that a signed message re-encrypted to someone else
 * (surreptitious forwarding) is recognised by the receiver, and it binds the handling conditions
 * (purposes, conditions) to the content so that they cannot be stripped on the way.
 */
import { z } from 'zod';
import { Purpose, SensitiveCategory } from './categories.js';
import { Address, Language, Text, Timestamp } from './common.js';
import { GATEWAY_ONLY, SUBMITTABLE } from './messages.js';

/** Art. 10(2): why a sensitive category of data is necessary. */
export const Necessity = z.strictObject({ category: SensitiveCategory, statement: Text(2000) });

/**
 * Conditions that bind the recipient: Art. 10(1) purposes, Art. 9(4) conditions, and the Art. 10(2)
 * sensitive categories the message carries with the necessity statement for each. In a submission
 * `sensitive` may be left out (the gateway derives it from the data); in the signed envelope it is
 * always there.
 */
export const Handling = z.strictObject({
  purposes: z.array(Purpose).max(8),
  conditions: z.array(Text(1000)).max(20),
  sensitive: z.array(SensitiveCategory).max(8).optional(),
  necessity: z.array(Necessity).max(8).optional(),
  /**
   * Art. 10(5): when the recipient must destroy the personal data, set by the provider. Required in
   * the envelope of every message that carries personal data; in a submission the gateway fills in the
   * configured default when it is absent (and says so in the `sent` event).
   */
  destroyBy: Timestamp.optional(),
});
export type Handling = z.infer<typeof Handling>;

/** The envelope format version. */
export const ENVELOPE_VERSION = 1;

/**
 * Art. 9(1): the AMQP priority that carries `priority: 'urgent'` on every queue it passes, from the
 * outbox to the peer's ingress (the urgent lane); normal traffic has none.
 */
export const URGENT_PRIORITY = 9;

const head = {
  v: z.literal(ENVELOPE_VERSION),
  id: z.uuid(),
  from: Address,
  to: Address,
  createdAt: Timestamp,
  expiresAt: Timestamp,
  priority: z.enum(['normal', 'urgent']),
  language: Language,
  handling: Handling,
};

const kinds = { ...SUBMITTABLE, ...GATEWAY_ONLY };
type Kinds = typeof kinds;

function variant<K extends keyof Kinds>(kind: K) {
  return z.strictObject({ ...head, kind: z.literal(kind), body: kinds[kind] });
}

type Variant<K extends keyof Kinds> = ReturnType<typeof variant<K>>;
/** One variant per kind, each with its own body (a union, not one variant of all bodies). */
type AnyVariant = { [K in keyof Kinds]: Variant<K> }[keyof Kinds];

/**
 * A signed envelope of any kind, discriminated by `kind`: one variant per kind of messages.ts, built
 * from that list so that no kind is written here again.
 */
export const Envelope = z.discriminatedUnion(
  'kind',
  (Object.keys(kinds) as (keyof Kinds)[]).map((k) => variant(k)) as [AnyVariant, ...AnyVariant[]],
);
export type Envelope = z.infer<typeof Envelope>;
export type EnvelopeOf<K extends Envelope['kind']> = Extract<Envelope, { kind: K }>;
