/** What every pipeline stage shares: the config slice, queue names, keys and ports. */
import { randomUUID } from 'node:crypto';
import type { Config, Names } from '../config.js';
import type { KeyRing } from '../crypto/keyring.js';
import type { CryptoRunner } from '../crypto/pool.js';
import type { LoadedHook } from '../policy/hooks.js';
import type { CryptoProfile } from '../crypto/profile.js';
import type { StatusEvent } from '../domain/events.js';
import type { PipelineDeps, PublishProps, Tx } from './ports.js';
import type { Envelope } from '../domain/envelope.js';
import type { WireVersion } from '../domain/transfer.js';

export interface GatewayContext {
  readonly config: Config;
  readonly names: Names;
  readonly peerNames: Names;
  readonly keys: KeyRing;
  readonly profile: CryptoProfile;
  /** Seal and open, inline or on worker threads (`crypto.workers`). */
  readonly crypto: CryptoRunner;
  readonly deps: PipelineDeps;
  readonly ownAuthorities: ReadonlySet<string>;
  /** The peer's directory in force (Art. 13): the config's, or the last one an operator approved. */
  readonly peerAuthorities: ReadonlySet<string>;
  /** What the peer reads (wire version), and the transfers on their way to it (transfer-send.ts). */
  readonly wire: PeerWireState;
  /** Art. 9(4) plug-in hooks, loaded at start. */
  readonly hooks: readonly LoadedHook[];
}

/** A dead letter: what could not be processed, why, and nothing personal (DESIGN §3). */
export interface DeadLetter {
  /** The letter's own reference (a random UUID), set by {@link deadLetterMessage} when absent. */
  letterId?: string;
  at: string;
  source: 'outbox' | 'ingress';
  code: string;
  message: string;
  path?: string;
  messageId?: string;
  kid?: string;
  /** SHA-256 of the input as received, to find it in broker or client logs. */
  inputSha256: string;
  inputBytes: number;
  /** For ingress failures and undelivered messages: the sealed message itself (ciphertext), for replay. */
  jwe?: string;
}

const COMPACT_ALPHABET = /^[A-Za-z0-9_.-]*$/;

/**
 * A sealed message as text for a dead letter (`jwe`), when it can be one: only the compact JWE
 * alphabet (base64url and dots). Anything else cannot be republished, and as JSON text it could be
 * several times its size — more than the broker's `max_message_size` lets the dead letter be.
 */
export function replayableJwe(content: Buffer): string | undefined {
  const text = content.toString('latin1');
  return COMPACT_ALPHABET.test(text) ? text : undefined;
}

/** A message to one of this gateway's own queues, ready for a confirm publish or a transaction. */
export interface Outgoing {
  queue: string;
  content: Buffer;
  props: PublishProps;
}

/** A status event for the authority's events queue. */
export function eventMessage(ctx: GatewayContext, authority: string, event: StatusEvent): Outgoing {
  return {
    queue: ctx.names.events(authority),
    content: Buffer.from(JSON.stringify(event)),
    props: {
      contentType: 'application/json',
      type: `accord.event.${event.type}`,
      ...(event.messageId === undefined ? {} : { messageId: event.messageId }),
    },
  };
}

/** A record for `accord.dlq`, with its own reference (`letterId`). */
export function deadLetterMessage(ctx: GatewayContext, letter: DeadLetter): Outgoing {
  return deadLetterTo(ctx.names, letter);
}

/** A record for the `accord.dlq` of `names`; a letter without `letterId` gets a fresh one. */
export function deadLetterTo(names: Pick<Names, 'dlq'>, letter: DeadLetter): Outgoing {
  const withId = { letterId: letter.letterId ?? randomUUID(), ...letter };
  return {
    queue: names.dlq,
    content: Buffer.from(JSON.stringify(withId)),
    props: {
      contentType: 'application/json',
      type: `accord.dlq.${letter.code}`,
      ...(letter.messageId === undefined ? {} : { messageId: letter.messageId }),
      headers: { [LETTER_HEADER]: withId.letterId },
    },
  };
}

/** Header of a dead letter: its `letterId`, so a broker's management view shows it too. */
export const LETTER_HEADER = 'x-accord-letter';

/** Queue the messages and the ack of the delivery in one transaction, and commit it. */
export async function commitWith(tx: Tx, ...messages: Outgoing[]): Promise<void> {
  for (const m of messages) tx.publish(m.queue, m.content, m.props);
  tx.ack();
  await tx.commit();
}

/** Publish one message with a broker confirm (outside any transaction). */
export async function publishConfirmed(ctx: GatewayContext, m: Outgoing): Promise<void> {
  await ctx.deps.local.publish(m.queue, m.content, m.props);
}

/** A message sent in a transfer, or stored first by another attempt (then sent by that record). */
export type Sent = { sentAt: string } | { taken: true };

/** What the peer reads and the transfers on their way to it (implemented in transfer-send.ts). */
export interface PeerWireState {
  /** The wire version the peer reads, as last learnt. */
  readonly version: WireVersion;
  /** Whether a message goes in a transfer (never an urgent one). */
  batches(urgent: boolean): boolean;
  /** Send an envelope in the next transfer. */
  send(ctx: GatewayContext, envelope: Envelope, idempotencyKey: string): Promise<Sent>;
  /** Publish a heartbeat as a transfer and learn from it; false when the peer's broker returned it. */
  probe(ctx: GatewayContext, text: string, props: PublishProps): Promise<boolean>;
  /** Ask the peer again soon, while it is not known to read transfers. */
  nudge(): void;
  /** A transfer came back unroutable: the peer reads none now. */
  unroutable(): void;
}
