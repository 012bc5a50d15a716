/**
 * What the gateway writes to the queues a case system or an admin reads, as schemas: the inbox (and
 * review) delivery, the export record and the dead letter. The pipelines build these objects; the
 * schemas document them (docs/asyncapi.yaml) and the tests check real deliveries against them.
 */
import { z } from 'zod';
import { AuthorityId, Address, Text, Timestamp } from './common.js';
import { Envelope, Handling } from './envelope.js';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** How the gateway verified a message before delivering it. */
export const Verification = z.strictObject({
  /** SHA-256 (hex) of the JWE as received; what the signed receipt acknowledges. */
  jweSha256: Sha256,
  encryptionKid: z.string().max(200),
  signatureKid: z.string().max(200),
  signatureAlg: z.string().max(32),
  keyEncryptionAlg: z.string().max(32),
  contentEncryptionAlg: z.string().max(32),
  receivedAt: Timestamp,
  /** The party whose gateway verified it. */
  verifiedBy: z.enum(['CZ', 'KZ']),
  /**
   * A message that came in a transfer (wire version 2, docs/protocol.md "Transfers"): its evidence,
   * which verifies on its own. `jweSha256` is then the message's leaf hash: SHA-256 of 0x00 and the
   * envelope's bytes as signed.
   */
  transfer: z
    .strictObject({
      transfer: z.uuid(),
      /** The compact JWS over the transfer's statement (its id, count and Merkle root). */
      statement: z.string().max(4096),
      root: Sha256,
      index: z.int().min(0),
      count: z.int().min(1),
      /** The audit path from the leaf to the root (RFC 6962). */
      path: z.array(Sha256).max(16),
    })
    .optional(),
});

/** A message in `accord.inbox.<authorityId>` or, held for a person, `accord.review.<authorityId>`. */
export const InboxDeliverySchema = z.strictObject({
  envelope: Envelope,
  /** Art. 9(2): the authority the request was addressed to, when it was referred to this one. */
  referredFrom: AuthorityId.optional(),
  /** The handling conditions, shown apart: purposes, conditions, Art. 10(2) flags and necessity. */
  handling: Handling,
  verification: Verification,
  /** Art. 9(4), in `accord.review.<authorityId>` only: why the request is held, and the decisions open. */
  review: z
    .strictObject({
      reasons: z.array(z.strictObject({ by: Text(200), why: Text(2000) })).min(1),
      decisions: z.array(z.enum(['accept', 'accept-with-conditions', 'refuse-partial', 'refuse'])),
    })
    .optional(),
  /** Art. 9(4): the decision a request held for review was delivered under. */
  decision: z
    .strictObject({
      decision: z.enum(['accept', 'accept-with-conditions', 'refuse-partial']),
      decisionId: z.uuid(),
      decidedBy: AuthorityId,
      conditions: z.array(Text(1000)).optional(),
      refusedParts: z.array(Text(500)).optional(),
    })
    .optional(),
});

/**
 * Art. 10(5), 18: an order in `accord.inbox.<authorityId>` to destroy the personal data of a message the
 * authority received — at the provider's deadline, or because the agreement terminated. The authority
 * answers with a `destruction-confirmed` submission by `confirmBy`; after that the administrators are
 * alerted.
 */
export const DestroyOrderSchema = z.strictObject({
  order: z.literal('destroy'),
  /** The received message whose personal data must be destroyed. */
  messageId: z.uuid(),
  kind: z.string().max(64),
  /** The providing authority. */
  from: Address,
  reason: z.enum(['deadline', 'termination']),
  /** The deadline the provider set (Art. 10(5)), or the termination's effective date (Art. 18). */
  dueAt: Timestamp,
  confirmBy: Timestamp,
  /** What to confirm with: a `destruction-confirmed` submission naming `messageId`. */
  confirmWith: z.literal('destruction-confirmed'),
});
export type DestroyOrder = z.infer<typeof DestroyOrderSchema>;

/** A record in `accord.export.<destination>` (Art. 11(2)). */
export const ExportRecordSchema = z.strictObject({
  exportId: z.uuid(),
  at: Timestamp,
  from: Address,
  destination: z.string().max(63),
  /**
   * The provider's written consents relied on (Art. 11(2)): the ids of its `consent` messages; for a
   * consent recorded before the gateway kept their ids, the id of the message it covers.
   */
  consents: z.array(z.string().max(200)),
  content: z.record(z.string(), z.unknown()),
});

/** A record in `accord.dlq`: what could not be processed, why, and nothing personal. */
export const DeadLetterSchema = z.strictObject({
  /**
   * The letter's own reference, a random UUID given when it is made: two letters about the same input
   * (the same failure parked twice) are still told apart. Letters made before it existed have none.
   */
  letterId: z.uuid().optional(),
  at: Timestamp,
  source: z.enum(['outbox', 'ingress']),
  /** A stable code from docs/errors.md. */
  code: z.string().max(64),
  message: z.string().max(2000),
  path: z.string().max(512).optional(),
  messageId: z.uuid().optional(),
  kid: z.string().max(200).optional(),
  /** SHA-256 (hex) of the input as received, to find it in broker or client logs. */
  inputSha256: Sha256,
  inputBytes: z.int().min(0),
  /** For ingress failures and sent messages that got no receipt: the sealed message (ciphertext). */
  jwe: z.string().optional(),
});
/** A record in `accord.dlq`, parsed. */
export type DeadLetterRecord = z.infer<typeof DeadLetterSchema>;
