/**
 * What the pipelines need from the outside world, as interfaces: the pipelines never import amqplib or
 * ioredis, so they can be read (and reasoned about) as the message flow of DESIGN §2 alone.
 */
import type { Logger } from 'pino';
import type { PublishProps } from '../transport/amqp.js';

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
}

/** What the receiver remembers about a message it delivered: enough to answer a duplicate. */
export interface SeenRecord {
  jweSha256: string;
  receiptJwe: string;
  deliveredAt: string;
}

/** Durable per-message state (Redis in production). */
export interface MessageState {
  /** Store a freshly sealed message unless one with this id exists; returns the stored record. */
  putSealed(id: string, rec: SentRecord, ttlS: number): Promise<SentRecord>;
  getSent(id: string): Promise<SentRecord | null>;
  markSent(id: string, at: string): Promise<void>;
  /** Returns true only the first time (so `delivered` is reported once). */
  markDelivered(id: string, at: string): Promise<boolean>;
  getSeen(id: string): Promise<SeenRecord | null>;
  putSeen(id: string, rec: SeenRecord, ttlS: number): Promise<void>;
}

/** Everything a pipeline stage gets from the composition root. */
export interface PipelineDeps {
  local: Publisher;
  peer: Publisher;
  state: MessageState;
  log: Logger;
  now: () => Date;
}
