/**
 * Whether a dead letter can be replayed, and where to, decided by its origin and code alone (pure; the
 * table in docs/operator.md, "Dead letters: what replays"). A replay makes sense only where the cause
 * can have gone away while the letter waited — a directory approved, a key imported, the clock fixed,
 * the peer link back — and the letter carries what is needed to try again:
 *
 * - from the ingress, its sealed message: republished to this gateway's ingress, opened and verified
 *   from scratch; the receiver's de-duplication keeps a message from being delivered twice;
 * - from the outbox, only a sent message that got no receipt (`delivery.no_receipt`): a resend request
 *   goes to this gateway's outbox, which sends the stored sealed message to the peer again — the same
 *   bytes, which the peer de-duplicates. Other outbox letters keep only the submission's hash: the case
 *   system submits again.
 *
 * Everything else fails the same way on a replay — bytes that are not a message, a schema or signature
 * that does not hold, a rule of the agreement the message breaks — and is refused with the reason.
 */

/** Where a replayable letter goes: this gateway's `accord.outbox` or `accord.ingress`. */
export type ReplayTarget = 'outbox' | 'ingress';

/** The verdict on one letter: where its replay goes, or why there is none. */
export type ReplayVerdict = { to: ReplayTarget } | { refused: string };

/** What the verdict reads of a letter. */
export interface ReplayFacts {
  source: 'outbox' | 'ingress';
  code: string;
  messageId?: string | undefined;
  hasJwe: boolean;
  /** When a late receipt resolved it (a `delivery.no_receipt` letter whose message was delivered). */
  resolvedAt?: string | undefined;
}

/** Ingress codes whose cause can go away while the letter waits: why a replay may now pass. */
const INGRESS_REPLAYABLE: Readonly<Record<string, string>> = {
  'auth.unknown_authority': 'once the peer’s directory update naming the sender is approved',
  'auth.unknown_recipient': 'once this party’s directory lists the recipient',
  'crypto.unknown_kid': 'once the peer’s key is imported or approved',
  'keys.announcement_not_accepted': 'once the key is pinned by hand or announcements are accepted',
  'envelope.not_yet_valid': 'once the clocks agree again',
  'policy.original_missing': 'once the original it refers to has arrived',
  'delivery.poison': 'once the failure it hit (in the log) is fixed',
  'internal.error': 'once the failure it hit (in the log) is fixed',
};

/** Why a letter of a code family from the ingress fails the same way on a replay. */
const INGRESS_REFUSED: Readonly<Record<string, string>> = {
  input: 'its bytes are not a message this gateway takes (not JSON or too large)',
  schema: 'the peer’s message does not match the schema; the peer must send it again, fixed',
  auth: 'the parties the message names are wrong; the peer must send it again, fixed',
  crypto: 'the sealed message fails its cryptographic checks, which a replay cannot change',
  envelope: 'the envelope fails its checks for good (expired, misaddressed, or delivered before)',
  receipt: 'the receipt matches nothing this gateway sent as it is, and never will',
  policy: 'the message breaks a rule of the agreement; the peer must send a corrected one',
  keys: 'the key announcement conflicts with the keys in use',
  treaty: 'the agreement’s state refuses it',
};

/** Whether `letter` can be replayed, and where to (pure). */
export function replayVerdict(letter: ReplayFacts): ReplayVerdict {
  if (letter.resolvedAt !== undefined) {
    return {
      refused: `resolved: a late receipt delivered the message at ${letter.resolvedAt}; drop the letter`,
    };
  }
  if (letter.source === 'outbox') {
    if (letter.code !== 'delivery.no_receipt') {
      return {
        refused:
          'an outbox letter keeps only the submission’s hash; the case system submits it again (same idempotencyKey)',
      };
    }
    if (letter.messageId === undefined) return { refused: 'the letter names no message to resend' };
    return { to: 'outbox' };
  }
  if (!letter.hasJwe) return { refused: 'the letter carries no sealed message to replay' };
  if (INGRESS_REPLAYABLE[letter.code] !== undefined) return { to: 'ingress' };
  const family = letter.code.slice(0, letter.code.indexOf('.'));
  return { refused: INGRESS_REFUSED[family] ?? `no replay is defined for ${letter.code}` };
}

/** When a replay of an ingress letter with `code` may pass (for the operator's table), if ever. */
export function replayableWhen(code: string): string | undefined {
  return INGRESS_REPLAYABLE[code];
}
