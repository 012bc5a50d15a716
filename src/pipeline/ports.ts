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

/** One delivery from a queue, as the pipelines see it. */
export interface Incoming {
  content: Buffer;
  /** The broker delivered it before (a consumer died or requeued it). */
  redelivered: boolean;
  headers: Readonly<Record<string, unknown>>;
  /** AMQP `user_id`, which RabbitMQ has checked against the publishing connection's user. */
  userId?: string;
}

/** Publishes one message and resolves once the broker confirmed it. */
export interface Publisher {
  publish(queue: string, content: Buffer, props: PublishProps): Promise<void>;
}

/** What the sender remembers about a message it sealed. */
export interface SentRecord {
  jwe: string;
  jweSha256: string;
  from: string;
  idempotencyKey: string;
  kind: string;
  toParty: string;
  toAuthority: string;
  sealedAt: string;
  sentAt?: string;
  deliveredAt?: string;
  failedAt?: string;
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
  markSent(id: string, at: string): Promise<void>;
  /** Returns true only the first time (so `delivered` is reported once). */
  markDelivered(id: string, at: string): Promise<boolean>;
  /** Returns true only the first time (so `failed` is reported once). */
  markFailed(id: string, at: string): Promise<boolean>;
  getSeen(id: string): Promise<SeenRecord | null>;
  /** Atomically claim the delivery of `id` for one copy, or learn who holds it. */
  claim(id: string, rec: Omit<SeenRecord, 'state'>, ttlS: number): Promise<Claim>;
  /** The delivery of `id` committed. */
  markSeenDelivered(id: string): Promise<void>;
}

/** Reception awareness: a check, some time after sending, that the receipt came (BullMQ). */
export interface ReceiptTimer {
  /** Schedule the check for a sent message; idempotent per message id. */
  schedule(messageId: string): Promise<void>;
}

/** An obligation with a date (see schedule/deadlines.ts). */
export interface Deadline {
  kind: 'reply-due' | 'oral-confirmation-due';
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
}

/** The internal delivered-log queue, as far as the receiver needs to know it. */
export interface DeliveredLog {
  /** True when every line published so far has been applied to the claims (nothing left to read). */
  isSettled(): Promise<boolean>;
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
  /** Counters for the admin server's /metrics (issue 8). */
  metrics: Metrics;
  log: Logger;
  now: () => Date;
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
