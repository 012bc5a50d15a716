/**
 * Art. 9(4): what is kept of a request held for a person's decision. How a request comes to be held
 * (the screening: rules, the Art. 17 suspension, hooks) is src/policy/screening.ts; a held request
 * waits in `accord.review.<authority>` for a `decision`.
 */
export type { Screening } from './screening.js';

/**
 * What the gateway keeps of a request held for review: ids and the request's JWE as received
 * (ciphertext under this gateway's key, opened and verified again when a decision delivers it) —
 * nothing personal in clear (Art. 10(7)).
 */
export interface ReviewRecord {
  id: string;
  jwe: string;
  /** The authority that decides and, on acceptance, receives it. */
  authority: string;
  /** The authority the request was addressed to (differs after an Art. 9(2) referral). */
  addressedTo: string;
  fromAuthority: string;
  receivedAt: string;
  state: 'pending' | 'decided';
  /** The message id of the `decision` submission that decided it. */
  decisionId?: string;
  decision?: string;
  decidedAt?: string;
}

/** How taking a decision on a review turned out. */
export type DecideOutcome =
  /** This decision now holds the review. */
  | 'decided'
  /** This same decision was recorded before (a redelivery after a crash, or the same key sent again). */
  | 'again'
  | 'unknown'
  /** Another decision came first. */
  | 'already-decided';

export interface ReviewStore {
  /** Hold a request for review; idempotent (a retry keeps the first record). */
  hold(rec: Omit<ReviewRecord, 'state'>, ttlS: number): Promise<void>;
  get(id: string): Promise<ReviewRecord | null>;
  /** Atomically record `decisionId` as the decision on review `id`. */
  decide(id: string, decisionId: string, decision: string, at: string): Promise<DecideOutcome>;
  /** The decision `decisionId` has been carried out (its delivery and notices committed). */
  markDone(id: string, decisionId: string): Promise<void>;
  isDone(id: string, decisionId: string): Promise<boolean>;
  /** Ids of the reviews still waiting for a decision whose record has not expired, oldest first. */
  pending(): Promise<string[]>;
}
