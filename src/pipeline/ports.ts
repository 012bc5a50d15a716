/**
 * What the pipelines need from the outside world, as interfaces: the pipelines never import amqplib,
 * ioredis or bullmq, so they can be read (and reasoned about) as the message flow of DESIGN §2 alone.
 */
import type { Logger } from 'pino';
import type { PublishProps } from '../transport/amqp.js';
import type { ProvenanceStore } from '../policy/onward-transfer.js';
import type { SuspensionStore } from '../policy/suspension.js';
import type { ReviewStore } from '../policy/review.js';

export type { PublishProps, Tx, TxOutcome } from '../transport/amqp.js';
export type { AuditInput, AuditRecord, AuditSink } from '../audit/log.js';
import type { AuditSink } from '../audit/log.js';

/** One delivery from a queue, as the pipelines see it. */
export interface Incoming {
  content: Buffer;
  /** The broker delivered it before (a consumer died or requeued it). */
  redelivered: boolean;
  headers: Readonly<Record<string, unknown>>;
  /** AMQP `user_id`, which RabbitMQ has checked against the publishing connection's user. */
  userId?: string;
  /** It came in the urgent lane (Art. 9(1)): its crypto goes first. */
  urgent?: boolean;
}

/** Publishes one message and resolves once the broker confirmed it. */
export interface Publisher {
  publish(queue: string, content: Buffer, props: PublishProps): Promise<void>;
}

/** What the sender remembers about a message it sealed. */
export interface SentRecord {
  /** The sealed message (wire version 1); absent when it went in a transfer (`transfer`). */
  jwe?: string;
  /** The transfer (wire version 2) it went in, stored once for all its members. */
  transfer?: string;
  jweSha256: string;
  from: string;
  idempotencyKey: string;
  kind: string;
  toParty: string;
  toAuthority: string;
  sealedAt: string;
  /**
   * Art. 9(1): sent in the urgent lane, and so resent. Absent in records sealed before this field
   * existed, which are resent as normal traffic.
   */
  urgent?: boolean;
  sentAt?: string;
  deliveredAt?: string;
  failedAt?: string;
  /**
   * Rebuilt from the audit records after Redis lost its data (src/jobs/redis-loss.ts): the message was
   * sent, but its sealed copy, digest and idempotency key are gone (`jwe`, `jweSha256` and
   * `idempotencyKey` are empty). A receipt for it is taken without the digest check; it is not resent.
   */
  rebuilt?: true;
}

/** What the receiver remembers about a message: enough to de-duplicate it and answer a duplicate. */
export interface SeenRecord {
  /** `pending` from just before the delivery commits until it is known to have committed. */
  state: 'pending' | 'delivered';
  /** The sender's token of the physical copy that claimed the delivery (header `x-accord-copy`). */
  copy: string;
  jweSha256: string;
  receiptJwe: string;
  /** The message's kind and authorities, so that a later refusal can be checked against it. */
  kind: string;
  fromAuthority: string;
  toAuthority: string;
  /**
   * How often the claiming copy came back and went on to deliver once the delivered-log was read
   * (absent: never). Each such attempt commits a line of its own, so a wait on the log for one
   * attempt says nothing about the next.
   */
  attempt?: number;
  /**
   * Rebuilt from the audit records after Redis lost its data (src/jobs/redis-loss.ts): the message
   * was taken in, its receipt is gone (`receiptJwe`, `jweSha256` and `copy` are empty), and a copy that
   * comes again gets a receipt sealed anew with status `duplicate`.
   */
  rebuilt?: true;
}

/**
 * Art. 10(4): a message held for its original, as this gateway recorded it — never as the message or
 * its headers say, which the peer sets.
 */
export interface HoldRecord {
  /** When this gateway first held it. */
  since: string;
  /** The sender got its `held` receipt. */
  told: boolean;
}

/** How a claim on delivering a message turned out. */
export type Claim =
  | { outcome: 'claimed' }
  /** The same copy comes back after a crash: its delivery did not commit (else it would be acked). */
  | { outcome: 'same-copy'; record: SeenRecord }
  /** Another copy holds a pending claim: wait until it resolves. */
  | { outcome: 'other-copy'; record: SeenRecord }
  | { outcome: 'delivered'; record: SeenRecord };

/** Durable per-message state (Redis in production). */
export interface MessageState {
  /** Store a freshly sealed message unless one with this id exists; returns the stored record. */
  putSealed(id: string, rec: SentRecord, ttlS: number): Promise<SentRecord>;
  getSent(id: string): Promise<SentRecord | null>;
  /**
   * Claim the sending of message `id`, atomically, before anything of it is sealed: true for the one
   * attempt that takes the claim, false when it was taken before — by another submission of the same
   * idempotency key (at the same time or earlier), or by this delivery's own attempt before a crash.
   * The claim lives as long as the sent record (`ttlS`).
   */
  claimSending(id: string, ttlS: number): Promise<boolean>;
  /**
   * Give the sending claim of `id` back when the message was never sent (its submission was parked as
   * poison), so that the same idempotency key submitted again is sent, not answered `duplicate`.
   * Returns true when a claim was given back; a sent message keeps its claim.
   */
  releaseSending(id: string): Promise<boolean>;
  markSent(id: string, at: string): Promise<void>;
  putTransfer(
    transfer: string,
    jwe: string,
    members: readonly { id: string; rec: SentRecord; ttlS: number }[],
  ): Promise<string[]>;
  sealedCopy(rec: SentRecord): Promise<SealedCopy | null>;
  markSentMany(ids: readonly string[], at: string): Promise<void>;
  forgetTransfer(transfer: string, ids: readonly string[]): Promise<void>;
  /**
   * Returns true only the first time (so `delivered` is reported once). A message marked failed before
   * (a late receipt) has its `delivery.no_receipt` letter in accord.dlq recorded as resolved in the same
   * step: it stays there as evidence, but no longer counts as open.
   */
  markDelivered(id: string, at: string): Promise<boolean>;
  /**
   * A failed message is sent again (`accord dlq replay` of its `delivery.no_receipt` letter): it is no
   * longer failed, so the receipt timer checks it again and a second failure is reported again.
   */
  reopen(id: string): Promise<void>;
  /** Returns true only the first time (so `failed` is reported once). */
  markFailed(id: string, at: string): Promise<boolean>;
  getSeen(id: string): Promise<SeenRecord | null>;
  /** Atomically claim the delivery of `id` for one copy, or learn who holds it. */
  claim(id: string, rec: Omit<SeenRecord, 'state'>, ttlS: number): Promise<Claim>;
  /** The delivery of `id` committed. */
  markSeenDelivered(id: string): Promise<void>;
  /** The claiming copy came back, found the claim still pending, and delivers again (`attempt` + 1). */
  markNewAttempt(id: string): Promise<void>;
  /** Art. 10(4): the hold of `id` this gateway recorded, or null when it never held it. */
  getHold(id: string): Promise<HoldRecord | null>;
  /**
   * Art. 10(4): record that `id` is held since `since`, unless a hold is recorded already; returns the
   * recorded hold. It expires after `ttlS` seconds.
   */
  startHold(id: string, since: string, ttlS: number): Promise<HoldRecord>;
  /** Art. 10(4): the sender of `id` got its `held` receipt. */
  markHoldTold(id: string): Promise<void>;
  /**
   * Throws (`infra.unavailable`, and the gateway rebuilds) when Redis lost its data since the gateway
   * last rebuilt: a record found missing may then be one that was lost, not one that never existed.
   */
  assertIntact(): Promise<void>;
}

/** The sealed bytes stored for a sent message: its own JWE, or the transfer it went in. */
export interface SealedCopy {
  jwe: string;
  /** The transfer's id, when the bytes are a transfer's. */
  transfer?: string;
}

/** Reception awareness: a check, some time after sending, that the receipt came (BullMQ). */
export interface ReceiptTimer {
  /** Schedule the check for a sent message; idempotent per message id. */
  schedule(messageId: string): Promise<void>;
  /**
   * One check for the members of a transfer (they were sent together and are resent together):
   * idempotent per transfer; each member's receipt is still looked for, and a member without one
   * fails on its own after the last resend.
   */
  scheduleTransfer(transfer: string, messageIds: readonly string[]): Promise<void>;
}

/** The dated obligations and acts the gateway tracks (see schedule/deadlines.ts). */
export const DEADLINE_KINDS = [
  /** Art. 9(2): a received request with `replyBy`. */
  'reply-due',
  /** Art. 9(1): an oral request awaiting its written confirmation. */
  'oral-confirmation-due',
  /** Art. 10(5): the provider's destruction deadline; at it a destroy order goes to the authority. */
  'destruction-due',
  /** Art. 10(5): the destroy order's confirmation. */
  'destruction-confirmation-due',
  /** Art. 10(4): a correction's confirmation. */
  'correction-confirmation-due',
  /** Art. 10(4): an erasure's confirmation (the destruction of the referred data). */
  'erasure-confirmation-due',
  /** Art. 10(3): the answer to a usage-report-request. */
  'usage-report-due',
  /** Art. 18: the agreement ends; destroy orders go out for all personal data received. */
  'termination-effective',
] as const;
export type DeadlineKind = (typeof DEADLINE_KINDS)[number];

/** An obligation with a date (see schedule/deadlines.ts). */
export interface Deadline {
  kind: DeadlineKind;
  /** The message (or record) the obligation is about. */
  id: string;
  /** The authority that must act, and is alerted. */
  authority: string;
  dueAt: string;
}

/** Deadlines: schedule an obligation's check, and record that it was met. */
export interface Deadlines {
  schedule(d: Deadline): Promise<void>;
  satisfy(kind: Deadline['kind'], id: string): Promise<void>;
  /** The obligation was met (satisfied) before. */
  isMet(kind: Deadline['kind'], id: string): Promise<boolean>;
}

/** What the receiving gateway keeps about a message from the peer (metadata only; Art. 10(5), 10(6)). */
export interface ReceivedRecord {
  id: string;
  kind: string;
  fromAuthority: string;
  /** The authority that holds it (after a referral, the competent one). */
  authority: string;
  receivedAt: string;
  /** It carries personal data (persons or travel documents), so it must be destroyed by `destroyBy`. */
  personal: boolean;
  destroyBy?: string;
  state: 'held' | 'destroyed';
  destroyedAt?: string;
  destroyReason?: string;
  /** Art. 10(4): the erasure that ordered its destruction, once one arrived. */
  erasureId?: string;
}

/** What the sending gateway keeps about a message it provided (metadata only). */
export interface ProvidedRecord {
  id: string;
  kind: string;
  from: string;
  toAuthority: string;
  sentAt: string;
  destroyBy?: string;
  /** Art. 18: the diplomatic note a termination notice mirrors. */
  note?: string;
}

/** Art. 18: a termination notified by either party, and when the agreement ends. */
export interface Termination {
  noticeId: string;
  /** The terminating party. */
  party: string;
  diplomaticNote: string;
  /** When the other party's gateway received the notice. */
  receivedAt: string;
  effectiveAt: string;
}

/** The long-lived ledger of messages received and provided (Redis in production). */
export interface Ledger {
  /** Remember a received message; idempotent (the first record stands). */
  received(rec: Omit<ReceivedRecord, 'state'>): Promise<void>;
  getReceived(id: string): Promise<ReceivedRecord | null>;
  /** Record the destruction of a received message's personal data; `again` when recorded before. */
  markDestroyed(id: string, at: string, reason: string): Promise<'destroyed' | 'again' | 'unknown'>;
  noteOnReceived(id: string, field: 'erasureId', value: string): Promise<void>;
  /** Ids of received messages whose personal data are still held. */
  personalDataHeld(): Promise<string[]>;
  provided(rec: ProvidedRecord): Promise<void>;
  /** Art. 10(1), 11(2): a consent request sent, and its answer (`inReplyTo`) received. */
  consentRequested(id: string, at: string): Promise<void>;
  consentAnswered(requestId: string): Promise<void>;
  getProvided(id: string): Promise<ProvidedRecord | null>;
  putTermination(t: Termination): Promise<void>;
  termination(): Promise<Termination | null>;
}

/** What the pipelines hand to the key lifecycle (src/keys/exchange.ts). */
export interface KeyExchange {
  /**
   * Apply a key announcement or revocation the peer sent (already opened and verified); `signedBy` is
   * the kid of the peer key that signed it (an announced key's trust rests on it).
   */
  fromPeer(
    env: { id: string; kind: 'key-announcement' | 'key-revocation'; body: unknown },
    signedBy?: string,
  ): Promise<string>;
  /** The peer's receipt for one of our announcements came: activate the announced key. */
  receipted(messageId: string): Promise<void>;
}

/** The internal delivered-log queue, as far as the receiver needs to know it. */
export interface DeliveredLog {
  /**
   * True once every line committed before `waiter` (a message id and its claim's attempt) first asked
   * has been applied to the claims, by whichever replica applies them. Answers false at once while
   * that is not known yet: the caller looks again later (transport/delivered-log.ts).
   */
  isSettled(waiter: string): Promise<boolean>;
}

/** Everything a pipeline stage gets from the composition root. */
export interface PipelineDeps {
  local: Publisher;
  peer: Publisher;
  state: MessageState;
  timers: ReceiptTimer;
  deliveredLog: DeliveredLog;
  provenance: ProvenanceStore;
  deadlines: Deadlines;
  suspensions: SuspensionStore;
  /** Art. 9(4): inbound requests held for a person's decision. */
  reviews: ReviewStore;
  /** Art. 13: in-band directory updates from the peer, until an operator approves them. */
  directory: DirectoryStore;
  /** Art. 10(5), 10(4), 10(3), 18: what was received and provided, beyond de-duplication. */
  ledger: Ledger;
  /** Art. 10(6): the records, written (fsync'ed) before the message that caused them is acked. */
  audit: AuditSink;
  /** In-band key announcements and revocations. */
  keyExchange: KeyExchange;
  /** Counters for the admin server's /metrics. */
  metrics: Metrics;
  /** Notes that the peer gateway was heard from (src/jobs/peer-heartbeat.ts). */
  liveness: PeerLiveness;
  log: Logger;
  now: () => Date;
}

/** Whether the peer gateway is alive, judged by what arrives from it. */
export interface PeerLiveness {
  /** An authentic message came from the peer gateway just now; `heartbeat`: it was a heartbeat. */
  heard(heartbeat: boolean): void;
}

/** What the pipelines count (src/admin/metrics.ts); labels are kinds, outcomes and grounds only. */
export interface Metrics {
  message(direction: 'out' | 'in', kind: string, outcome: string): void;
  receiptLatency(seconds: number): void;
  resent(): void;
  /**
   * A message is being published to the peer for the first time (+1), or that publish failed (-1): it
   * counts as in flight from before the publish, so its receipt can never be counted before it.
   */
  sending(change: 1 | -1): void;
  /** An Art. 9(4) refusal by this gateway's party; `facts` feed the dashboard's list of recent refusals. */
  refused(grounds: readonly string[], facts?: RefusalFacts): void;
}

/** Who refused which message: ids and kinds only, never the explanation. */
export interface RefusalFacts {
  messageId: string;
  decidedBy: 'rule' | 'hook' | 'person' | 'authority';
}

/** Art. 13: the peer's directory updates as received, and the one an operator approved. */
export interface DirectoryStore {
  /** Keep a received update until an operator approves it; idempotent. */
  putPending(update: PendingDirectoryUpdate): Promise<void>;
}

/** A `directory-update` received from the peer, waiting for `accord directory approve`. */
export interface PendingDirectoryUpdate {
  id: string;
  party: string;
  fromAuthority: string;
  receivedAt: string;
  authorities: { id: string; name: string; contact?: Record<string, string | undefined> }[];
  reason: string;
}
