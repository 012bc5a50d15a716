/** Message ids. */
import { createHash } from 'node:crypto';

/**
 * The message id of a submission, derived from the sending party, authority and idempotency key, so
 * that a submission processed twice (a redelivery, or the same key submitted again) is the same
 * message everywhere: the sender finds its record, the receiver de-duplicates. Formatted as an
 * RFC 9562 version-8 (custom) UUID.
 */
export function messageIdFor(party: string, authority: string, idempotencyKey: string): string {
  const h = createHash('sha256').update(`accord/v1\n${party}\n${authority}\n${idempotencyKey}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
