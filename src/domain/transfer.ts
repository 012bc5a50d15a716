/**
 * Wire version 2: a transfer carries several envelopes under one signature (docs/protocol.md,
 * "Transfers"). The JWE's plaintext is {@link TransferBody}: the members — each an envelope's JSON
 * text, exactly as signed — and a JWS over {@link TransferStatement}, which names the Merkle root of
 * the members' bytes (src/crypto/merkle.ts). Each member keeps evidence that verifies on its own: the
 * signed statement, its index and its audit path ({@link MemberEvidence}).
 */
import { z } from 'zod';

/** The wire versions this gateway reads; it sends 2 only to a peer that reads it (src/pipeline/wire.ts). */
export const WIRE_VERSIONS = [1, 2] as const;
export type WireVersion = (typeof WIRE_VERSIONS)[number];

/** Members of one transfer at most: a bound on the work one copy can ask for. */
export const MAX_TRANSFER_MEMBERS = 256;

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** What the transfer's one signature covers. */
export const TransferStatement = z.strictObject({
  v: z.literal(2),
  /** The transfer's own id (a fresh UUID per transfer; a resend sends the same transfer). */
  transfer: z.uuid(),
  createdAt: z.iso.datetime(),
  count: z.int().min(1).max(MAX_TRANSFER_MEMBERS),
  /** The Merkle root of the members' UTF-8 bytes, lower-case hex (RFC 6962 hashing). */
  root: Hex64,
});
export type TransferStatement = z.output<typeof TransferStatement>;

/** The JWE plaintext of a transfer. */
export const TransferBody = z.strictObject({
  v: z.literal(2),
  /** The compact JWS (typ `accord-transfer-root+jws`) over the statement. */
  statement: z.string().min(1).max(4096),
  /** Each member is one envelope's JSON text, as its leaf was hashed. */
  members: z.array(z.string().min(2)).min(1).max(MAX_TRANSFER_MEMBERS),
});
export type TransferBody = z.output<typeof TransferBody>;

/** What a member of a transfer keeps as proof of origin, shown with its delivery. */
export interface MemberEvidence {
  transfer: string;
  /** The signed statement (compact JWS): verify it with the sender's key named by its `kid`. */
  statement: string;
  root: string;
  index: number;
  count: number;
  /** The audit path, leaf to root, lower-case hex. */
  path: string[];
}
